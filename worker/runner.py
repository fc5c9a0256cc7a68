"""One attempt of one invocation, and what follows it: record, retry later, error action, done.

State machine per occurrence (reference §1.3.5, §3, §9 F):

    main attempt n ──ok──────────────────────────────────────────────► done
        │ failed, retryable, n < retryCount → a new RQ job at now + delay (no worker waits)
        │ failed otherwise → faulted (faultedCount + 1; condition Faulted if no run follows)
        ▼
    error action attempt n (same policy shape: invocation.error_retry) ──► done

Retries are scheduled with RQ's scheduler under deterministic ids (``<id>-m<n>`` / ``-e<n>``),
so a replayed attempt cannot schedule a second retry. Counters: executionCount = main-action
attempts, failureCount = failed main attempts, faultedCount = occurrences that used up their
retries. Nothing a target raises reaches history as a traceback: only its one-line message.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from rq import Queue

from worker.contract import ERROR_ACTION, MAIN_ACTION, TASK, HistoryEntry, Invocation
from worker.records import worker_status_fields
from worker.secrets import EnvFileSecrets
from worker.settings import WorkerSettings
from worker.store import WorkerStore
from worker.targets import target_for
from worker.targets.base import Outcome, SecretResolver, TargetError

log = logging.getLogger("cronplane.worker")
Clock = Callable[[], float]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def attempt(action: Mapping[str, Any], inv: Invocation, secrets: SecretResolver, settings: WorkerSettings) -> Outcome:
    try:
        return target_for(str(action.get("type")))(action, inv, secrets, settings)
    except TargetError as e:
        return Outcome(ok=False, message=str(e), retryable=e.retryable)
    except Exception as e:  # a bug or an SDK surprise: one line in history, details only in the log
        log.exception("invocation %s: unexpected error in the %s target", inv.id, action.get("type"))
        return Outcome(ok=False, message=f"internal error: {e.__class__.__name__}", retryable=True)


class Runner:
    def __init__(
        self,
        store: WorkerStore,
        queue: Queue,
        settings: WorkerSettings,
        secrets: SecretResolver | None = None,
        clock: Clock = time.time,
        rq_job_id: str | None = None,
    ):
        self.store, self.queue, self.settings = store, queue, settings
        self.secrets = secrets or EnvFileSecrets()
        self.clock = clock
        self.rq_job_id = rq_job_id  # the RQ job carrying this attempt (what `replace` stops)

    def run(self, inv: Invocation) -> str:
        main = inv.phase == "main"
        action = inv.action if main else (inv.action.get("errorAction") or {})
        marker = self.rq_job_id or inv.id
        if main:
            self.store.hold_running(inv.job, marker, self.settings.job_timeout * 2)
        started = self.clock()
        outcome = attempt(action, inv, self.secrets, self.settings)
        ended = self.clock()
        policy = inv.retry if main else inv.error_retry
        retry = (
            not outcome.ok and (outcome.retryable or policy.retry_client_errors) and inv.attempt < policy.max_retries
        )
        faulted = main and not outcome.ok and not retry
        self._record(inv, outcome, started, ended, faulted)
        log.info("invocation %s %s attempt %d: %s", inv.id, inv.phase, inv.attempt, "ok" if outcome.ok else "failed")
        if retry:
            return self._schedule_retry(inv, policy.delay_before(inv.attempt + 1), outcome.retry_after)
        if faulted and inv.action.get("errorAction"):
            return self.run(inv.to_error_phase())
        self.store.release_running(inv.job, marker)
        return "completed" if outcome.ok else ("faulted" if main else "error-action-failed")

    def _record(self, inv: Invocation, outcome: Outcome, started: float, ended: float, faulted: bool) -> None:
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
            started_iso=iso(started),
            faulted=faulted,
            final=inv.final,
            generation=inv.generation,
            reason=f"the last occurrence ({inv.id}) failed after all retries",
            retry=inv.attempt > 0,
        )
        lateness = started - inv.expected if main and not inv.attempt else None  # due → started (metrics)
        self.store.record(entry, score_ms=int(started * 1000), counters=counters, status=status, lateness=lateness)

    def _schedule_retry(self, inv: Invocation, delay: float, retry_after: float | None) -> str:
        nxt = inv.next_attempt()
        wait = max(delay, retry_after or 0.0)
        # RQ's scheduler keeps whole seconds (it truncates): round the due time up, so a retry
        # never starts before its interval has passed.
        when = datetime.fromtimestamp(math.ceil(self.clock() + wait), UTC)
        job_id = f"{inv.id}-{'m' if inv.phase == 'main' else 'e'}{nxt.attempt}"
        self.store.hold_running(inv.job, job_id, int(wait) + self.settings.job_timeout * 2)
        from rq.exceptions import DuplicateJobError

        try:
            self.queue.enqueue_at(
                when,
                TASK,
                nxt.to_dict(),
                job_id=job_id,
                unique=True,
                description=job_id,
                job_timeout=self.settings.job_timeout,
                result_ttl=3600,
                failure_ttl=7 * 86400,
            )
        except DuplicateJobError:
            pass  # a replay of this attempt already scheduled the retry
        return f"retry {nxt.attempt} in {timedelta(seconds=round(wait))}"
