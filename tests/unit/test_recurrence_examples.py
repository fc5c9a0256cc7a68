"""Reference §9 A–C and the 31 schedule examples of §2.6 (E1–E31), with literal datetimes.

Each row: the spec (as a manifest would give it), the creation instant ("now"), and the first
runs the reference expects. All times UTC. 2016-01-01 is a Friday.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from controller.core.model import Timing
from controller.core.recurrence import Schedule

MON_FRI = ["monday", "tuesday", "wednesday", "thursday", "friday"]
MWF = ["monday", "wednesday", "friday"]
JAN1 = "2016-01-01T00:00:00Z"
BEFORE = "2015-12-01T00:00:00"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def runs(spec: dict[str, Any], now: str, n: int) -> list[str]:
    occ = Schedule(Timing.from_dict(spec), t(now)).upcoming(n)
    return [o.at.strftime("%Y-%m-%dT%H:%M") for o in occ]


def rec(freq: str, start: str | None = JAN1, **kw: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"recurrence": {"frequency": freq, **kw}}
    if start:
        spec["startTime"] = start
    return spec


def day(schedule: dict[str, Any], start: str = JAN1) -> dict[str, Any]:
    return rec("day", start, schedule=schedule)


def week(schedule: dict[str, Any], start: str = JAN1) -> dict[str, Any]:
    return rec("week", start, schedule=schedule)


def month(schedule: dict[str, Any], start: str = JAN1) -> dict[str, Any]:
    return rec("month", start, schedule=schedule)


CASES: list[tuple[str, dict[str, Any], str, list[str]]] = [
    # A. startTime and simple recurrence
    (
        "A1",
        rec("day", "2015-04-07T14:00Z", interval=2),
        "2015-04-08T13:00",
        ["2015-04-09T14:00", "2015-04-11T14:00", "2015-04-13T14:00", "2015-04-15T14:00"],
    ),
    ("A2", rec("day", "2015-04-05T14:00Z", interval=2), "2015-04-08T13:00", ["2015-04-09T14:00"]),
    ("A3", rec("day", "2015-04-01T14:00Z", interval=2), "2015-04-08T13:00", ["2015-04-09T14:00"]),
    ("A5", {"startTime": "2030-01-01T08:00Z"}, "2029-06-01T00:00", ["2030-01-01T08:00"]),
    ("A6", {}, "2016-01-01T10:11:12", ["2016-01-01T10:11"]),
    ("A7", {"startTime": "2015-01-01T00:00Z"}, "2016-01-01T00:00", ["2016-01-01T00:00"]),
    (
        "A8",
        rec("hour", None, interval=1),
        "2016-01-01T12:25:00",
        ["2016-01-01T12:25", "2016-01-01T13:25", "2016-01-01T14:25"],
    ),
    (
        "A9",
        rec("minute", "2013-01-30T12:08:00-08:00", interval=30, count=10),
        "2013-01-01T00:00",
        [
            "2013-01-30T20:08",
            "2013-01-30T20:38",
            "2013-01-30T21:08",
            "2013-01-30T21:38",
            "2013-01-30T22:08",
            "2013-01-30T22:38",
            "2013-01-30T23:08",
            "2013-01-30T23:38",
            "2013-01-31T00:08",
            "2013-01-31T00:38",
        ],
    ),
    ("A10", {"startTime": "2013-01-09T09:30:00-08:00"}, "2013-01-01T00:00", ["2013-01-09T17:30"]),
    ("A11", {"startTime": "2016-05-01T10:00:00"}, "2016-01-01T00:00", ["2016-05-01T10:00"]),
    (
        "A12",
        rec("hour", "2016-01-01T01:30Z", interval=3),
        BEFORE,
        ["2016-01-01T01:30", "2016-01-01T04:30", "2016-01-01T07:30", "2016-01-01T10:30"],
    ),
    # B. schedules (E1–E31 and the rest of §9 B)
    ("E1", day({"hours": [5]}), BEFORE, ["2016-01-01T05:00", "2016-01-02T05:00", "2016-01-03T05:00"]),
    ("E2", day({"minutes": [15], "hours": [5]}), BEFORE, ["2016-01-01T05:15", "2016-01-02T05:15"]),
    (
        "E3",
        day({"minutes": [15], "hours": [5, 17]}),
        BEFORE,
        ["2016-01-01T05:15", "2016-01-01T17:15", "2016-01-02T05:15"],
    ),
    (
        "E4",
        day({"minutes": [15, 45], "hours": [5, 17]}),
        BEFORE,
        ["2016-01-01T05:15", "2016-01-01T05:45", "2016-01-01T17:15", "2016-01-01T17:45", "2016-01-02T05:15"],
    ),
    (
        "E5",
        day({"minutes": [0, 15, 30, 45]}),
        BEFORE,
        ["2016-01-01T00:00", "2016-01-01T00:15", "2016-01-01T00:30", "2016-01-01T00:45", "2016-01-01T01:00"],
    ),
    (
        "E6",
        day({"hours": list(range(24))}, "2016-01-01T12:25Z"),
        BEFORE,
        [f"2016-01-01T{h:02d}:25" for h in range(12, 24)] + ["2016-01-02T00:25", "2016-01-02T01:25"],
    ),
    (
        "E7",
        day({"minutes": [0]}, "2016-01-01T12:25Z"),
        BEFORE,
        ["2016-01-01T13:00", "2016-01-01T14:00", "2016-01-01T15:00"],
    ),
    (
        "E7w",
        week({"minutes": [0]}, "2016-01-01T12:25Z"),
        BEFORE,
        [f"2016-01-01T{h:02d}:00" for h in range(13, 24)] + ["2016-01-08T00:00", "2016-01-08T01:00"],
    ),
    ("E8", day({"minutes": [15]}), BEFORE, ["2016-01-01T00:15", "2016-01-01T01:15", "2016-01-01T02:15"]),
    (
        "E9",
        week({"hours": [17], "weekDays": ["saturday"]}),
        BEFORE,
        ["2016-01-02T17:00", "2016-01-09T17:00", "2016-01-16T17:00"],
    ),
    (
        "E10",
        week({"hours": [17], "weekDays": MWF}),
        BEFORE,
        ["2016-01-01T17:00", "2016-01-04T17:00", "2016-01-06T17:00", "2016-01-08T17:00"],
    ),
    (
        "E11",
        week({"minutes": [15, 45], "hours": [17], "weekDays": MWF}),
        BEFORE,
        ["2016-01-01T17:15", "2016-01-01T17:45", "2016-01-04T17:15", "2016-01-04T17:45"],
    ),
    (
        "E12",
        week({"hours": [5, 17], "weekDays": MWF}),
        BEFORE,
        ["2016-01-01T05:00", "2016-01-01T17:00", "2016-01-04T05:00", "2016-01-04T17:00"],
    ),
    (
        "E13",
        week({"minutes": [15, 45], "hours": [5, 17], "weekDays": MWF}),
        BEFORE,
        ["2016-01-01T05:15", "2016-01-01T05:45", "2016-01-01T17:15", "2016-01-01T17:45", "2016-01-04T05:15"],
    ),
    (
        "E14",
        week({"minutes": [0, 15, 30, 45], "weekDays": MON_FRI}, "2016-01-02T10:07Z"),
        BEFORE,
        ["2016-01-04T00:00", "2016-01-04T00:15", "2016-01-04T00:30"],
    ),
    (
        "E15",
        week(
            {"minutes": [0, 15, 30, 45], "hours": list(range(9, 17)), "weekDays": MON_FRI},
            "2016-01-01T16:50Z",
        ),
        BEFORE,
        [f"2016-01-04T{h:02d}:{m:02d}" for h in range(9, 17) for m in (0, 15, 30, 45)] + ["2016-01-05T09:00"],
    ),
    (
        "E16",
        week({"weekDays": ["sunday"]}, "2016-01-01T08:30Z"),
        BEFORE,
        ["2016-01-03T08:30", "2016-01-10T08:30"],
    ),
    (
        "E17",
        week({"weekDays": ["tuesday", "thursday"]}, "2016-01-01T08:30Z"),
        BEFORE,
        ["2016-01-05T08:30", "2016-01-07T08:30", "2016-01-12T08:30"],
    ),
    (
        "E18",
        month({"minutes": [0], "hours": [6], "monthDays": [28]}),
        BEFORE,
        ["2016-01-28T06:00", "2016-02-28T06:00", "2016-03-28T06:00"],
    ),
    (
        "E19",
        month({"minutes": [0], "hours": [6], "monthDays": [-1]}),
        BEFORE,
        ["2016-01-31T06:00", "2016-02-29T06:00", "2016-03-31T06:00", "2016-04-30T06:00"],
    ),
    (
        "E20",
        month({"minutes": [0], "hours": [6], "monthDays": [1, -1]}),
        BEFORE,
        ["2016-01-01T06:00", "2016-01-31T06:00", "2016-02-01T06:00", "2016-02-29T06:00"],
    ),
    (
        "E21",
        month({"monthDays": [1, -1]}, "2016-01-15T10:30Z"),
        BEFORE,
        ["2016-01-31T10:30", "2016-02-01T10:30", "2016-02-29T10:30", "2016-03-01T10:30"],
    ),
    (
        "E22",
        month({"monthDays": [1, 14]}, "2016-01-15T10:30Z"),
        BEFORE,
        ["2016-02-01T10:30", "2016-02-14T10:30", "2016-03-01T10:30"],
    ),
    ("E23", month({"monthDays": [2]}, "2016-01-15T10:30Z"), BEFORE, ["2016-02-02T10:30", "2016-03-02T10:30"]),
    (
        "E24",
        month({"minutes": [0], "hours": [5], "monthlyOccurrences": [{"day": "friday", "occurrence": 1}]}),
        BEFORE,
        ["2016-01-01T05:00", "2016-02-05T05:00", "2016-03-04T05:00"],
    ),
    (
        "E25",
        month({"monthlyOccurrences": [{"day": "friday", "occurrence": 1}]}, "2016-01-10T09:00Z"),
        BEFORE,
        ["2016-02-05T09:00", "2016-03-04T09:00", "2016-04-01T09:00"],
    ),
    (
        "E26",
        month({"monthlyOccurrences": [{"day": "friday", "occurrence": -3}]}, "2016-01-01T09:00Z"),
        BEFORE,
        ["2016-01-15T09:00", "2016-02-12T09:00", "2016-03-11T09:00"],
    ),
    (
        "E27",
        month(
            {
                "minutes": [15],
                "hours": [5],
                "monthlyOccurrences": [
                    {"day": "friday", "occurrence": 1},
                    {"day": "friday", "occurrence": -1},
                ],
            }
        ),
        BEFORE,
        ["2016-01-01T05:15", "2016-01-29T05:15", "2016-02-05T05:15", "2016-02-26T05:15"],
    ),
    (
        "E28",
        month(
            {"monthlyOccurrences": [{"day": "friday", "occurrence": 1}, {"day": "friday", "occurrence": -1}]},
            "2016-01-01T09:00Z",
        ),
        BEFORE,
        ["2016-01-01T09:00", "2016-01-29T09:00", "2016-02-05T09:00", "2016-02-26T09:00"],
    ),
    (
        "E29",
        month({"monthlyOccurrences": [{"day": "friday", "occurrence": 5}]}, "2016-01-01T09:00Z"),
        BEFORE,
        ["2016-01-29T09:00", "2016-04-29T09:00", "2016-07-29T09:00", "2016-09-30T09:00"],
    ),
    (
        "E30",
        month({"minutes": [0, 15, 30, 45], "monthlyOccurrences": [{"day": "friday", "occurrence": -1}]}),
        BEFORE,
        [f"2016-01-29T{h:02d}:{m:02d}" for h in range(24) for m in (0, 15, 30, 45)] + ["2016-02-26T00:00"],
    ),
    (
        "E31",
        month(
            {
                "minutes": [15, 45],
                "hours": [5, 17],
                "monthlyOccurrences": [{"day": "wednesday", "occurrence": 3}],
            }
        ),
        BEFORE,
        ["2016-01-20T05:15", "2016-01-20T05:45", "2016-01-20T17:15", "2016-01-20T17:45", "2016-02-17T05:15"],
    ),
    (
        "B45",
        month({"monthDays": [31]}, "2016-01-01T06:00Z"),
        BEFORE,
        ["2016-01-31T06:00", "2016-03-31T06:00", "2016-05-31T06:00", "2016-07-31T06:00", "2016-08-31T06:00"],
    ),
    (
        "B46",
        month({"monthlyOccurrences": [{"day": "sunday"}]}, "2016-01-01T09:00Z"),
        BEFORE,
        [
            "2016-01-03T09:00",
            "2016-01-10T09:00",
            "2016-01-17T09:00",
            "2016-01-24T09:00",
            "2016-01-31T09:00",
            "2016-02-07T09:00",
        ],
    ),
    # C. count / endTime / completion (the lists are complete: fewer runs = the job completes)
    (
        "C49",
        rec("day", "2016-01-04T09:00Z", count=5),
        BEFORE,
        ["2016-01-04T09:00", "2016-01-05T09:00", "2016-01-06T09:00", "2016-01-07T09:00", "2016-01-08T09:00"],
    ),
    (
        "C50",
        rec("day", "2016-01-04T09:00Z", count=7),
        BEFORE,
        [f"2016-01-{d:02d}T09:00" for d in range(4, 11)],
    ),
    (
        "C51",
        rec("day", "2016-01-01T09:00Z", count=3),
        "2016-01-10T12:00",
        ["2016-01-11T09:00", "2016-01-12T09:00", "2016-01-13T09:00"],
    ),
    (
        "C52",
        rec("day", "2016-01-04T09:00Z", count=10, endTime="2016-01-06T12:00Z"),
        BEFORE,
        ["2016-01-04T09:00", "2016-01-05T09:00", "2016-01-06T09:00"],
    ),
    (
        "C53",
        rec("day", "2016-01-04T09:00Z", count=2, endTime="2016-12-31"),
        BEFORE,
        ["2016-01-04T09:00", "2016-01-05T09:00"],
    ),
    (
        "C54",
        rec("minute", "2016-01-01T06:55:00Z", interval=1, endTime="2016-01-01T07:00:30Z"),
        BEFORE,
        [
            "2016-01-01T06:55",
            "2016-01-01T06:56",
            "2016-01-01T06:57",
            "2016-01-01T06:58",
            "2016-01-01T06:59",
            "2016-01-01T07:00",
        ],
    ),
]
COMPLETE = {"A5", "A6", "A7", "A9", "A10", "A11", "C49", "C50", "C51", "C52", "C53", "C54"}


@pytest.mark.parametrize(("case", "spec", "now", "expected"), CASES, ids=[c[0] for c in CASES])
def test_reference_case(case: str, spec: dict[str, Any], now: str, expected: list[str]) -> None:
    n = len(expected) + (3 if case in COMPLETE else 0)
    assert runs(spec, now, n) == expected


def test_month_without_schedule_clamps_from_the_original_start() -> None:
    assert runs(rec("month", "2016-01-31T10:00Z"), BEFORE, 4) == [
        "2016-01-31T10:00",
        "2016-02-29T10:00",
        "2016-03-31T10:00",
        "2016-04-30T10:00",
    ]


def test_interval_with_schedule_skips_whole_periods() -> None:
    # every 2 weeks on Mon/Wed; weeks start on Sunday; week 0 holds the start (Fri 2016-01-01)
    spec = rec("week", JAN1, interval=2, schedule={"weekDays": ["monday", "wednesday"], "hours": [9], "minutes": [0]})
    assert runs(spec, BEFORE, 4) == [
        "2016-01-11T09:00",
        "2016-01-13T09:00",
        "2016-01-25T09:00",
        "2016-01-27T09:00",
    ]


def test_no_start_with_schedule_runs_immediately_then_follows_the_schedule() -> None:
    assert runs(rec("day", None, schedule={"hours": [5], "minutes": [0]}), "2016-01-01T12:25", 3) == [
        "2016-01-01T12:25",
        "2016-01-02T05:00",
        "2016-01-03T05:00",
    ]


def test_numbers_count_from_creation() -> None:
    occ = Schedule(Timing.from_dict(rec("day", "2016-01-01T09:00Z")), t("2016-01-10T12:00")).upcoming(3)
    assert [o.number for o in occ] == [1, 2, 3]
