"""Five-field cron text, parsed and evaluated by cronsim on the job's wall clock. Pure.

Dialect: cronsim's, which follows Debian's Vixie cron: ``minute hour day-of-month month
day-of-week``; ``*``, lists ``a,b``, ranges ``a-b``, steps ``*/n``, ``a/n`` and ``a-b/n``,
month names JAN–DEC, weekday names SUN–SAT, 0 and 7 both Sunday, plus cronsim's ``L``
(last day of the month), ``LW``, ``5L`` (last Friday) and ``MON#2`` (second Monday). cronplane
adds the macros @yearly @annually @monthly @weekly @daily @midnight @hourly and ``?`` as a
synonym of ``*`` (robfig/cron and Quartz spell it that way).

Day rule (Vixie): when the day-of-month or the day-of-week field *starts with* ``*``, a day
must match both; otherwise a day matching either fires. So ``0 0 */2 * MON`` runs on Mondays
that are odd days, and ``0 0 13 * FRI`` on every 13th and every Friday.

cronsim sees naive wall times only: the DST policy is the engine's (``zonetime``), not Debian
cron's. Seconds are always 0; a sixth (seconds) field is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from cronsim import CronSim, CronSimError
from cronsim.cronsim import Field

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELDS = (
    ("minute", Field.MINUTE, "0-59", ""),
    ("hour", Field.HOUR, "0-23", ""),
    ("day-of-month", Field.DAY, "1-31", ", L, LW"),
    ("month", Field.MONTH, "1-12", " or JAN-DEC"),
    ("day-of-week", Field.DOW, "0-7", " or SUN-SAT, 5L, MON#2"),
)
NUMBERS = re.compile(r"^\d+(-\d+)?(/\d+)?$")
REFERENCE = datetime(2000, 1, 1)


class CronError(ValueError):
    """Cron text that cannot be parsed; the message names the field."""


@dataclass(frozen=True)
class CronSpec:
    expression: str  # five fields, as cronsim reads them

    def walls_from(self, wall: datetime) -> Iterator[datetime]:
        """The rule's wall times at or after ``wall`` (naive local time), for up to 50 years."""
        it = CronSim(self.expression, wall.replace(microsecond=0) - timedelta(seconds=1))
        while True:
            try:
                yield next(it)
            except (StopIteration, OverflowError):  # cronsim gives up after 50 years without a match
                return


def _field_message(name: str, item: str, numbers: str, names: str) -> str:
    if item.endswith("/0"):
        return f"cron {name}: step must be at least 1 in {item!r}"
    if NUMBERS.match(item):
        return f"cron {name}: {item!r} is outside {numbers}" + (" or runs backwards" if "-" in item else "")
    return f"cron {name}: {item!r} is not valid (allowed: {numbers}{names}, *, lists, ranges, steps)"


def parse_cron(text: str) -> CronSpec:
    expr = MACROS.get(text.strip().lower(), text.strip())
    parts = [p.replace("?", "*") for p in expr.upper().split()]
    if len(parts) != 5:
        raise CronError(f"cron needs 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}")
    for part, (name, field, numbers, names) in zip(parts, FIELDS, strict=True):
        for item in part.split(","):
            try:
                field.parse(item)
            except (CronSimError, ValueError, IndexError, AssertionError) as e:
                raise CronError(_field_message(name, item, numbers, names)) from e
    spec = CronSpec(" ".join(parts))
    try:
        CronSim(spec.expression, REFERENCE)
    except CronSimError as e:  # every field parses alone: the day-of-month never occurs in those months
        raise CronError(f"cron day-of-month: {parts[2]!r} never occurs in month {parts[3]!r}, so it never runs") from e
    if next(spec.walls_from(REFERENCE), None) is None:
        raise CronError("cron: the expression never runs (no matching day in 50 years)")
    return spec
