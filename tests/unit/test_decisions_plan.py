"""Pure decisions: missed-run and concurrency policies, retry-policy resolution, spec diffs and
fire-time summaries (the plan itself: test_reconcile_plan)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.core.decisions import decide
from controller.core.invocation import build_invocation, retry_policy
from controller.core.model import JobKey, JobSpec
from controller.core.reconcile.diff import diff_fields, summarize
from controller.core.recurrence import Occurrence, Schedule
from worker.contract import RetryPolicy

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACTION = {"type": "http", "request": {"method": "GET", "uri": "http://x/"}}


def spec(**extra: Any) -> JobSpec:
    return JobSpec.from_dict(
        {
            "startTime": "2026-01-01T00:00:00Z",
            "recurrence": {"frequency": "minute", "interval": 10},
            "action": ACTION,
            **extra,
        }
    )


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def run_decide(s: JobSpec, now_min: int, running: bool = False) -> Any:
    sched = Schedule(s.timing, T0)
    return decide(s, sched, sched.first(), at(now_min), running=running)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("policy", "run", "missed"),
    [
        ("skip", [60], [0, 10, 20, 30, 40, 50]),
        ("latest", [60], [0, 10, 20, 30, 40, 50]),
        ("all", [0, 10, 20, 30, 40, 50, 60], []),
    ],
)
def test_missed_run_policies(policy: str, run: list[int], missed: list[int]) -> None:
    d = run_decide(spec(missedRunPolicy=policy), 62)  # down from 00:00 to 01:02; deadline 5 min
    assert [int((o.at - T0).total_seconds() // 60) for o in d.run] == run
    assert [int((o.at - T0).total_seconds() // 60) for o in d.missed] == missed
    assert d.next is not None and d.next.at == at(70)


def test_latest_runs_the_newest_missed_when_nothing_is_fresh() -> None:
    d = run_decide(spec(missedRunPolicy="latest"), 58)
    assert [o.at for o in d.run] == [at(50)] and len(d.missed) == 5


def test_late_within_deadline_still_runs() -> None:
    d = run_decide(spec(startingDeadline="PT5M"), 4)
    assert [o.at for o in d.run] == [at(0)] and d.missed == []


def test_concurrency_forbid_and_replace() -> None:
    forbid = run_decide(spec(concurrencyPolicy="forbid"), 1, running=True)
    assert forbid.run == [] and [o.at for o in forbid.skipped] == [at(0)]
    replace = run_decide(spec(concurrencyPolicy="replace"), 1, running=True)
    assert [o.at for o in replace.run] == [at(0)] and replace.stop_running
    allow = run_decide(spec(), 1, running=True)
    assert [o.at for o in allow.run] == [at(0)] and not allow.stop_running


def test_long_outage_is_bounded_and_counted() -> None:
    s = JobSpec.from_dict({"startTime": "2026-01-01T00:00:00Z", "rrule": "FREQ=SECONDLY", "action": ACTION})
    sched = Schedule(s.timing, T0)
    d = decide(s, sched, sched.first(), T0 + timedelta(hours=6), running=False)  # type: ignore[arg-type]
    assert len(d.missed) + d.uncounted_missed + len(d.run) == 6 * 3600 + 1
    assert len(d.run) == 301 and d.run[-1].at == T0 + timedelta(hours=6)  # the 5-minute deadline window
    assert d.next is not None and d.next.at == T0 + timedelta(hours=6, seconds=1)


def test_completion_marks_the_last_occurrence_final() -> None:
    s = spec(recurrence={"frequency": "minute", "interval": 10, "count": 2})
    sched = Schedule(s.timing, T0)
    second = sched.after(sched.first())  # type: ignore[arg-type]
    d = decide(s, sched, second, at(11), running=False)  # type: ignore[arg-type]
    assert d.next is None and d.last_is_final


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, RetryPolicy("fixed", 30.0, 4)),
        ({"retryType": "none"}, RetryPolicy("none", 0.0, 0)),
        ({"retryType": "fixed", "retryInterval": "00:01:00", "retryCount": 2}, RetryPolicy("fixed", 60.0, 2)),
        (
            {"retryType": "exponential", "retryInterval": "PT10S", "maxRetryInterval": "PT1M", "retryCount": 5},
            RetryPolicy("exponential", 10.0, 5, 60.0),
        ),
    ],
)
def test_retry_policy_resolution(raw: dict[str, Any] | None, expected: RetryPolicy) -> None:
    assert retry_policy(raw) == expected


def test_exponential_delays_are_capped() -> None:
    policy = RetryPolicy("exponential", 10.0, 6, 60.0)
    assert [policy.delay_before(n) for n in range(1, 6)] == [10, 20, 40, 60, 60]


def test_error_action_inherits_the_main_policy() -> None:
    raw = {
        "action": {
            **ACTION,
            "retryPolicy": {"retryType": "fixed", "retryInterval": "PT20S", "retryCount": 1},
            "errorAction": ACTION,
        }
    }
    inv = build_invocation(
        JobKey("c", "j"), raw, Occurrence(T0, 3), generation=2, git_sha="abc", final=False, region="r"
    )
    assert (
        inv.id == "c_j-1767225600" and inv.repeat == 3 and inv.error_retry == inv.retry == RetryPolicy("fixed", 20.0, 1)
    )


def test_diff_fields_and_summaries() -> None:
    assert diff_fields({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}, "d": 1}) == ["a.c", "d"]
    daily5 = [datetime(2026, 1, d, 5, tzinfo=UTC) for d in range(1, 11)]
    daily6 = [t.replace(hour=6) for t in daily5]
    assert summarize(daily5, daily6) == "runs move from 05:00 to 06:00 UTC"
    weekdays = [
        t for t in (datetime(2026, 1, 1, 5, tzinfo=UTC) + timedelta(days=i) for i in range(14)) if t.weekday() < 5
    ][:10]
    assert "fewer runs per week" in summarize(daily5, weekdays)
    assert summarize(daily5, []) == "stops running" and summarize(daily5, daily5) == "fire times unchanged"
