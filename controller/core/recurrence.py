"""The recurrence engine: a job's occurrences, numbered, with count and endTime. Pure.

One engine serves ``cronplane next``, ``plan`` (fire-time diffs), quota checks and the live
dispatch loop, so what a review shows is what runs. ``Schedule(timing, created_at)`` is the
schedule of a job created (or re-timed) at ``created_at``; Azure's rules (reference §2):

- startTime absent → the first run is at ``created_at`` ("run immediately"); later runs follow
  the recurrence anchored at ``created_at``. A one-time job runs once at max(startTime, created).
- startTime in the past → the grid stays anchored at startTime; occurrences before
  ``created_at`` are discarded, never run retroactively, and do not use up ``count``.
- ``count`` counts runs from creation; ``endTime`` is inclusive; whichever comes first ends it.
- Occurrences are whole seconds (the anchor's sub-second part is dropped).

Grids (``controller.core.grids``) find the period that contains a time arithmetically, so the
cost of ``first()`` does not grow with the distance from startTime; cron and RRULE queries
re-base the same way (``controller.core.rrules``), COUNT included.

The anchor is the startTime *as written* on the zone's wall clock (a 02:30 inside a DST gap
stays 02:30); only the occurrences that fall into a gap move, per ``dst.gap``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from dateutil import rrule as du

from controller.core.cron import CronError, CronSpec, parse_cron
from controller.core.grids import AzureGrid, ElapsedGrid, WallGrid, utc_now_floor
from controller.core.model import Frequency, Timing
from controller.core.rrules import RRuleError, walls_from
from controller.core.rrules import parse_rrule as _parse_rrule
from controller.core.zonetime import to_instants, to_wall, wall_anchor


class RecurrenceError(ValueError):
    """Cron or RRULE text the engine cannot evaluate; one line a person can act on."""


@dataclass(frozen=True, order=True)
class Occurrence:
    at: datetime  # aware, UTC
    number: int  # 1-based, counted from the schedule's creation (Azure repeatCount)

    @property
    def epoch(self) -> int:
        return int(self.at.timestamp())


class Grid(Protocol):
    def instants_from(self, t: datetime) -> itertools.chain[datetime] | object: ...


class Schedule:
    def __init__(self, timing: Timing, created_at: datetime):
        self.timing = timing
        self.created = utc_now_floor(created_at)
        start = utc_now_floor(timing.start_time) if timing.start_time else None
        self.start = start
        self.lower = max(start, self.created) if start else self.created
        rec = timing.recurrence
        self.count = rec.count if rec else None
        self.end = rec.end_time.astimezone(UTC) if rec and rec.end_time else None
        self.grid = self._grid()

    # -- public ------------------------------------------------------------------------------
    def first(self) -> Occurrence | None:
        if self.timing.is_one_time:
            return self._checked(self.lower, 1)
        if self.start is None and self.timing.recurrence is not None:
            return self._checked(self.created, 1)  # Azure: no startTime → run immediately
        return self._checked(self._next_instant(self.lower, inclusive=True), 1)

    def after(self, prev: Occurrence) -> Occurrence | None:
        if self.timing.is_one_time:
            return None
        return self._checked(self._next_instant(prev.at, inclusive=False), prev.number + 1)

    def upcoming(self, n: int, after: Occurrence | None = None) -> list[Occurrence]:
        out: list[Occurrence] = []
        occ = self.first() if after is None else self.after(after)
        while occ is not None and len(out) < n:
            out.append(occ)
            occ = self.after(occ)
        return out

    def first_at_or_after(self, t: datetime, prev: Occurrence | None = None) -> Occurrence | None:
        """The first occurrence at or after ``t``, numbered by counting from ``prev``/``first()``."""
        occ = prev if prev is not None else self.first()
        while occ is not None and occ.at < t:
            occ = self.after(occ)
        return occ

    # -- internals ---------------------------------------------------------------------------
    def _checked(self, at: datetime | None, number: int) -> Occurrence | None:
        if at is None or (self.count is not None and number > self.count):
            return None
        if self.end is not None and at > self.end:
            return None
        return Occurrence(at, number)

    def _next_instant(self, t: datetime, inclusive: bool) -> datetime | None:
        if self.grid is None:
            return None
        probe = t if inclusive else t + timedelta(seconds=1)
        return next(iter(self.grid.instants_from(probe)), None)  # type: ignore[attr-defined]

    def _grid(self) -> object | None:
        tm, zone = self.timing, self.timing.zone
        anchor = self.start or self.created
        anchor_wall = wall_anchor(tm.start_time, zone) if tm.start_time else to_wall(self.created, zone)
        if tm.cron:
            spec = _parse_cron(tm.cron)
            return WallGrid(spec.walls_from, zone, tm.dst, self.lower)
        if tm.rrule:
            rule = parse_rrule(tm.rrule, anchor_wall, zone)
            return WallGrid(lambda w: walls_from(rule, w), zone, tm.dst, self.lower)
        rec = tm.recurrence
        if rec is None:
            return None
        if rec.schedule is None and rec.frequency in (Frequency.MINUTE, Frequency.HOUR):
            unit = timedelta(minutes=1) if rec.frequency is Frequency.MINUTE else timedelta(hours=1)
            return ElapsedGrid(anchor, unit * rec.interval, self.lower)
        return AzureGrid(rec, anchor_wall, zone, tm.dst, self.lower)


def _parse_cron(text: str) -> CronSpec:
    try:
        return parse_cron(text)
    except CronError as e:
        raise RecurrenceError(str(e)) from e


def parse_rrule(text: str, dtstart: datetime, zone: ZoneInfo | None = None) -> du.rrule:
    """RRULE text with DTSTART = ``dtstart`` (naive wall time in ``zone``, UTC by default)."""
    try:
        return _parse_rrule(text, dtstart, zone or ZoneInfo("UTC"))
    except RRuleError as e:
        raise RecurrenceError(str(e)) from e


def shortest_gap(timing: Timing, now: datetime, samples: int = 50) -> timedelta | None:
    """Smallest gap between consecutive occurrences over the next ``samples`` (quota checks)."""
    occ = Schedule(timing, now).upcoming(samples)
    gaps = [b.at - a.at for a, b in itertools.pairwise(occ)]
    return min(gaps) if gaps else None


__all__ = [
    "Occurrence",
    "RecurrenceError",
    "Schedule",
    "parse_rrule",
    "shortest_gap",
    "to_instants",
]
