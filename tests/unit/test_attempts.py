"""The attempt model (``worker.attempts.decide``) and the runner's state machine, with a fake store,
fake targets and a fake clock: retries, faulted, error action, counters, liveness, ids."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from worker.attempts import Done, ErrorAction, Record, Retry, decide, idempotency_key, retry_job_id
from worker.contract import Invocation, RetryPolicy
from worker.records import W_FAULTED_GENERATION, W_LAST_RESULT
from worker.runner import Runner
from worker.targets.base import Outcome

OK = Outcome(True, "HTTP 200 OK")
TEMP = Outcome(False, "HTTP 503", retryable=True)
PERM = Outcome(False, "HTTP 404", retryable=False)


MAIN_POLICY = RetryPolicy("fixed", 30, 2)


def inv(retry: RetryPolicy = MAIN_POLICY, error: bool = True, final: bool = False) -> Invocation:
    action: dict[str, Any] = {"type": "http", "request": {"uri": "http://t/"}}
    if error:
        action["errorAction"] = {"type": "http", "request": {"uri": "http://e/"}}
    return Invocation("c_j-100", "c", "j", 100, 3, action, retry, RetryPolicy("fixed", 15, 1), final=final)


@pytest.mark.parametrize(
    ("attempt", "outcome", "expected"),
    [
        (0, OK, Done("completed")),
        (0, TEMP, Retry),
        (1, TEMP, Retry),
        (2, TEMP, ErrorAction),  # retries used up
        (0, PERM, ErrorAction),  # retrying cannot help
    ],
)
def test_main_action_transitions(attempt: int, outcome: Outcome, expected: Any) -> None:
    step = decide(_at(inv(), attempt), outcome, 1000.0, 1000.5)
    assert step.next == expected if isinstance(expected, Done) else isinstance(step.next, expected)


def test_retry_is_due_after_the_interval_or_retry_after_whichever_is_later() -> None:
    step = decide(inv(), TEMP, 1000.0, 1000.25)
    assert isinstance(step.next, Retry)
    assert (step.next.due, step.next.rq_job_id, step.next.invocation.attempt) == (1030.25, "c_j-100-m1", 1)
    later = decide(inv(), Outcome(False, "429", retryable=True, retry_after=90.0), 1000.0, 1000.25)
    assert isinstance(later.next, Retry) and later.next.due == 1090.25
    exponential = decide(_at(inv(RetryPolicy("exponential", 10, 5, 3600)), 2), TEMP, 0.0, 0.0)
    assert isinstance(exponential.next, Retry) and exponential.next.due == 40.0  # 10, 20, 40


@pytest.mark.parametrize(
    ("policy", "retry_after", "due"),
    [
        (RetryPolicy("fixed", 30, 2), None, 30.0),
        (RetryPolicy("fixed", 30, 2), 5.0, 30.0),  # shorter than the interval: the interval
        (RetryPolicy("fixed", 30, 2), 0.0, 30.0),  # an HTTP date in the past
        (RetryPolicy("fixed", 30, 2), 90.0, 90.0),
        (RetryPolicy("fixed", 30, 2), 1e12, 3600.0),  # capped at maxRetryInterval (default 1 h)
        (RetryPolicy("fixed", 30, 2, max_interval=120), 1e12, 120.0),
        (RetryPolicy("fixed", 7200, 2, max_interval=60), 1e12, 7200.0),  # never below the interval
        (RetryPolicy("exponential", 10, 5, 3600), 1e12, 3600.0),
    ],
)
def test_retry_after_is_honoured_within_the_policy(policy: RetryPolicy, retry_after: float | None, due: float) -> None:
    step = decide(inv(policy), Outcome(False, "HTTP 429", retryable=True, retry_after=retry_after), 0.0, 0.0)
    assert isinstance(step.next, Retry) and step.next.due == due


def test_client_errors_retried_only_when_the_policy_says_so() -> None:
    policy = RetryPolicy("fixed", 30, 2, retry_client_errors=True)
    assert isinstance(decide(inv(policy), PERM, 0, 0).next, Retry)
    assert isinstance(decide(inv(RetryPolicy("none", 30, 2)), TEMP, 0, 0).next, ErrorAction)


def test_counters_and_faulted_marker() -> None:
    first = decide(inv(), TEMP, 0, 0).record
    assert dict(first.counters) == {"executionCount": 1, "failureCount": 1}
    last = decide(_at(inv(final=True), 2), TEMP, 0, 0).record
    # attempt 2 is a retry: it also counts in retryCount (the metrics' retries)
    assert dict(last.counters) == {"executionCount": 1, "failureCount": 1, "faultedCount": 1, "retryCount": 1}
    assert last.status[W_LAST_RESULT] == "faulted" and last.status[W_FAULTED_GENERATION] == "1"
    not_final = decide(_at(inv(), 2), TEMP, 0, 0).record
    assert W_FAULTED_GENERATION not in not_final.status  # a later occurrence follows: not Faulted
    assert decide(inv(), OK, 0, 0).record.counters["failureCount"] == 0


def test_error_action_has_its_own_policy_key_and_no_counters() -> None:
    step = decide(_at(inv(), 2), PERM, 0, 0)
    assert isinstance(step.next, ErrorAction)
    err = step.next.invocation
    assert (err.phase, err.attempt, idempotency_key(err), idempotency_key(inv())) == (
        "error",
        0,
        "c_j-100-error",
        "c_j-100",
    )
    failed = decide(err, TEMP, 0, 5.0)
    assert isinstance(failed.next, Retry) and failed.next.due == 20.0  # error_retry: 15 s
    assert failed.next.rq_job_id == "c_j-100-e1" and retry_job_id(failed.next.invocation) == "c_j-100-e1"
    assert failed.record.entry.action_name == "ErrorAction" and not failed.record.counters
    assert decide(_at(err, 1), TEMP, 0, 0).next == Done("error-action-failed")
    assert decide(err, OK, 0, 0).next == Done("error-action-completed")
    assert decide(_at(inv(error=False), 2), TEMP, 0, 0).next == Done("faulted")


def test_history_entry_fields() -> None:
    entry = decide(_at(inv(), 1), OK, 1_700_000_000.5, 1_700_000_001.0).record.entry
    assert (entry.retry_count, entry.repeat_count, entry.status, entry.action_name) == (1, 3, "completed", "MainAction")
    assert entry.start_time == "2023-11-14T22:13:20.500000Z" and entry.expected_execution_time == "1970-01-01T00:01:40Z"


# --- the runner with fakes -----------------------------------------------------------------
class FakeStore:
    def __init__(self, stopped: str | None = None):
        self.records: list[Record] = []
        self.retries: list[Retry] = []
        self.running: dict[str, str] = {}
        self.stopped = stopped
        self.checked: list[str] = []

    async def record(self, rec: Record) -> None:
        self.records.append(rec)

    async def hold_running(self, job: str, rq_job_id: str, ttl: int) -> None:
        self.running[job] = rq_job_id

    async def release_running(self, job: str, rq_job_id: str) -> None:
        if self.running.get(job) == rq_job_id:
            del self.running[job]

    async def schedule_retry(self, retry: Retry, queue: str, now: float) -> None:
        self.retries.append(retry)
        self.running[retry.invocation.job] = retry.rq_job_id

    async def why_stopped(self, invocation: Invocation) -> str | None:
        self.checked.append(f"{invocation.phase}{invocation.attempt}")
        return self.stopped


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


def targets(*outcomes: Outcome) -> Any:
    queue = list(outcomes)
    calls: list[tuple[str, str]] = []

    async def attempt(action: Mapping[str, Any], invocation: Invocation) -> Outcome:
        calls.append((str(action["request"]["uri"]), idempotency_key(invocation)))
        return queue.pop(0)

    attempt.calls = calls  # type: ignore[attr-defined]
    return attempt


def run(store: FakeStore, attempt: Any, invocation: Invocation, rq_id: str) -> str:
    return asyncio.run(Runner(store, attempt, 180, FakeClock()).run(invocation, rq_id, "q"))


def test_runner_schedules_a_retry_and_keeps_the_marker_on_it() -> None:
    store, attempt = FakeStore(), targets(TEMP)
    assert run(store, attempt, inv(), "c_j-100") == "retry 1 at 1031.000"
    assert store.retries[0].due == 1031.0 and store.running == {"c/j": "c_j-100-m1"}
    assert store.checked == []  # a first attempt runs without a liveness check


def test_runner_runs_the_error_action_after_the_last_retry_and_releases_the_marker() -> None:
    store, attempt = FakeStore(), targets(TEMP, OK)
    result = run(store, attempt, _at(inv(), 2), "c_j-100-m2")
    assert result == "error-action-completed" and store.running == {}
    assert attempt.calls == [("http://t/", "c_j-100"), ("http://e/", "c_j-100-error")]
    assert [r.entry.action_name for r in store.records] == ["MainAction", "ErrorAction"]
    assert store.checked == ["main2", "error0"]


def test_runner_stops_a_retry_of_a_deleted_job_without_calling_or_recording() -> None:
    store, attempt = FakeStore(stopped="the job was deleted"), targets()
    assert run(store, attempt, _at(inv(), 1), "c_j-100-m1") == "stopped: the job was deleted"
    assert attempt.calls == [] and store.records == [] and store.running == {}


def test_runner_stops_the_error_action_of_a_deleted_job() -> None:
    class StopsLater(FakeStore):
        async def why_stopped(self, invocation: Invocation) -> str | None:
            return "the job was deleted" if invocation.phase == "error" else None

    store, attempt = StopsLater(), targets(PERM)
    assert run(store, attempt, inv(), "c_j-100") == "stopped: the job was deleted"
    assert attempt.calls == [("http://t/", "c_j-100")] and len(store.records) == 1


def _at(invocation: Invocation, attempt: int) -> Invocation:
    for _ in range(attempt):
        invocation = invocation.next_attempt()
    return invocation


def test_an_attempt_has_one_deadline_whatever_the_target_does() -> None:
    from types import SimpleNamespace

    from worker.runner import target_attempt

    async def hangs(action: Mapping[str, Any], invocation: Invocation, ctx: Any) -> Outcome:
        await asyncio.sleep(60)
        return OK

    ctx: Any = SimpleNamespace(settings=SimpleNamespace(http_timeout=0.05))
    attempt = target_attempt(ctx, lookup=lambda kind: hangs)
    outcome = asyncio.run(attempt({"type": "http", "request": {"uri": "http://t/"}}, inv()))
    assert outcome == Outcome(False, "http://t/: no answer within 0.05 s", retryable=True)
