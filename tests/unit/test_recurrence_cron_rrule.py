"""cron and RRULE: parsing, the day-of-month/day-of-week OR rule, errors, rrule COUNT."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from controller.core.model import Timing
from controller.core.recurrence import Schedule, shortest_gap
from controller.core.timingcheck import timing_errors

NOW = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)  # a Thursday


def runs(spec: dict[str, Any], n: int = 4) -> list[str]:
    return [o.at.strftime("%Y-%m-%dT%H:%M:%S") for o in Schedule(Timing.from_dict(spec), NOW).upcoming(n)]


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("*/20 * * * *", ["2026-01-01T00:00:00", "2026-01-01T00:20:00", "2026-01-01T00:40:00"]),
        ("0 9 * * MON-FRI", ["2026-01-01T09:00:00", "2026-01-02T09:00:00", "2026-01-05T09:00:00"]),
        ("0 0 1 JAN,jul *", ["2026-01-01T00:00:00", "2026-07-01T00:00:00", "2027-01-01T00:00:00"]),
        (
            "0 12 13 * 5",
            ["2026-01-02T12:00:00", "2026-01-09T12:00:00", "2026-01-13T12:00:00"],
        ),  # 13th OR Friday
        ("0 0 * * 7", ["2026-01-04T00:00:00", "2026-01-11T00:00:00", "2026-01-18T00:00:00"]),  # 7 = Sunday
        ("@daily", ["2026-01-01T00:00:00", "2026-01-02T00:00:00", "2026-01-03T00:00:00"]),
        ("5-10/5 3 * * *", ["2026-01-01T03:05:00", "2026-01-01T03:10:00", "2026-01-02T03:05:00"]),
    ],
)
def test_cron(cron: str, expected: list[str]) -> None:
    assert runs({"cron": cron}, len(expected)) == expected


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("* * * *", "5 fields"),
        ("60 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* * 0 * *", "day-of-month"),
        ("* * * FOO *", "month"),
        ("*/0 * * * *", "step"),
    ],
)
def test_bad_cron(cron: str, message: str) -> None:
    [(path, text)] = timing_errors(Timing.from_dict({"cron": cron}))
    assert path == ("spec", "cron") and message in text


def test_rrule_secondly_and_start() -> None:
    spec = {"rrule": "FREQ=SECONDLY;INTERVAL=5", "startTime": "2026-01-01T00:00:02Z"}
    assert runs(spec, 3) == ["2026-01-01T00:00:02", "2026-01-01T00:00:07", "2026-01-01T00:00:12"]


def test_rrule_count_counts_from_dtstart() -> None:
    spec = {"rrule": "RRULE:FREQ=DAILY;COUNT=3;BYHOUR=6;BYMINUTE=0", "startTime": "2025-12-31T00:00:00Z"}
    assert runs(spec, 5) == ["2026-01-01T06:00:00", "2026-01-02T06:00:00"]


def test_rrule_in_a_zone() -> None:
    spec = {"rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0", "timeZone": "Asia/Tokyo"}
    assert runs(spec, 2) == ["2026-01-05T00:00:00", "2026-01-12T00:00:00"]


@pytest.mark.parametrize(
    "text",
    ["FREQ=FORTNIGHTLY", "DTSTART:20200101T000000\nRRULE:FREQ=DAILY", "nonsense", "FREQ=DAILY;COUNT=0"],
)
def test_bad_rrule(text: str) -> None:
    [(path, _)] = timing_errors(Timing.from_dict({"rrule": text}))
    assert path == ("spec", "rrule")


def test_shortest_gap() -> None:
    timing = Timing.from_dict({"recurrence": {"frequency": "day", "schedule": {"minutes": [0, 15, 30, 45]}}})
    assert shortest_gap(timing, NOW) is not None and shortest_gap(timing, NOW).total_seconds() == 900  # type: ignore[union-attr]
    assert shortest_gap(Timing.from_dict({}), NOW) is None
