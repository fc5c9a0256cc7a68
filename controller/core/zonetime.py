"""Wall-clock time in a zone → UTC instants, under the job's DST policy. Pure.

Every schedule (Azure recurrence, cron, rrule) is evaluated on the *wall clock* of the job's
``timeZone`` and produces naive local datetimes; this module is the one place that turns them
into instants:

- a wall time that does not exist (spring-forward gap): ``shift`` runs at the instant the clock
  would show had it not jumped (02:30 → 03:30 new time; RFC 5545's "offset before the gap"),
  ``skip`` does not run;
- a wall time that happens twice (fall-back overlap): ``first`` (the earlier instant, RFC 5545),
  ``last`` (the later one) or ``both``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from dateutil import tz as dtz

from controller.core.model import DstGap, DstOverlap, DstPolicy


def to_instants(wall: datetime, zone: ZoneInfo, dst: DstPolicy) -> list[datetime]:
    """UTC instants for one naive wall-clock time (0, 1 or 2 of them)."""
    local = wall.replace(tzinfo=zone, fold=0)
    if not dtz.datetime_exists(local):
        if dst.gap is DstGap.SKIP:
            return []
        return [local.astimezone(UTC)]  # fold=0 uses the offset before the gap
    if dtz.datetime_ambiguous(local):
        first, last = local.astimezone(UTC), local.replace(fold=1).astimezone(UTC)
        if dst.overlap is DstOverlap.FIRST:
            return [first]
        if dst.overlap is DstOverlap.LAST:
            return [last]
        return [first, last]
    return [local.astimezone(UTC)]


def to_wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall-clock time an aware instant shows in ``zone``."""
    return instant.astimezone(zone).replace(tzinfo=None)


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)
