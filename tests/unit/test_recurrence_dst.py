"""Wall-clock schedules across DST changes, per the dst policy, in several zones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from controller.core.model import Timing
from controller.core.recurrence import Schedule


def utc_runs(spec: dict[str, Any], now: str, n: int) -> list[str]:
    occ = Schedule(Timing.from_dict(spec), datetime.fromisoformat(now).replace(tzinfo=UTC)).upcoming(n)
    return [o.at.strftime("%m-%dT%H:%M") for o in occ]


def daily(zone: str, hour: int, minute: int, gap: str = "shift", overlap: str = "first") -> dict[str, Any]:
    return {
        "startTime": "2026-01-01T00:00:00",
        "timeZone": zone,
        "dst": {"gap": gap, "overlap": overlap},
        "recurrence": {"frequency": "day", "schedule": {"hours": [hour], "minutes": [minute]}},
    }


# US: 2026-03-08 02:00 EST → 03:00 EDT; 2026-11-01 02:00 EDT → 01:00 EST.
# EU: 2026-03-29 02:00 CET → 03:00 CEST; 2026-10-25 03:00 CEST → 02:00 CET.
GAPS = [
    ("America/New_York", "2026-03-07T00:00", 2, 30, "shift", ["03-07T07:30", "03-08T07:30", "03-09T06:30"]),
    ("America/New_York", "2026-03-07T00:00", 2, 30, "skip", ["03-07T07:30", "03-09T06:30", "03-10T06:30"]),
    ("Europe/Berlin", "2026-03-28T00:00", 2, 30, "shift", ["03-28T01:30", "03-29T01:30", "03-30T00:30"]),
    ("Europe/Berlin", "2026-03-28T00:00", 2, 30, "skip", ["03-28T01:30", "03-30T00:30", "03-31T00:30"]),
]
OVERLAPS = [
    ("America/New_York", "2026-10-31T00:00", 1, 30, "first", ["10-31T05:30", "11-01T05:30", "11-02T06:30"]),
    ("America/New_York", "2026-10-31T00:00", 1, 30, "last", ["10-31T05:30", "11-01T06:30", "11-02T06:30"]),
    (
        "America/New_York",
        "2026-10-31T00:00",
        1,
        30,
        "both",
        ["10-31T05:30", "11-01T05:30", "11-01T06:30", "11-02T06:30"],
    ),
    ("Europe/Berlin", "2026-10-24T00:00", 2, 30, "first", ["10-24T00:30", "10-25T00:30", "10-26T01:30"]),
    (
        "Europe/Berlin",
        "2026-10-24T00:00",
        2,
        30,
        "both",
        ["10-24T00:30", "10-25T00:30", "10-25T01:30", "10-26T01:30"],
    ),
]


@pytest.mark.parametrize(("zone", "now", "hour", "minute", "gap", "expected"), GAPS)
def test_spring_forward_gap(zone: str, now: str, hour: int, minute: int, gap: str, expected: list[str]) -> None:
    assert utc_runs(daily(zone, hour, minute, gap=gap), now, len(expected)) == expected


@pytest.mark.parametrize(("zone", "now", "hour", "minute", "overlap", "expected"), OVERLAPS)
def test_fall_back_overlap(zone: str, now: str, hour: int, minute: int, overlap: str, expected: list[str]) -> None:
    assert utc_runs(daily(zone, hour, minute, overlap=overlap), now, len(expected)) == expected


def test_wall_clock_is_kept_across_dst() -> None:
    # 09:30 New York: 14:30Z in winter, 13:30Z in summer
    assert utc_runs(daily("America/New_York", 9, 30), "2026-03-07T00:00", 2) == ["03-07T14:30", "03-08T13:30"]


def test_minute_frequency_steps_in_elapsed_time_across_dst() -> None:
    spec = {
        "startTime": "2026-03-08T01:00:00",
        "timeZone": "America/New_York",
        "recurrence": {"frequency": "minute", "interval": 30},
    }
    assert utc_runs(spec, "2026-03-01T00:00", 4) == [
        "03-08T06:00",
        "03-08T06:30",
        "03-08T07:00",
        "03-08T07:30",
    ]


def test_cron_in_a_zone_with_an_overlap_policy() -> None:
    spec = {"cron": "30 1 * * *", "timeZone": "America/New_York", "dst": {"overlap": "both"}}
    assert utc_runs(spec, "2026-10-31T12:00", 3) == ["11-01T05:30", "11-01T06:30", "11-02T06:30"]


def test_half_hour_dst_zone() -> None:
    # Lord Howe Island moves its clocks by 30 minutes (02:00 → 02:30 on 2026-10-04)
    spec = daily("Australia/Lord_Howe", 2, 15, gap="skip")
    assert utc_runs(spec, "2026-10-02T00:00", 2) == ["10-02T15:45", "10-04T15:15"]
