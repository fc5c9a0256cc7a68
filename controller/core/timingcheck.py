"""What ``validate`` says about a job's timing: errors (exit 1) and warnings. Pure.

Every check evaluates the job's own startTime (as written, in its ``timeZone``), never a fixed
date, and is bounded like every query of the engine. Findings are ``(path, message)`` with
paths from the document root, as ``controller.core.rules`` yields them.

- cron: the expression parses (cronsim's dialect) and matches some day;
- rrule: it parses, its COUNT can be evaluated within the engine's bounds, and it produces an
  occurrence after its DTSTART (startTime; without one, a reference date, since the creation
  time is not known yet);
- recurrence: a ``schedule`` with frequency ``minute`` (and ``hours`` with frequency ``hour``)
  is refused: Azure documented neither, and guessing changes when jobs run; and the recurrence
  must produce an occurrence at all (``monthDays: [31]`` every 12 months from April never does);
- warning: an rrule without startTime takes the hour/minute/second it does not name from the
  time of the apply, and moves at every timing edit.
"""

from __future__ import annotations

from datetime import UTC, datetime

from controller.core.model import Frequency, Timing
from controller.core.recurrence import RecurrenceError, Schedule, parse_rrule
from controller.core.rrules import RRuleError, cost_problem, first_wall, implicit_parts, uncounted
from controller.core.zonetime import to_wall, wall_anchor

Path = tuple[str | int, ...]
Finding = tuple[Path, str]
SPEC: Path = ("spec",)
REFERENCE = datetime(2000, 1, 1, tzinfo=UTC)  # creation stand-in for a job without startTime
UNDOCUMENTED = {
    Frequency.MINUTE: (
        "schedule",
        "a schedule is not supported with frequency minute: Azure documented schedules only for "
        "frequency hour (minutes) and day, week, month; use frequency day with hours and minutes, or cron",
    ),
    Frequency.HOUR: (
        "hours",
        "hours is not supported with frequency hour (Azure documented only minutes there); "
        "use frequency day with hours and minutes, or cron",
    ),
}


def timing_errors(timing: Timing) -> list[Finding]:
    if timing.cron:
        return _cron(timing)
    if timing.rrule:
        return _rrule(timing)
    if timing.recurrence is not None:
        return _recurrence(timing)
    return []


def timing_warnings(timing: Timing) -> list[Finding]:
    if not timing.rrule or timing.start_time is not None:
        return []
    try:
        rule = parse_rrule(timing.rrule, to_wall(REFERENCE, timing.zone), timing.zone)
    except RecurrenceError:
        return []
    missing = implicit_parts(rule, timing.rrule)
    if not missing:
        return []
    names = ", ".join(missing[:-1]) + (" and " if len(missing) > 1 else "") + missing[-1]
    verb = "come" if len(missing) > 1 else "comes"
    parts = "/".join("BY" + m.upper() for m in missing)
    message = (
        f"without startTime, the {names} of every run {verb} from the time of the apply and move at every "
        f"timing edit; give startTime or {parts}"
    )
    return [((*SPEC, "rrule"), message)]


def _cron(timing: Timing) -> list[Finding]:
    try:
        Schedule(timing, REFERENCE)
    except RecurrenceError as e:
        return [((*SPEC, "cron"), str(e).removeprefix("cron: "))]
    return []


def _rrule(timing: Timing) -> list[Finding]:
    assert timing.rrule is not None
    given = timing.start_time is not None
    dtstart = wall_anchor(timing.start_time, timing.zone) if timing.start_time else to_wall(REFERENCE, timing.zone)
    try:
        rule = parse_rrule(timing.rrule, dtstart, timing.zone)
        costly = cost_problem(rule)
        if costly:
            return [((*SPEC, "rrule"), costly.removeprefix("rrule: "))]
        counted = uncounted(rule)
        fires = counted is not None and first_wall(counted) is not None
    except (RecurrenceError, RRuleError) as e:
        return [((*SPEC, "rrule"), str(e).removeprefix("rrule: "))]
    if fires:
        return []
    since = f"its startTime {dtstart.isoformat()}" if given else f"{dtstart.date()} (no startTime given)"
    return [((*SPEC, "rrule"), f"the rule never produces an occurrence after {since}")]


def _recurrence(timing: Timing) -> list[Finding]:
    rec = timing.recurrence
    assert rec is not None
    refused = UNDOCUMENTED.get(rec.frequency)
    if refused and rec.schedule is not None:
        key, message = refused
        if key == "schedule" or rec.schedule.hours:
            return [((*SPEC, "recurrence", "schedule", *(() if key == "schedule" else (key,))), message)]
    created = timing.start_time or REFERENCE
    if Schedule(timing, created).first() is None and rec.end_time is None:
        return [((*SPEC, "recurrence", "schedule"), "the schedule never produces an occurrence after startTime")]
    return []
