"""Schedule engine edge cases, one table per defect class (issue 9), literal datetimes.

Zones: Europe/Berlin (2027-03-28 02:00 → 03:00, 2026-10-25 03:00 → 02:00), America/New_York
(2027-03-14 02:00 → 03:00, 2026-11-01 02:00 → 01:00), Australia/Lord_Howe (half-hour shifts:
2026-10-04 02:00 → 02:30, 2026-04-05 02:00 → 01:30).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dateutil import rrule as du

from controller.cli import main
from controller.core.model import Timing
from controller.core.recurrence import Schedule
from controller.core.timingcheck import timing_errors, timing_warnings


def local_runs(spec: dict[str, Any], now: str, n: int) -> list[str]:
    timing = Timing.from_dict(spec)
    occ = Schedule(timing, datetime.fromisoformat(now).replace(tzinfo=UTC)).upcoming(n)
    return [o.at.astimezone(timing.zone).strftime("%Y-%m-%dT%H:%M%z") for o in occ]


def errors(spec: dict[str, Any]) -> list[str]:
    return [message for _, message in timing_errors(Timing.from_dict(spec))]


# -- 1. a startTime inside a DST gap: the written wall time stays the anchor ---------------------
GAP_ANCHOR = [
    (
        {"startTime": "2027-03-28T02:30:00", "timeZone": "Europe/Berlin", "recurrence": {"frequency": "day"}},
        ["2027-03-28T03:30+0200", "2027-03-29T02:30+0200", "2027-03-30T02:30+0200"],
    ),
    (
        {"startTime": "2027-03-28T02:30:00", "timeZone": "Europe/Berlin", "rrule": "FREQ=DAILY"},
        ["2027-03-28T03:30+0200", "2027-03-29T02:30+0200", "2027-03-30T02:30+0200"],
    ),
    (
        {"startTime": "2027-03-28T02:30:00", "timeZone": "Europe/Berlin", "recurrence": {"frequency": "week"}},
        ["2027-03-28T03:30+0200", "2027-04-04T02:30+0200", "2027-04-11T02:30+0200"],
    ),
    (
        {"startTime": "2027-03-28T02:30:00", "timeZone": "Europe/Berlin", "recurrence": {"frequency": "month"}},
        ["2027-03-28T03:30+0200", "2027-04-28T02:30+0200", "2027-05-28T02:30+0200"],
    ),
    (
        {"startTime": "2027-03-14T02:15:00", "timeZone": "America/New_York", "recurrence": {"frequency": "day"}},
        ["2027-03-14T03:15-0400", "2027-03-15T02:15-0400", "2027-03-16T02:15-0400"],
    ),
    (  # Lord Howe moves 30 minutes: 02:15 does not exist on 2026-10-04
        {"startTime": "2026-10-04T02:15:00", "timeZone": "Australia/Lord_Howe", "rrule": "FREQ=DAILY"},
        ["2026-10-04T02:45+1100", "2026-10-05T02:15+1100", "2026-10-06T02:15+1100"],
    ),
    (
        {
            "startTime": "2027-03-28T02:30:00",
            "timeZone": "Europe/Berlin",
            "dst": {"gap": "skip"},
            "recurrence": {"frequency": "day"},
        },
        ["2027-03-29T02:30+0200", "2027-03-30T02:30+0200"],
    ),
]


@pytest.mark.parametrize(("spec", "expected"), GAP_ANCHOR)
def test_gap_start_keeps_the_written_wall_time(spec: dict[str, Any], expected: list[str]) -> None:
    assert local_runs(spec, "2026-06-01T00:00", len(expected)) == expected


# -- 2. fall back with overlap both: every instant of a repeated wall time ----------------------
BOTH = {"overlap": "both"}
BERLIN_FALL = [
    "2026-10-25T02:00+0200",
    "2026-10-25T02:30+0200",
    "2026-10-25T02:00+0100",
    "2026-10-25T02:30+0100",
    "2026-10-25T03:00+0100",
]
FALL_BACK = [
    ({"cron": "*/30 * * * *", "timeZone": "Europe/Berlin", "dst": BOTH}, "2026-10-24T23:45", BERLIN_FALL),
    (
        {
            "rrule": "FREQ=MINUTELY;INTERVAL=30",
            "startTime": "2026-10-24T00:00:00",
            "timeZone": "Europe/Berlin",
            "dst": BOTH,
        },
        "2026-10-24T23:45",
        BERLIN_FALL,
    ),
    (
        {"rrule": "FREQ=DAILY;BYHOUR=2;BYMINUTE=0,30;BYSECOND=0", "timeZone": "Europe/Berlin", "dst": BOTH},
        "2026-10-24T23:45",
        [*BERLIN_FALL[:4], "2026-10-26T02:00+0100"],
    ),
    (
        {
            "recurrence": {"frequency": "day", "schedule": {"hours": [2], "minutes": [0, 30]}},
            "startTime": "2026-10-20T00:00:00",
            "timeZone": "Europe/Berlin",
            "dst": BOTH,
        },
        "2026-10-24T23:45",
        [*BERLIN_FALL[:4], "2026-10-26T02:00+0100"],
    ),
    (
        {"cron": "*/20 1 * * *", "timeZone": "America/New_York", "dst": BOTH},
        "2026-11-01T04:30",
        [
            "2026-11-01T01:00-0400",
            "2026-11-01T01:20-0400",
            "2026-11-01T01:40-0400",
            "2026-11-01T01:00-0500",
            "2026-11-01T01:20-0500",
            "2026-11-01T01:40-0500",
            "2026-11-02T01:00-0500",
        ],
    ),
    (  # Lord Howe: 01:30-02:00 happens twice on 2026-04-05
        {"cron": "*/15 1 * * *", "timeZone": "Australia/Lord_Howe", "dst": BOTH},
        "2026-04-04T13:50",
        [
            "2026-04-05T01:00+1100",
            "2026-04-05T01:15+1100",
            "2026-04-05T01:30+1100",
            "2026-04-05T01:45+1100",
            "2026-04-05T01:30+1030",
            "2026-04-05T01:45+1030",
            "2026-04-06T01:00+1030",
        ],
    ),
]


@pytest.mark.parametrize(("spec", "now", "expected"), FALL_BACK)
def test_fall_back_both_keeps_every_instant(spec: dict[str, Any], now: str, expected: list[str]) -> None:
    assert local_runs(spec, now, len(expected)) == expected


# -- 3. rrule validation from the job's own startTime --------------------------------------------
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"rrule": "FREQ=MONTHLY;INTERVAL=3;BYMONTH=5,8", "startTime": "2024-02-10T00:00:00Z"}, None),
        ({"rrule": "FREQ=MONTHLY;INTERVAL=3;BYMONTH=5,8", "startTime": "2024-01-10T00:00:00Z"}, "never produces"),
        ({"rrule": "FREQ=DAILY;UNTIL=20240101T000000Z", "startTime": "2024-02-10T00:00:00Z"}, "never produces"),
        ({"rrule": "FREQ=DAILY;UNTIL=20240301T000000Z", "startTime": "2024-02-10T00:00:00Z"}, None),
        ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "never produces"),
        ({"rrule": "FREQ=DAILY;BYSETPOS=2", "startTime": "2026-01-01T00:00:00Z"}, "never produces"),
        ({"rrule": "FREQ=SECONDLY;BYSETPOS=2", "startTime": "2026-01-01T00:00:00Z"}, "BYSETPOS never matches"),
    ],
)
def test_rrule_validation_uses_the_start_time(spec: dict[str, Any], message: str | None) -> None:
    found = errors(spec)
    assert (found == []) if message is None else (len(found) == 1 and message in found[0])


def test_monthly_rule_validated_from_its_start_runs() -> None:
    spec = {"rrule": "FREQ=MONTHLY;INTERVAL=3;BYMONTH=5,8", "startTime": "2024-02-10T00:00:00Z"}
    assert local_runs(spec, "2024-01-01T00:00", 3) == [
        "2024-05-10T00:00+0000",
        "2024-08-10T00:00+0000",
        "2025-05-10T00:00+0000",
    ]


# -- 4. rrule cost: COUNT is arithmetic where the frequency has a fixed length, else capped -----
COUNTED = [
    # 2000-01-01 + 49,999,999 s = 2001-08-01T16:53:19, the 50,000,000th
    (
        "FREQ=SECONDLY;COUNT=50000000",
        "2000-01-01T00:00:00Z",
        "2001-08-01T16:53:18",
        ["2001-08-01T16:53:18", "2001-08-01T16:53:19"],
    ),
    (
        "FREQ=DAILY;BYHOUR=9,17;BYMINUTE=0;BYSECOND=0;COUNT=2001",
        "2000-01-01T00:00:00Z",
        "2002-09-26T10:00:00",
        ["2002-09-26T17:00:00", "2002-09-27T09:00:00"],
    ),
    (
        "FREQ=WEEKLY;BYDAY=MO,FR;BYHOUR=8;BYMINUTE=0;BYSECOND=0;COUNT=1000",
        "2000-01-01T00:00:00Z",
        "2009-07-25T00:00:00",
        ["2009-07-27T08:00:00", "2009-07-31T08:00:00"],
    ),
    (
        "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=3",
        "2000-01-01T00:00:00Z",
        "2000-01-01T00:00:00",
        ["2000-01-31T00:00:00", "2000-03-31T00:00:00", "2000-05-31T00:00:00"],
    ),
]


@pytest.mark.parametrize(("text", "start", "now", "expected"), COUNTED)
def test_count_is_evaluated_without_replaying_history(text: str, start: str, now: str, expected: list[str]) -> None:
    timing = Timing.from_dict({"rrule": text, "startTime": start})
    got = Schedule(timing, datetime.fromisoformat(now).replace(tzinfo=UTC)).upcoming(len(expected) + 1)
    assert [o.at.strftime("%Y-%m-%dT%H:%M:%S") for o in got] == expected
    rule = du.rrulestr(text, dtstart=datetime.fromisoformat(start.removesuffix("Z")))
    assert expected[-1] == rule[-1].strftime("%Y-%m-%dT%H:%M:%S") if "COUNT=50000000" not in text else True


def test_count_that_cannot_be_counted_arithmetically_is_capped() -> None:
    [message] = errors({"rrule": "FREQ=MONTHLY;COUNT=20000", "startTime": "2000-01-01T00:00:00Z"})
    assert "COUNT=20000" in message and "UNTIL" in message
    assert errors({"rrule": "FREQ=MONTHLY;COUNT=10000", "startTime": "2000-01-01T00:00:00Z"}) == []


@pytest.mark.parametrize(
    "text",
    ["FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=29", "FREQ=MINUTELY;BYYEARDAY=60", "FREQ=MINUTELY;BYWEEKNO=1"],
)
def test_sub_daily_rules_with_date_filters_are_refused(text: str) -> None:
    [message] = errors({"rrule": text, "startTime": "2026-01-01T00:00:00Z"})
    assert "FREQ=DAILY" in message


def test_a_rule_that_never_matches_is_answered_at_once() -> None:
    # dateutil checks UNTIL only against candidates; the engine's month budget must stop the scan.
    began = time.process_time()
    assert errors({"rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "startTime": "2026-01-01T00:00:00Z"})
    assert time.process_time() - began < 30  # a bound on the scan, not a speed test (see make bench)


# -- 5. BYSETPOS does not depend on --now ----------------------------------------------------------
SETPOS = "FREQ=WEEKLY;BYDAY=FR,SU;BYHOUR=2;BYMINUTE=54;BYSECOND=0;BYSETPOS=1"


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-01-03T00:00", ["2026-01-04T02:54", "2026-01-09T02:54"]),  # the cut first week: its Sunday
        ("2026-01-05T00:00", ["2026-01-09T02:54", "2026-01-16T02:54"]),
        ("2026-01-10T05:00", ["2026-01-16T02:54", "2026-01-23T02:54"]),
        ("2026-01-17T03:00", ["2026-01-23T02:54", "2026-01-30T02:54"]),
        ("2026-02-07T03:00", ["2026-02-13T02:54", "2026-02-20T02:54"]),
        ("2027-06-05T12:00", ["2027-06-11T02:54", "2027-06-18T02:54"]),
    ],
)
def test_bysetpos_is_independent_of_now(now: str, expected: list[str]) -> None:
    spec = {"rrule": SETPOS, "startTime": "2026-01-03T00:00:00Z"}  # a Saturday
    got = Schedule(Timing.from_dict(spec), datetime.fromisoformat(now).replace(tzinfo=UTC)).upcoming(2)
    assert [o.at.strftime("%Y-%m-%dT%H:%M") for o in got] == expected


# -- 6. UNTIL with Z is an instant ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("zone", "until", "expected_last"),
    [
        ("Europe/Berlin", "20260103T110000Z", "2026-01-03T12:00+0100"),  # 11:00Z = 12:00 Berlin: included
        ("Europe/Berlin", "20260103T105959Z", "2026-01-02T12:00+0100"),
        ("America/New_York", "20260103T170000Z", "2026-01-03T12:00-0500"),
        ("America/New_York", "20260103T120000", "2026-01-03T12:00-0500"),  # floating: wall time
        ("America/New_York", "20260103T115959", "2026-01-02T12:00-0500"),
    ],
)
def test_until_with_z_is_utc(zone: str, until: str, expected_last: str) -> None:
    spec = {
        "rrule": f"FREQ=DAILY;BYHOUR=12;BYMINUTE=0;BYSECOND=0;UNTIL={until}",
        "timeZone": zone,
        "startTime": "2026-01-01T00:00:00",
    }
    assert local_runs(spec, "2026-01-01T00:00", 10)[-1] == expected_last


# -- 7. the cron dialect (Vixie: a day field starting with * is unrestricted) ----------------------
@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 0 */2 * MON", ["2026-01-05", "2026-01-19", "2026-02-09"]),  # Mondays on odd days only
        ("0 0 1-7 * */7", ["2026-01-04", "2026-02-01", "2026-03-01"]),  # first Sunday (dow starts with *)
        ("0 0 13 * FRI", ["2026-01-02", "2026-01-09", "2026-01-13"]),  # 13th or Friday
        ("0 0 * * MON#2", ["2026-01-12", "2026-02-09", "2026-03-09"]),
        ("0 0 L 2 *", ["2026-02-28", "2027-02-28", "2028-02-29"]),
        ("0 0 29 2 *", ["2028-02-29", "2032-02-29", "2036-02-29"]),
        ("0 0 31 2 MON", ["2026-02-02", "2026-02-09", "2026-02-16"]),  # OR: Mondays in February
        ("0 0 ? * SUN", ["2026-01-04", "2026-01-11", "2026-01-18"]),
    ],
)
def test_cron_dialect(cron: str, expected: list[str]) -> None:
    assert [r[:10] for r in local_runs({"cron": cron}, "2026-01-01T00:00", len(expected))] == expected


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 0 31 2 *", "never occurs"),
        ("0 0 30 2 *", "never occurs"),
        ("0 0 31 4,6,9,11 *", "never occurs"),
        ("0 0 * * * *", "5 fields"),
        ("0 0 32 * *", "day-of-month"),
        ("0 0 * * MON#6", "day-of-week"),
    ],
)
def test_cron_that_never_fires_is_refused(cron: str, message: str) -> None:
    [found] = errors({"cron": cron})
    assert message in found


# -- 8. Azure combinations the reference does not document ----------------------------------------
@pytest.mark.parametrize(
    ("recurrence", "message"),
    [
        ({"frequency": "minute", "interval": 5, "schedule": {"hours": [9]}}, "frequency minute"),
        ({"frequency": "minute", "schedule": {"minutes": [0, 30]}}, "frequency minute"),
        ({"frequency": "hour", "schedule": {"hours": [9, 17]}}, "frequency hour"),
        ({"frequency": "hour", "schedule": {"minutes": [0, 30]}}, None),
        ({"frequency": "month", "interval": 12, "schedule": {"monthDays": [31]}}, "never produces"),
    ],
)
def test_undocumented_azure_combinations(recurrence: dict[str, Any], message: str | None) -> None:
    found = errors({"recurrence": recurrence, "startTime": "2026-04-01T00:00:00Z"})
    assert (found == []) if message is None else (len(found) == 1 and message in found[0])


# -- 9. warnings: printed, exit code unchanged ------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "parts"),
    [
        ({"rrule": "FREQ=DAILY"}, "hour, minute and second"),
        ({"rrule": "FREQ=HOURLY;BYMINUTE=0"}, "second"),
        ({"rrule": "FREQ=DAILY;BYHOUR=1;BYMINUTE=0;BYSECOND=0"}, None),
        ({"rrule": "FREQ=DAILY", "startTime": "2026-01-01T00:00:00Z"}, None),
        ({"rrule": "FREQ=SECONDLY"}, None),
    ],
)
def test_rrule_without_start_warns(spec: dict[str, Any], parts: str | None) -> None:
    found = [m for _, m in timing_warnings(Timing.from_dict(spec))]
    assert (found == []) if parts is None else (len(found) == 1 and f"the {parts} of every run" in found[0])


JOB = """apiVersion: cronplane/v1
kind: Job
metadata: {{name: {name}}}
spec:
  {timing}
  action: {{type: http, request: {{method: GET, uri: "http://example.test/"}}}}
"""


def test_validate_prints_warnings_and_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.yaml").write_text(JOB.format(name="a", timing="rrule: FREQ=DAILY"))
    assert main(["validate", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"{tmp_path}/a.yaml:5:10: rrule: warning: without startTime, the hour, minute and second of every run come "
        "from the time of the apply and move at every timing edit; give startTime or BYHOUR/BYMINUTE/BYSECOND"
    )
    assert out[1].endswith("valid (1 warning)")


def test_validate_refuses_minute_with_hours_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    timing = "recurrence: {frequency: minute, interval: 5, schedule: {hours: [9]}}"
    (tmp_path / "b.yaml").write_text(JOB.format(name="b", timing=timing))
    assert main(["validate", str(tmp_path)]) == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(
        f"{tmp_path}/b.yaml:5:58: recurrence.schedule: a schedule is not supported with frequency minute"
    )
