"""Five-field cron text → a dateutil rule set (one engine evaluates cron, rrule and Azure). Pure.

Dialect (Vixie cron, as Kubernetes and Cloud Scheduler accept it): ``minute hour day-of-month
month day-of-week``; ``*``, lists ``a,b``, ranges ``a-b``, steps ``*/n`` and ``a-b/n``, month
names JAN–DEC, weekday names SUN–SAT, 0 and 7 both Sunday, and the macros @yearly @annually
@monthly @weekly @daily @midnight @hourly. When both day-of-month and day-of-week are restricted
a day matching *either* fires (the classic cron rule). Seconds are always 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dateutil import rrule as du

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
FIELDS = (
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day-of-month", 1, 31, None),
    ("month", 1, 12, MONTHS),
    ("day-of-week", 0, 7, DAYS),
)


class CronError(ValueError):
    """Cron text that cannot be parsed; the message names the field."""


@dataclass(frozen=True)
class CronSpec:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    month_days: tuple[int, ...] | None  # None = unrestricted ('*')
    months: tuple[int, ...]
    week_days: tuple[int, ...] | None  # dateutil weekdays, 0 = Monday; None = unrestricted


def parse_cron(text: str) -> CronSpec:
    expr = MACROS.get(text.strip().lower(), text)
    parts = expr.split()
    if len(parts) != 5:
        raise CronError(f"cron needs 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}")
    values = [_parse_field(p, *f) for p, f in zip(parts, FIELDS, strict=True)]
    dow = None if parts[4] in ("*", "?") else tuple(sorted({(d - 1) % 7 for d in values[4]}))
    dom = None if parts[2] in ("*", "?") else values[2]
    return CronSpec(values[0], values[1], dom, values[3], dow)


def _parse_field(text: str, name: str, lo: int, hi: int, names: list[str] | None) -> tuple[int, ...]:
    out: set[int] = set()
    for item in text.split(","):
        body, _, step_text = item.partition("/")
        step = _number(step_text, name, names, 1) if step_text else 1
        if step < 1:
            raise CronError(f"cron {name}: step must be at least 1 in {item!r}")
        if body in ("*", "?"):
            start, end = lo, hi
        elif "-" in body:
            a, b = body.split("-", 1)
            start, end = _number(a, name, names, lo), _number(b, name, names, lo)
        else:
            start = _number(body, name, names, lo)
            end = hi if step_text else start
        if not (lo <= start <= hi and lo <= end <= hi) or start > end:
            raise CronError(f"cron {name}: {item!r} is outside {lo}-{hi}")
        out.update(range(start, end + 1, step))
    return tuple(sorted(out))


def _number(text: str, name: str, names: list[str] | None, base: int) -> int:
    t = text.strip().lower()
    if names and t in names:
        return names.index(t) + (1 if name == "month" else 0)
    if not t.isdigit():
        raise CronError(f"cron {name}: {text!r} is not a number{' or name' if names else ''}")
    return int(t)


def cron_rule(spec: CronSpec, dtstart: datetime) -> du.rruleset:
    """The wall-clock rule set for ``spec``, iterating from ``dtstart`` (naive local time)."""
    common = dict(
        dtstart=dtstart.replace(second=0, microsecond=0),
        byhour=spec.hours,
        byminute=spec.minutes,
        bysecond=0,
        bymonth=spec.months,
        cache=False,
    )
    rules = du.rruleset()
    if spec.month_days is not None and spec.week_days is not None:
        rules.rrule(du.rrule(du.DAILY, bymonthday=spec.month_days, **common))
        rules.rrule(du.rrule(du.DAILY, byweekday=spec.week_days, **common))
    else:
        rules.rrule(du.rrule(du.DAILY, bymonthday=spec.month_days, byweekday=spec.week_days, **common))
    return rules
