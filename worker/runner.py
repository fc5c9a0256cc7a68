"""Carry out one RQ job of an occurrence: its attempt, then what ``worker.attempts.decide`` says.

    check (retries and error actions only: the job may be deleted, disabled or changed)
      → attempt (the target) → record → retry later (a new RQ job) | error action now | done

The runner owns no policy (``worker.attempts``) and no I/O of its own: the store, the target
caller and the clock are parameters, so unit tests drive it with fakes. Nothing a target raises
reaches history as a traceback: only its one-line message (the traceback goes to the log).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from worker.attempts import ErrorAction, Record, Retry, Step, action_of, decide, needs_liveness_check
from worker.contract import Invocation
from worker.targets import target_for
from worker.targets.base import Outcome, Target, TargetContext, TargetError

log = logging.getLogger("cronplane.worker")
Clock = Callable[[], float]


class Store(Protocol):
    def record(self, rec: Record) -> Awaitable[None]: ...
    def hold_running(self, job: str, rq_job_id: str, ttl: int) -> Awaitable[None]: ...
    def release_running(self, job: str, rq_job_id: str) -> Awaitable[None]: ...
    def schedule_retry(self, retry: Retry, queue: str, now: float) -> Awaitable[None]: ...
    async def why_stopped(self, inv: Invocation) -> str | None: ...


Attempt = Callable[[Mapping[str, Any], Invocation], Awaitable[Outcome]]


def target_attempt(ctx: TargetContext, lookup: Callable[[str], Target] = target_for) -> Attempt:
    """One attempt through the real targets; every failure becomes an Outcome.

    The whole attempt (a token request, the TLS handshake, the request, reading the answer) has
    one deadline, ``settings.http_timeout``: a target that drips bytes, or an SDK call that hangs,
    ends as a retryable "no answer within N s", never holds the invocation longer.
    """
    deadline = ctx.settings.http_timeout

    async def attempt(action: Mapping[str, Any], inv: Invocation) -> Outcome:
        kind = str(action.get("type"))
        try:
            async with asyncio.timeout(deadline):
                return await lookup(kind)(action, inv, ctx)
        except TimeoutError:
            return Outcome(ok=False, message=f"{describe(action)}: no answer within {deadline:g} s", retryable=True)
        except TargetError as e:
            return e.outcome()
        except Exception as e:  # a bug or an SDK surprise: one line in history, details in the log
            log.exception("invocation %s: unexpected error in the %s target", inv.id, action.get("type"))
            return Outcome(ok=False, message=f"internal error: {e.__class__.__name__}", retryable=True)

    return attempt


def describe(action: Mapping[str, Any]) -> str:
    """The target as history names it: the uri of an HTTP action, else the action type."""
    request = action.get("request")
    if isinstance(request, Mapping) and request.get("uri"):
        return str(request["uri"])
    return f"{action.get('type')} target"


Slots = Callable[[Mapping[str, Any], Invocation], AbstractAsyncContextManager[None]]


@asynccontextmanager
async def no_limits(action: Mapping[str, Any], inv: Invocation) -> AsyncIterator[None]:
    yield


class Runner:
    """``slots`` holds the attempt's concurrency limits (``TargetContext.slots``); the attempt,
    its deadline and its recorded start begin once they are held, so waiting is not calling."""

    def __init__(
        self, store: Store, attempt: Attempt, job_timeout: int, clock: Clock = time.time, slots: Slots = no_limits
    ):
        self.store, self.attempt, self.job_timeout, self.clock, self.slots = store, attempt, job_timeout, clock, slots

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
        action = action_of(inv)
        async with self.slots(action, inv):
            started = self.clock()
            outcome = await self.attempt(action, inv)
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
