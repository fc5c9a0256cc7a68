"""Occurrence grids: each yields a job's fire instants (UTC, strictly increasing) from a time on.

A grid knows *where* occurrences fall; ``controller.core.recurrence.Schedule`` adds numbering,
``count`` and ``endTime``. Every grid starts from the period that contains the requested time,
found arithmetically, so the cost of a query does not grow with the distance from startTime.

- ``ElapsedGrid``: minute/hour recurrences without a schedule step in *elapsed* time from the
  anchor (every 30 minutes stays every 30 minutes across DST).
- ``AzureGrid``: day/week/month recurrences and every recurrence with a ``schedule``: periods of
  ``interval`` calendar units anchored at the anchor's unit, expanded on the wall clock of the
  job's zone (reference §2.3–§2.4).
- ``WallGrid``: cron (cronsim) and RFC 5545 RRULE text (dateutil): a factory gives the rule's
  wall times from a wall time on, re-based so that a query does not replay history.

Wall times become instants in ``zonetime.merge_walls`` (one DST policy for every grid).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from controller.core.model import DstPolicy, Frequency, MonthlyOccurrence, Recurrence, RecurrenceSchedule
from controller.core.zonetime import merge_walls, to_wall

MAX_EMPTY_PERIODS = 5000  # a schedule that matches nothing (e.g. day 31 every 12 months from April)
WEEK_START = 6  # Sunday, as .NET's DayOfWeek (the service was .NET); 0 = Monday


class ElapsedGrid:
    def __init__(self, anchor: datetime, step: timedelta, lower: datetime):
        self.anchor, self.step, self.lower = anchor, step, lower

    def instants_from(self, t: datetime) -> Iterator[datetime]:
        t = max(t, self.lower)
        k = max(0, -((self.anchor - t) // self.step))  # ceil((t - anchor) / step)
        while True:
            yield self.anchor + k * self.step
            k += 1


def _period_walls(periods: Iterable[list[datetime]]) -> Iterator[datetime]:
    """The wall times of consecutive periods, in order; stops after too many empty periods."""
    empty = 0
    for walls in periods:
        empty = 0 if walls else empty + 1
        if empty > MAX_EMPTY_PERIODS:
            return
        yield from sorted(set(walls))


class AzureGrid:
    """Azure recurrence with calendar periods (day, week, month; hour/minute with a schedule)."""

    def __init__(self, rec: Recurrence, anchor_wall: datetime, zone: ZoneInfo, dst: DstPolicy, lower: datetime):
        self.freq, self.n = rec.frequency, rec.interval
        self.sched = rec.schedule or RecurrenceSchedule()
        self.a, self.zone, self.dst, self.lower = anchor_wall, zone, dst, lower

    def instants_from(self, t: datetime) -> Iterator[datetime]:
        t = max(t, self.lower)
        # Start one day early: DST can put an earlier wall time at a later instant.
        k0 = max(0, self._units_until(to_wall(t, self.zone) - dst_margin(t, self.zone)) // self.n)
        periods = (self._period(k) for k in _count_from(k0))
        return (i for i in merge_walls(_period_walls(periods), self.zone, self.dst) if i >= t)

    def _units_until(self, w: datetime) -> int:
        a, f = self.a, self.freq
        if f is Frequency.MINUTE:
            return int(
                (w.replace(second=0, microsecond=0) - a.replace(second=0, microsecond=0)) // timedelta(minutes=1)
            )
        if f is Frequency.HOUR:
            return int(
                (w.replace(minute=0, second=0, microsecond=0) - a.replace(minute=0, second=0, microsecond=0))
                // timedelta(hours=1)
            )
        if f is Frequency.DAY:
            return (w.date() - a.date()).days
        if f is Frequency.WEEK:
            return (_week_start(w.date()) - _week_start(a.date())).days // 7
        return (w.year - a.year) * 12 + (w.month - a.month)

    def _period(self, k: int) -> list[datetime]:
        a, f, step = self.a, self.freq, k * self.n
        if f is Frequency.MINUTE:
            m = a.replace(second=0, microsecond=0) + timedelta(minutes=step)
            return [w for w in self._times_on(m.date()) if w.hour == m.hour and w.minute == m.minute]
        if f is Frequency.HOUR:
            h = a.replace(minute=0, second=0, microsecond=0) + timedelta(hours=step)
            return [w for w in self._times_on(h.date(), hour_frequency=True) if w.hour == h.hour]
        if f is Frequency.DAY:
            return self._times_on(a.date() + timedelta(days=step))
        if f is Frequency.WEEK:
            start = _week_start(a.date()) + timedelta(weeks=step)
            days = self.sched.week_days or (a.weekday(),)
            return [
                w
                for d in range(7)
                if (start + timedelta(days=d)).weekday() in days
                for w in self._times_on(start + timedelta(days=d))
            ]
        year, month = divmod(a.year * 12 + a.month - 1 + step, 12)
        return [w for d in self._month_days(year, month + 1) for w in self._times_on(d)]

    def _month_days(self, year: int, month: int) -> list[date]:
        s, length = self.sched, calendar.monthrange(year, month)[1]
        if not s.month_days and not s.monthly_occurrences:
            return [date(year, month, min(self.a.day, length))]  # clamp, as .NET AddMonths
        days = {d if d > 0 else length + 1 + d for d in s.month_days if abs(d) <= length}
        for occ in s.monthly_occurrences:
            days.update(_weekday_occurrences(year, month, occ))
        return [date(year, month, d) for d in sorted(days)]

    def _times_on(self, day: date, hour_frequency: bool = False) -> list[datetime]:
        s, a = self.sched, self.a
        hours = s.hours or (tuple(range(24)) if s.minutes or hour_frequency else (a.hour,))
        minutes = s.minutes or (a.minute,)
        second, micro = (0, 0) if s.minutes else (a.second, 0)
        return [datetime(day.year, day.month, day.day, h, m, second, micro) for h in hours for m in minutes]


def _weekday_occurrences(year: int, month: int, occ: MonthlyOccurrence) -> list[int]:
    length = calendar.monthrange(year, month)[1]
    matching = [d for d in range(1, length + 1) if date(year, month, d).weekday() == occ.day]
    if occ.occurrence is None:
        return matching
    i = occ.occurrence - 1 if occ.occurrence > 0 else occ.occurrence
    return [matching[i]] if -len(matching) <= i < len(matching) else []


def _week_start(d: date) -> date:
    return d - timedelta(days=(d.weekday() - WEEK_START) % 7)


def _count_from(k: int) -> Iterator[int]:
    while True:
        yield k
        k += 1


WallFactory = Callable[[datetime], Iterator[datetime]]


class WallGrid:
    """Wall-clock rules (cron, rrule): ``walls_from(w)`` yields the rule's wall times from about
    ``w`` on (exact for the rules it is used with), so queries do not replay history."""

    def __init__(self, walls_from: WallFactory, zone: ZoneInfo, dst: DstPolicy, lower: datetime):
        self.walls_from, self.zone, self.dst, self.lower = walls_from, zone, dst, lower

    def instants_from(self, t: datetime) -> Iterator[datetime]:
        t = max(t, self.lower)
        start_wall = to_wall(t, self.zone) - dst_margin(t, self.zone)
        return (i for i in merge_walls(self.walls_from(start_wall), self.zone, self.dst) if i >= t)


def dst_margin(t: datetime, zone: ZoneInfo) -> timedelta:
    """How far before ``t``'s wall time a rule must start so DST cannot hide an occurrence."""
    span = timedelta(hours=3)
    return span if (t - span).astimezone(zone).utcoffset() != (t + span).astimezone(zone).utcoffset() else timedelta(0)


def utc_now_floor(dt: datetime) -> datetime:
    """Whole seconds in UTC: occurrences and invocation ids are second-precision."""
    return dt.astimezone(UTC).replace(microsecond=0)
