"""Property tests: enumeration order, schedule conformance, after() consistency, distance cost."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core import grids
from controller.core.model import WEEKDAYS, Timing
from controller.core.recurrence import Schedule

ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata"]
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC, microsecond=0)
)


@st.composite
def azure_specs(draw: st.DrawFn) -> dict[str, Any]:
    freq = draw(st.sampled_from(["minute", "hour", "day", "week", "month"]))
    sched: dict[str, Any] = {}
    if freq in ("day", "week", "month") and draw(st.booleans()):
        if draw(st.booleans()):
            sched["hours"] = draw(st.lists(st.integers(0, 23), min_size=1, max_size=3, unique=True))
        if draw(st.booleans()):
            sched["minutes"] = draw(st.lists(st.integers(0, 59), min_size=1, max_size=3, unique=True))
        if freq == "week" and draw(st.booleans()):
            sched["weekDays"] = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True))
        if freq == "month" and draw(st.booleans()):
            sched["monthDays"] = draw(st.lists(st.integers(1, 28) | st.integers(-28, -1), min_size=1, max_size=3))
        if freq == "month" and draw(st.booleans()):
            sched["monthlyOccurrences"] = [
                {"day": draw(st.sampled_from(WEEKDAYS)), "occurrence": draw(st.sampled_from([1, 2, -1, -2]))}
            ]
    recurrence: dict[str, Any] = {"frequency": freq, "interval": draw(st.integers(1, 4))}
    if sched:
        recurrence["schedule"] = sched
    start = draw(instants)
    return {
        "startTime": start.strftime("%Y-%m-%dT%H:%M:%S"),
        "timeZone": draw(st.sampled_from(ZONES)),
        "recurrence": recurrence,
        "dst": {"overlap": draw(st.sampled_from(["first", "last", "both"]))},
    }


def conforms(o: datetime, spec: dict[str, Any]) -> bool:
    """Does an occurrence's wall time satisfy the schedule elements given?"""
    sched = spec["recurrence"].get("schedule", {})
    local = o.astimezone(Timing.from_dict(spec).zone)
    ok = True
    if "minutes" in sched:
        ok &= local.minute in sched["minutes"]
    if "hours" in sched:
        ok &= local.hour in sched["hours"] or not _exists_unshifted(o, spec)
    if "weekDays" in sched:
        ok &= WEEKDAYS[local.weekday()] in sched["weekDays"]
    return ok


def _exists_unshifted(o: datetime, spec: dict[str, Any]) -> bool:
    zone = Timing.from_dict(spec).zone
    return (o - timedelta(hours=1)).astimezone(zone).utcoffset() == o.astimezone(zone).utcoffset()


@settings(max_examples=150, deadline=None)
@given(spec=azure_specs(), now=instants)
def test_occurrences_increase_conform_and_chain(spec: dict[str, Any], now: datetime) -> None:
    schedule = Schedule(Timing.from_dict(spec), now)
    occ = schedule.upcoming(12)
    assert occ, "an unbounded recurrence always has a next occurrence"
    assert all(a.at < b.at for a, b in itertools.pairwise(occ))
    assert [o.number for o in occ] == list(range(1, len(occ) + 1))
    assert all(o.at >= now.replace(microsecond=0) for o in occ)
    assert all(conforms(o.at, spec) for o in occ)
    for a, b in itertools.pairwise(occ):
        assert schedule.after(a) == b
    probe = occ[3].at - timedelta(seconds=1)
    assert schedule.first_at_or_after(probe) == occ[3]


@settings(max_examples=60, deadline=None)
@given(
    cron=st.sampled_from(["*/7 * * * *", "0 9-17 * * MON-FRI", "30 2 1,15 * *", "0 0 13 * FRI", "@hourly"]),
    zone=st.sampled_from(ZONES),
    now=instants,
)
def test_cron_occurrences_increase_and_chain(cron: str, zone: str, now: datetime) -> None:
    schedule = Schedule(Timing.from_dict({"cron": cron, "timeZone": zone}), now)
    occ = schedule.upcoming(8)
    assert all(a.at < b.at for a, b in itertools.pairwise(occ))
    assert all(schedule.after(a) == b for a, b in itertools.pairwise(occ))


def test_ten_years_of_minutes_are_not_stepped_through(monkeypatch: Any) -> None:
    periods: list[int] = []
    original = grids.AzureGrid._period

    def counting(self: grids.AzureGrid, k: int) -> list[datetime]:
        periods.append(k)
        return original(self, k)

    monkeypatch.setattr(grids.AzureGrid, "_period", counting)
    now = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    elapsed = Schedule(
        Timing.from_dict({"startTime": "2016-01-01T00:00:00Z", "recurrence": {"frequency": "minute", "interval": 1}}),
        now,
    ).first()
    assert elapsed is not None and elapsed.at == datetime(2026, 1, 1, 12, 1, tzinfo=UTC)
    scheduled = Schedule(
        Timing.from_dict(
            {
                "startTime": "2016-01-01T00:00:00Z",
                "recurrence": {"frequency": "day", "schedule": {"minutes": [0, 30]}},
            }
        ),
        now,
    ).first()
    assert scheduled is not None and scheduled.at == datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    assert len(periods) <= 2, "the first occurrence is found from the period containing now"


def test_secondly_rrule_ten_years_back_is_rebased() -> None:
    now = datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC)
    occ = Schedule(
        Timing.from_dict({"startTime": "2016-01-01T00:00:00Z", "rrule": "FREQ=SECONDLY;INTERVAL=5"}), now
    ).upcoming(2)
    assert [o.at.second for o in occ] == [5, 10]
