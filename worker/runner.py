"""Carry out one RQ job of an occurrence: its attempt, then what ``worker.attempts.decide`` says.

    check (retries and error actions only: the job may be deleted, disabled or changed)
      → attempt (the target) → record → retry later (a new RQ job) | error action now | done

The runner owns no policy (``worker.attempts``) and no I/O of its own: the store, the target
caller and the clock are parameters, so unit tests drive it with fakes. Nothing a target raises
reaches history as a traceback: only its one-line message (the traceback goes to the log).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from worker.attempts import ErrorAction, Record, Retry, Step, action_of, decide, needs_liveness_check
from worker.contract import Invocation
from worker.targets import target_for
from worker.targets.base import Outcome, TargetContext, TargetError

log = logging.getLogger("cronplane.worker")
Clock = Callable[[], float]


class Store(Protocol):
    def record(self, rec: Record) -> Awaitable[None]: ...
    def hold_running(self, job: str, rq_job_id: str, ttl: int) -> Awaitable[None]: ...
    def release_running(self, job: str, rq_job_id: str) -> Awaitable[None]: ...
    def schedule_retry(self, retry: Retry, queue: str, now: float) -> Awaitable[None]: ...
    async def why_stopped(self, inv: Invocation) -> str | None: ...


Attempt = Callable[[Mapping[str, Any], Invocation], Awaitable[Outcome]]


def target_attempt(ctx: TargetContext) -> Attempt:
    """One attempt through the real targets; every failure becomes an Outcome."""

    async def attempt(action: Mapping[str, Any], inv: Invocation) -> Outcome:
        try:
            return await target_for(str(action.get("type")))(action, inv, ctx)
        except TargetError as e:
            return e.outcome()
        except Exception as e:  # a bug or an SDK surprise: one line in history, details in the log
            log.exception("invocation %s: unexpected error in the %s target", inv.id, action.get("type"))
            return Outcome(ok=False, message=f"internal error: {e.__class__.__name__}", retryable=True)

    return attempt


class Runner:
    def __init__(self, store: Store, attempt: Attempt, job_timeout: int, clock: Clock = time.time):
        self.store, self.attempt, self.job_timeout, self.clock = store, attempt, job_timeout, clock

    async def run(self, inv: Invocation, rq_job_id: str, queue: str) -> str:
        """Returns the RQ job's result: completed, faulted, retry n at ..., stopped: ..."""
        if inv.phase == "main":
            await self.store.hold_running(inv.job, rq_job_id, self.job_timeout * 2)
        while True:
            if needs_liveness_check(inv) and (reason := await self.store.why_stopped(inv)):
                log_attempt(inv, f"stopped: {reason}", 0.0)
                await self.store.release_running(inv.job, rq_job_id)
                return f"stopped: {reason}"
            step = await self._one(inv)
            if isinstance(step.next, Retry):
                await self.store.schedule_retry(step.next, queue, self.clock())
                return f"retry {step.next.invocation.attempt} at {step.next.due:.3f}"
            if isinstance(step.next, ErrorAction):
                inv = step.next.invocation
                continue
            await self.store.release_running(inv.job, rq_job_id)
            return step.next.result

    async def _one(self, inv: Invocation) -> Step:
        started = self.clock()
        outcome = await self.attempt(action_of(inv), inv)
        ended = self.clock()
        step = decide(inv, outcome, started, ended)
        await self.store.record(step.record)
        log_attempt(inv, outcome_text(outcome, step), ended - started)
        return step


def outcome_text(outcome: Outcome, step: Step) -> str:
    if outcome.ok:
        return "ok"
    first = outcome.message.splitlines()[0] if outcome.message else ""
    if isinstance(step.next, Retry):
        return f"failed, retry {step.next.invocation.attempt} at {step.next.due:.3f} ({first})"
    return f"failed ({first})"


def log_attempt(inv: Invocation, outcome: str, seconds: float) -> None:
    """One concise line per attempt: job, invocation, phase, attempt, outcome, duration."""
    level = logging.INFO if outcome == "ok" else logging.WARNING
    if log.isEnabledFor(level):
        log.log(level, "%s %s %s#%d %s %.1fms", inv.job, inv.id, inv.phase, inv.attempt, outcome, seconds * 1000)
