"""The attempt model: what one attempt's outcome means for its occurrence. Pure: no I/O, no clock.

Per occurrence (reference §1.3.5, §3, §6, §9 F):

    main attempt n ──ok──────────────────────────────────────────────────► Done("completed")
        │ failed, retryable, n < retries ──► Retry(main n+1, due = end + retry_delay)
        │ failed otherwise ──► faulted (faultedCount + 1; the job is Faulted when no run follows)
        │                      └── errorAction? ──► ErrorAction(error attempt 0) else Done("faulted")
        ▼
    error attempt n ──ok──► Done("error-action-completed")
        │ failed, retryable, n < retries ──► Retry(error n+1)
        └── otherwise ──► Done("error-action-failed")

``retry_delay``: the policy's interval for retry n (fixed, or exponential up to
``maxRetryInterval``), or the target's ``Retry-After`` when that is longer, but never more than
the policy's ceiling, ``max(maxRetryInterval, interval)`` (default 1 h): a hostile or confused
target cannot park an occurrence for a year. Retry-After never adds attempts nor shortens a wait.

A retry is a new RQ job under a deterministic id (``<id>-m<n>`` / ``-e<n>``), so a replayed attempt
cannot schedule a second one. Counters (reference §1.3.9): executionCount = main-action attempts,
failureCount = failed main attempts, faultedCount = occurrences that used up their retries.

The error action is a different request from the main action, so it carries its own idempotency
key, ``<invocation id>-error`` (``idempotency_key``); every attempt of one action shares its key.

An attempt that never ended on its worker is recorded by whoever requeues its RQ job
(``interruption``): ``abandoned`` (the worker died: its heartbeat lapsed) or ``interrupted``
(the worker shut down and handed it back after its grace). The RQ job runs again under the same
id, so the next entry has the same attempt number and the target sees the same idempotency key;
no counter moves (the attempt has no outcome).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from worker.contract import ERROR_ACTION, MAIN_ACTION, HistoryEntry, HistoryStatus, Invocation, RetryPolicy
from worker.records import worker_status_fields
from worker.targets.base import Outcome

ERROR_KEY_SUFFIX = "-error"
FAULTED_REASON = "the last occurrence ({}) failed after all retries"


@dataclass(frozen=True)
class Record:
    """What the store writes for one attempt: a history entry, counter increments, status fields."""

    entry: HistoryEntry
    counters: Mapping[str, int] = field(default_factory=dict)
    status: Mapping[str, str] = field(default_factory=dict)  # incl. the faulted marker (worker.records)
    lateness: float | None = None  # due → started of a first attempt, for the metrics histogram


@dataclass(frozen=True)
class Retry:
    invocation: Invocation  # the next attempt
    due: float  # epoch seconds, sub-second precision; never before end + interval
    rq_job_id: str


@dataclass(frozen=True)
class ErrorAction:
    invocation: Invocation  # error attempt 0


@dataclass(frozen=True)
class Done:
    result: str  # the RQ job's return value


Next = Retry | ErrorAction | Done


@dataclass(frozen=True)
class Step:
    record: Record
    next: Next


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def idempotency_key(inv: Invocation) -> str:
    """The main action's key is the invocation id; the error action's is ``<id>-error``."""
    return inv.id if inv.phase == "main" else inv.id + ERROR_KEY_SUFFIX


def retry_job_id(inv: Invocation) -> str:
    """RQ job id of the attempt ``inv`` (a retry): ``<id>-m<n>`` or ``<id>-e<n>``."""
    return f"{inv.id}-{'m' if inv.phase == 'main' else 'e'}{inv.attempt}"


def action_of(inv: Invocation) -> Mapping[str, object]:
    return inv.action if inv.phase == "main" else (inv.action.get("errorAction") or {})


def policy_of(inv: Invocation) -> RetryPolicy:
    return inv.retry if inv.phase == "main" else inv.error_retry


def needs_liveness_check(inv: Invocation) -> bool:
    """Retries and the error action run only while the job still wants them (not deleted,
    disabled or re-timed since the occurrence was dispatched)."""
    return inv.phase == "error" or inv.attempt > 0


def should_retry(inv: Invocation, outcome: Outcome) -> bool:
    policy = policy_of(inv)
    retryable = outcome.retryable or policy.retry_client_errors
    return not outcome.ok and retryable and inv.attempt < policy.max_retries


def retry_delay(policy: RetryPolicy, retry_number: int, retry_after: float | None) -> float:
    """Seconds from the failed attempt's end to retry ``retry_number`` (see the module docstring)."""
    delay = policy.delay_before(retry_number)
    if not retry_after or retry_after <= delay:
        return delay
    return min(retry_after, max(policy.max_interval, delay))


def decide(inv: Invocation, outcome: Outcome, started: float, ended: float) -> Step:
    """The record of this attempt and what follows it."""
    main = inv.phase == "main"
    retry = should_retry(inv, outcome)
    faulted = main and not outcome.ok and not retry
    record = _record(inv, outcome, started, ended, faulted)
    if retry:
        nxt = inv.next_attempt()
        wait = retry_delay(policy_of(inv), nxt.attempt, outcome.retry_after)
        return Step(record, Retry(nxt, ended + wait, retry_job_id(nxt)))
    if faulted and inv.action.get("errorAction"):
        return Step(record, ErrorAction(inv.to_error_phase()))
    if main:
        return Step(record, Done("completed" if outcome.ok else "faulted"))
    return Step(record, Done("error-action-completed" if outcome.ok else "error-action-failed"))


def _record(inv: Invocation, outcome: Outcome, started: float, ended: float, faulted: bool) -> Record:
    main = inv.phase == "main"
    entry = HistoryEntry(
        job=inv.job,
        invocation_id=inv.id,
        expected_execution_time=iso(inv.expected)[:19] + "Z",
        start_time=iso(started),
        end_time=iso(ended),
        action_name=MAIN_ACTION if main else ERROR_ACTION,
        status="completed" if outcome.ok else "failed",
        retry_count=inv.attempt,
        repeat_count=inv.repeat,
        message=outcome.message,
        git_sha=inv.git_sha,
        generation=inv.generation,
        trigger=inv.trigger,
    )
    counters, status = worker_status_fields(
        main=main,
        ok=outcome.ok,
        started_iso=entry.start_time,
        faulted=faulted,
        final=inv.final,
        generation=inv.generation,
        reason=FAULTED_REASON.format(inv.id),
        retry=inv.attempt > 0,
    )
    lateness = started - inv.expected if main and not inv.attempt else None  # due → started (metrics)
    return Record(entry, counters, status, lateness)


ABANDONED: HistoryStatus = "abandoned"
INTERRUPTED: HistoryStatus = "interrupted"


def interruption(inv: Invocation, status: HistoryStatus, started: float, ended: float, message: str) -> Record:
    """The history entry of an attempt that did not end on its worker (no counters)."""
    entry = HistoryEntry(
        job=inv.job,
        invocation_id=inv.id,
        expected_execution_time=iso(inv.expected)[:19] + "Z",
        start_time=iso(started),
        end_time=iso(max(started, ended)),
        action_name=MAIN_ACTION if inv.phase == "main" else ERROR_ACTION,
        status=status,
        retry_count=inv.attempt,
        repeat_count=inv.repeat,
        message=message,
        git_sha=inv.git_sha,
        generation=inv.generation,
        trigger=inv.trigger,
    )
    return Record(entry)
