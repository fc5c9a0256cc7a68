"""RFC 5545 RRULE text on the job's wall clock, evaluated by python-dateutil, bounded. Pure.

Semantics are dateutil's from the job's DTSTART (startTime as written, else creation): a
query for "the walls from ``w`` on" must equal what dateutil yields after ``w`` iterating from
that DTSTART, whatever the engine does to avoid replaying history:

- **Re-basing.** dateutil's periods are calendar units (the second/minute/hour/day containing
  DTSTART, the WKST week, the month, the year); the first one is cut at DTSTART, which matters
  for BYSETPOS. A query re-bases to the *start* of the period containing ``w`` (a whole number
  of INTERVALs after DTSTART's) with every default dateutil took from DTSTART made explicit, so
  the first period of the re-based rule is a whole one, exactly as in the original iteration.
- **COUNT** counts from DTSTART and becomes the equivalent UNTIL (the COUNT-th occurrence):
  arithmetically when the rule's occurrences repeat with a fixed *super-period* (fixed-length
  FREQ, BY parts no coarser than time of day and weekday), else by iterating, at most
  ``MAX_ITERATED_COUNT`` occurrences. Results are memoized per rule text and DTSTART.
- **UNTIL** ending in ``Z`` is an instant, turned into the zone's wall time; without ``Z`` it
  is wall time (RFC 5545 "floating" with a local DTSTART).
- **Horizon.** No search looks further than ``SEARCH_YEARS`` ahead of where it starts, so a
  rule that never matches (BYMONTH=2;BYMONTHDAY=30) costs a bounded scan, not 8,000 years.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil import rrule as du

from controller.core.limits import MAX_ITERATED_COUNT, MAX_SUPER_PERIOD_OCCURRENCES, SEARCH_YEARS
from controller.core.zonetime import to_wall

STEP_SECONDS = {du.SECONDLY: 1, du.MINUTELY: 60, du.HOURLY: 3600, du.DAILY: 86400, du.WEEKLY: 7 * 86400}
FREQ_NAMES = {du.SECONDLY: "SECONDLY", du.MINUTELY: "MINUTELY", du.HOURLY: "HOURLY"}
UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z", re.IGNORECASE)
NEVER = datetime.min  # memo value: the rule has no occurrence at all
_COUNT_MEMO: OrderedDict[str, datetime | None] = OrderedDict()
MEMO_SIZE = 4096


class RRuleError(ValueError):
    """RRULE text that cannot be evaluated, or whose cost cannot be bounded; one line."""


def parse_rrule(text: str, dtstart: datetime, zone: ZoneInfo) -> du.rrule:
    """RRULE text (with or without ``RRULE:``) with DTSTART = ``dtstart`` (naive wall time)."""
    body = text.strip()
    body = body[6:] if body.upper().startswith("RRULE:") else body
    if any(p in body.upper() for p in ("DTSTART", "\n", "EXDATE", "RDATE")):
        raise RRuleError("rrule: give one RRULE line only; the start comes from spec.startTime")
    body = UNTIL_UTC.sub(lambda m: f"UNTIL={_utc_to_wall(m.group(1), zone)}", body)
    try:
        rule = du.rrulestr(body, dtstart=dtstart, cache=False, ignoretz=True)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as e:
        raise RRuleError(f"rrule: {e}") from e
    if not isinstance(rule, du.rrule):
        raise RRuleError("rrule: give one RRULE line only")
    return rule


def _utc_to_wall(value: str, zone: ZoneInfo) -> str:
    try:
        instant = datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return to_wall(instant, zone).strftime("%Y%m%dT%H%M%S")
    except (ValueError, OverflowError):
        return value + "Z"  # let dateutil report it


def walls_from(rule: du.rrule, wall: datetime) -> Iterator[datetime]:
    """The rule's wall times at or after ``wall``, searching at most ``SEARCH_YEARS`` ahead."""
    counted = uncounted(rule)
    if counted is None:
        return iter(())
    start = _rebased_start(counted, wall)
    return bounded(counted, start or counted._dtstart, _years_later(wall, SEARCH_YEARS), wall)


def first_wall(rule: du.rrule) -> datetime | None:
    return next(walls_from(rule, rule._dtstart), None)


def uncounted(rule: du.rrule) -> du.rrule | None:
    """The rule with COUNT replaced by the equivalent UNTIL; None if it has no occurrence."""
    if rule._count is None:
        return rule
    last = _last_counted(rule)
    if last is NEVER:
        return None
    until = last if rule._until is None or last is None else min(last, rule._until)
    return rule.replace(count=None, until=until)


def _last_counted(rule: du.rrule) -> datetime | None:
    """The COUNT-th occurrence (None: beyond the calendar), memoized per rule and DTSTART."""
    if rule._count < 1:
        return NEVER
    key = str(rule)
    if key in _COUNT_MEMO:
        _COUNT_MEMO.move_to_end(key)
        return _COUNT_MEMO[key]
    last = _arithmetic_last(rule)
    if last is False:
        last = _iterated_last(rule)
    _COUNT_MEMO[key] = last  # type: ignore[assignment]
    if len(_COUNT_MEMO) > MEMO_SIZE:
        _COUNT_MEMO.popitem(last=False)
    return last  # type: ignore[return-value]


def _super_period(rule: du.rrule) -> int | None:
    """Seconds after which the rule's occurrences repeat, shifted; None if not fixed."""
    step = STEP_SECONDS.get(rule._freq)
    coarse = (rule._bymonth, rule._bymonthday, rule._bynmonthday, rule._byyearday, rule._byweekno)
    if step is None or any(coarse) or rule._byeaster or rule._bynweekday:
        return None
    f = rule._freq
    unit = 1
    if f == du.SECONDLY and rule._bysecond is not None:
        unit = 60
    if f >= du.MINUTELY and rule._byminute is not None:
        unit = 3600
    if f >= du.HOURLY and rule._byhour is not None:
        unit = 86400
    if f == du.WEEKLY or (f >= du.DAILY and rule._byweekday is not None):
        unit = 7 * 86400
    return math.lcm(step * rule._interval, unit)


def _arithmetic_last(rule: du.rrule) -> datetime | bool | None:
    """COUNT-th occurrence from one or two super-periods; False when that does not apply."""
    size = _super_period(rule)
    if size is None:
        return False
    period = timedelta(seconds=size)
    start = period_start(rule, 0)
    head = _between(rule, rule._dtstart, start + period)
    body = _between(rule, start + period, start + 2 * period)
    if head is None or body is None:
        return False  # too many per super-period: iterate instead (if COUNT allows)
    if rule._count <= len(head):
        return head[rule._count - 1]
    if not body:
        return head[-1] if head else NEVER
    q, r = divmod(rule._count - len(head) - 1, len(body))
    try:
        return body[r] + q * period
    except OverflowError:
        return None


def _between(rule: du.rrule, a: datetime, b: datetime) -> list[datetime] | None:
    """Occurrences in [a, b); None if more than ``MAX_SUPER_PERIOD_OCCURRENCES``."""
    found: list[datetime] = []
    for wall in bounded(rule, rule._dtstart, b, a):
        if wall >= b:
            break
        found.append(wall)
        if len(found) > MAX_SUPER_PERIOD_OCCURRENCES:
            return None
    return found


def _iterated_last(rule: du.rrule) -> datetime | None:
    if rule._count > MAX_ITERATED_COUNT:
        raise RRuleError(
            f"rrule: COUNT={rule._count} cannot be evaluated quickly for this rule (at most {MAX_ITERATED_COUNT} "
            "for MONTHLY/YEARLY rules and rules with BYMONTH, BYMONTHDAY, BYYEARDAY, BYWEEKNO or numbered BYDAY); "
            "use UNTIL instead"
        )
    last, found, wall = NEVER, 0, rule._dtstart
    while found < rule._count:  # windows of SEARCH_YEARS: a longer gap ends the rule, as in walls_from
        start = _rebased_start(rule, wall) or rule._dtstart
        chunk = list(
            itertools.islice(bounded(rule, start, _years_later(wall, SEARCH_YEARS), wall), rule._count - found)
        )
        if not chunk:
            break
        found, last = found + len(chunk), chunk[-1]
        wall = last + timedelta(seconds=1)
    return last


def period_start(rule: du.rrule, k: int) -> datetime:
    """Wall start of the rule's k-th period (0 = the one containing DTSTART)."""
    d, f, n = rule._dtstart, rule._freq, rule._interval
    if f == du.YEARLY:
        return datetime(d.year + k * n, 1, 1)
    if f == du.MONTHLY:
        y, m = divmod(d.year * 12 + d.month - 1 + k * n, 12)
        return datetime(y, m + 1, 1)
    midnight = datetime(d.year, d.month, d.day)
    base = {
        du.SECONDLY: d,
        du.MINUTELY: d.replace(second=0),
        du.HOURLY: d.replace(minute=0, second=0),
        du.DAILY: midnight,
        du.WEEKLY: midnight - timedelta(days=(d.weekday() - rule._wkst) % 7),
    }[f]
    return base + timedelta(seconds=k * n * STEP_SECONDS[f])


def _periods_before(rule: du.rrule, wall: datetime) -> int:
    d, f, n = rule._dtstart, rule._freq, rule._interval
    if f == du.YEARLY:
        return (wall.year - d.year) // n
    if f == du.MONTHLY:
        return ((wall.year - d.year) * 12 + wall.month - d.month) // n
    return int((wall - period_start(rule, 0)).total_seconds()) // (n * STEP_SECONDS[f])


def _rebased_start(rule: du.rrule, wall: datetime) -> datetime | None:
    """Start of the rule's period containing ``wall``, if that is a later period than DTSTART's."""
    k = _periods_before(rule, wall)
    if k < 1:
        return None
    try:
        return period_start(rule, k)
    except (OverflowError, ValueError):
        return None


class _Exhausted(Exception):
    """A bounded search used up its budget of calendar months without an occurrence."""


class _BoundedRule(du.rrule):
    """An rrule whose iteration stops after ``_months`` month changes, matched or not.

    dateutil checks UNTIL only against candidates, so a rule that matches nothing (or
    rarely) scans day by day to year 9999. Its iterator reads ``_byeaster`` once per month
    it rebuilds (``_iterinfo.rebuild``), which is where the budget is spent;
    ``tests/unit/test_schedule_edges.py`` pins that this still bounds the scan.
    """

    _months = 10**9
    _spent = 0

    @property
    def _byeaster(self) -> tuple[int, ...] | None:
        self._spent += 1
        if self._spent > self._months:
            raise _Exhausted
        return self._easter

    @_byeaster.setter
    def _byeaster(self, value: tuple[int, ...] | None) -> None:
        self._easter = value

    def _iter(self) -> Iterator[datetime]:
        self._spent = 0
        return super()._iter()


def bounded(rule: du.rrule, dtstart: datetime, until: datetime, after: datetime | None = None) -> Iterator[datetime]:
    """``rule`` (its COUNT ignored) from ``dtstart``, with every DTSTART default explicit, up to
    ``until``, from ``after`` on; the scan stops at ``until`` even where nothing matches."""
    weekdays = [du.weekday(w) for w in rule._byweekday or ()] + [du.weekday(w, n) for w, n in rule._bynweekday or ()]
    monthdays = tuple(rule._bymonthday) + tuple(rule._bynmonthday)
    limit = until if rule._until is None else min(until, rule._until)
    built = _BoundedRule(
        rule._freq,
        dtstart=dtstart,
        interval=rule._interval,
        wkst=rule._wkst,
        until=limit,
        bysetpos=rule._bysetpos,
        bymonth=rule._bymonth,
        bymonthday=monthdays or None,
        byyearday=rule._byyearday,
        byeaster=rule._byeaster,
        byweekno=rule._byweekno,
        byweekday=weekdays or None,
        byhour=rule._byhour,
        byminute=rule._byminute,
        bysecond=rule._bysecond,
        cache=False,
    )
    built._months = (limit.year - dtstart.year) * 12 + limit.month - dtstart.month + 2
    return _guarded(built.xafter(after or dtstart, inc=True))


def _guarded(walls: Iterator[datetime]) -> Iterator[datetime]:
    try:
        yield from walls
    except _Exhausted:
        return


def _years_later(wall: datetime, years: int) -> datetime:
    try:
        return wall.replace(year=wall.year + years, day=min(wall.day, 28))
    except ValueError:
        return datetime.max.replace(microsecond=0)


def cost_problem(rule: du.rrule) -> str | None:
    """Why a rule cannot be evaluated within the engine's bounds (validate refuses it), or None.

    With FREQ=SECONDLY/MINUTELY, dateutil scans every day a date filter rejects with a search
    through the day's seconds/minutes, so a rare date (Feb 29) costs seconds per query; with
    sub-daily periods a BYSETPOS beyond the candidates of every period never matches, and is
    found only by scanning every second.
    """
    dated = rule._bymonth or rule._bymonthday or rule._bynmonthday or rule._byyearday or rule._byweekno
    if rule._freq in (du.SECONDLY, du.MINUTELY) and (dated or rule._byeaster):
        return (
            "rrule: FREQ=SECONDLY/MINUTELY with BYMONTH, BYMONTHDAY, BYYEARDAY, BYWEEKNO or BYEASTER cannot be "
            "evaluated quickly; use FREQ=DAILY with BYHOUR/BYMINUTE/BYSECOND (or FREQ=HOURLY)"
        )
    if rule._bysetpos and rule._freq > du.DAILY:
        per_period = {du.SECONDLY: 1, du.MINUTELY: len(rule._bysecond or (0,))}.get(
            rule._freq, len(rule._byminute or (0,)) * len(rule._bysecond or (0,))
        )
        if all(abs(p) > per_period for p in rule._bysetpos):
            return f"rrule: BYSETPOS never matches: each {FREQ_NAMES[rule._freq]} period has {per_period} candidate(s)"
    return None


def implicit_parts(rule: du.rrule, text: str) -> list[str]:
    """The time parts dateutil takes from DTSTART because the text does not give them."""
    upper = text.upper()
    parts = [
        ("BYHOUR", "hour", rule._freq < du.HOURLY),
        ("BYMINUTE", "minute", rule._freq < du.MINUTELY),
        ("BYSECOND", "second", rule._freq < du.SECONDLY),
    ]
    return [name for key, name, applies in parts if applies and f"{key}=" not in upper]
