"""Wall-clock time in a zone → UTC instants, under the job's DST policy. Pure.

Every schedule (Azure recurrence, cron, rrule) is evaluated on the *wall clock* of the job's
``timeZone`` and produces naive local datetimes; this module is the one place that turns them
into instants:

- a wall time that does not exist (spring-forward gap): ``shift`` runs at the instant the clock
  would show had it not jumped (02:30 → 03:30 new time; RFC 5545's "offset before the gap"),
  ``skip`` does not run;
- a wall time that happens twice (fall-back overlap): ``first`` (the earlier instant, RFC 5545),
  ``last`` (the later one) or ``both``.

``merge_walls`` turns a stream of increasing wall times into strictly increasing instants.
Wall order is not instant order around a DST change (the second 02:30 of a fall-back night
comes after the first 02:45; a shifted 02:30 comes after 03:10), so instants wait in a heap
until no later wall time can map before them.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from controller.core.model import DstGap, DstOverlap, DstPolicy


def _folds(wall: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants of ``wall`` read with fold=0 and fold=1 (PEP 495)."""
    local = wall.replace(tzinfo=zone)
    return local.replace(fold=0).astimezone(UTC), local.replace(fold=1).astimezone(UTC)


def _policy(first: datetime, second: datetime, dst: DstPolicy) -> list[datetime]:
    if first == second:
        return [first]
    if second < first:  # a gap: fold=0 uses the offset before it (RFC 5545 shift)
        return [] if dst.gap is DstGap.SKIP else [first]
    if dst.overlap is DstOverlap.FIRST:
        return [first]
    return [second] if dst.overlap is DstOverlap.LAST else [first, second]


def to_instants(wall: datetime, zone: ZoneInfo, dst: DstPolicy) -> list[datetime]:
    """UTC instants for one naive wall-clock time (0, 1 or 2 of them)."""
    return _policy(*_folds(wall, zone), dst)


def merge_walls(walls: Iterable[datetime], zone: ZoneInfo, dst: DstPolicy) -> Iterator[datetime]:
    """Instants of increasing wall times, strictly increasing (duplicates dropped).

    No wall time at or after ``w`` maps before min(fold0, fold1) of ``w``: in a gap that is
    the post-transition reading, in an overlap the first one. So everything pending up to that
    bound is final.
    """
    pending: list[datetime] = []
    last: datetime | None = None
    for wall in walls:
        first, second = _folds(wall, zone)
        for instant in _policy(first, second, dst):
            heapq.heappush(pending, instant)
        bound = min(first, second)
        while pending and pending[0] <= bound:
            instant = heapq.heappop(pending)
            if last is None or instant > last:
                last = instant
                yield instant
    while pending:
        instant = heapq.heappop(pending)
        if last is None or instant > last:
            last = instant
            yield instant


def to_wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall-clock time an aware instant shows in ``zone``."""
    return instant.astimezone(zone).replace(tzinfo=None)


def wall_anchor(written: datetime, zone: ZoneInfo) -> datetime:
    """The wall time a startTime names in ``zone``: as written when it has no offset.

    A startTime inside a spring-forward gap (02:30 on the night clocks jump 02:00 → 03:00)
    stays 02:30 as the schedule's anchor; only the occurrence that falls into a gap moves.
    """
    if isinstance(written.tzinfo, ZoneInfo) and written.tzinfo.key == zone.key:
        return written.replace(tzinfo=None, microsecond=0)
    return to_wall(written, zone).replace(microsecond=0)


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)
