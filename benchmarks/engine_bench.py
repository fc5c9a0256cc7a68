"""Schedule engine benchmark: the worst timings we can construct, per evaluation.

For each case, ``validate`` (the timing checks ``cronplane validate`` runs) and ``next`` (the
next 10 occurrences, as ``cronplane next`` and every dispatch step compute them) are timed
``CRONPLANE_BENCH_ROUNDS`` times (default 5); the table shows the median and the maximum of one
evaluation. Target: every maximum well under a second. Then the differential tests run ten
times longer than in ``make test`` (``CRONPLANE_DIFF_SCALE=10``).

``python -m benchmarks.engine_bench``
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from controller.core.model import Timing
from controller.core.recurrence import Schedule
from controller.core.timingcheck import timing_errors, timing_warnings

NOW = datetime(2026, 12, 1, tzinfo=UTC)
TARGET_S = 0.5
CASES: list[tuple[str, dict[str, Any]]] = [
    (
        "rrule SECONDLY COUNT=50,000,000 from 2000",
        {"rrule": "FREQ=SECONDLY;COUNT=50000000", "startTime": "2000-01-01T00:00:00Z"},
    ),
    ("rrule SECONDLY from 1970", {"rrule": "FREQ=SECONDLY;INTERVAL=7", "startTime": "1970-01-01T00:00:00Z"}),
    (
        "rrule SECONDLY sparse (BYHOUR=9, BYSECOND=15,30, INTERVAL=7)",
        {"rrule": "FREQ=SECONDLY;INTERVAL=7;BYHOUR=9;BYSECOND=15,30", "startTime": "2000-01-01T00:00:00Z"},
    ),
    (
        "rrule WEEKLY BYSETPOS COUNT=1,000,000 from 1970",
        {
            "rrule": "FREQ=WEEKLY;BYDAY=FR,SU;BYHOUR=2;BYMINUTE=54;BYSECOND=0;BYSETPOS=1;COUNT=1000000",
            "startTime": "1970-01-03T00:00:00Z",
        },
    ),
    (
        "rrule MONTHLY COUNT=10,000 (iterated, the cap)",
        {"rrule": "FREQ=MONTHLY;COUNT=10000", "startTime": "1970-01-31T00:00:00Z"},
    ),
    (
        "rrule MONTHLY every second of the day from 1970",
        {
            "rrule": "FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=0,12;BYMINUTE=0,30;BYSECOND=0,30",
            "startTime": "1970-01-01T00:00:00Z",
        },
    ),
    (
        "rrule never matches (Feb 30)",
        {"rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "startTime": "2026-01-01T00:00:00Z"},
    ),
    (
        "rrule rare (Feb 29 on a Monday, daily)",
        {
            "rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;BYHOUR=0;BYMINUTE=0;BYSECOND=0",
            "startTime": "2026-01-01T00:00:00Z",
        },
    ),
    (
        "rrule HOURLY rare (Feb 29 Sunday, INTERVAL=5)",
        {"rrule": "FREQ=HOURLY;INTERVAL=5;BYMONTHDAY=29;BYMONTH=2;BYDAY=SU", "startTime": "2026-01-01T00:00:00Z"},
    ),
    (
        "rrule YEARLY never (Feb 30)",
        {"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "startTime": "2026-01-01T00:00:00Z"},
    ),
    (
        "cron every minute, Europe/Berlin, overlap both",
        {"cron": "* * * * *", "timeZone": "Europe/Berlin", "dst": {"overlap": "both"}},
    ),
    ("cron rare (Feb 29 that is a Sunday)", {"cron": "0 0 29 2 */7"}),
    ("cron refused (never: 1st/21st that is a last Monday)", {"cron": "0 0 */20 * 1L"}),
    ("azure minute from 1970", {"startTime": "1970-01-01T00:00:00Z", "recurrence": {"frequency": "minute"}}),
    (
        "azure week, 96 runs a day, Lord_Howe",
        {
            "startTime": "1970-01-01T00:00:00",
            "timeZone": "Australia/Lord_Howe",
            "dst": {"overlap": "both"},
            "recurrence": {"frequency": "week", "schedule": {"minutes": [0, 15, 30, 45], "weekDays": ["sunday"]}},
        },
    ),
    (
        "azure month never (31st every 12 months from April)",
        {
            "startTime": "2026-04-01T00:00:00Z",
            "recurrence": {"frequency": "month", "interval": 12, "schedule": {"monthDays": [31]}},
        },
    ),
]


def timed(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples), max(samples)


def main() -> int:
    rounds = int(os.environ.get("CRONPLANE_BENCH_ROUNDS", "5"))
    print(f"{'case':<58} {'validate median/max (ms)':>26} {'next 10 median/max (ms)':>26}  result")
    worst = 0.0
    for name, spec in CASES:
        timing = Timing.from_dict(spec)
        v_med, v_max = timed(lambda t=timing: (timing_errors(t), timing_warnings(t)), rounds)  # type: ignore[misc]
        refused = timing_errors(timing)
        if refused:
            n_med = n_max = 0.0
            result = "refused: " + refused[0][1][:60]
        else:
            n_med, n_max = timed(lambda t=timing: Schedule(t, NOW).upcoming(10), rounds)  # type: ignore[misc]
            upcoming = Schedule(timing, NOW).upcoming(10)
            result = f"{len(upcoming)} runs, first {upcoming[0].at:%Y-%m-%dT%H:%M:%SZ}" if upcoming else "no runs"
        worst = max(worst, v_max, n_max)
        figures = f"{v_med * 1e3:>12.1f} / {v_max * 1e3:>9.1f} {n_med * 1e3:>12.1f} / {n_max * 1e3:>9.1f}"
        print(f"{name:<58} {figures}  {result}", flush=True)
    print(f"worst single evaluation: {worst * 1e3:.1f} ms (target < {TARGET_S * 1e3:.0f} ms)")
    env = {**os.environ, "CRONPLANE_DIFF_SCALE": os.environ.get("CRONPLANE_DIFF_SCALE", "10")}
    print(f"differential tests at scale {env['CRONPLANE_DIFF_SCALE']}:", flush=True)
    diff = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "--timeout=1200",
            "tests/unit/test_schedule_differential.py",
        ],
        env=env,
        check=False,
    )
    return 0 if worst < TARGET_S and diff.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
