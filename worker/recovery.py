"""Jobs that did not end on their worker: *abandoned* (the worker died: its heartbeat lapsed) and
*handed back* (the worker stopped after its grace). Both go back to the front of their queue under
the same RQ id (``rq_batch.Reclaimer``, atomic: one requeuer wins each job), and each gets one
history entry (``attempts.interruption``: ``abandoned`` / ``interrupted``, the attempt's number,
no counters), so the next entry of the occurrence is the same attempt run again with the same
idempotency key.

``check_forever`` runs in every worker: every ``ABANDONED_CHECK`` s, one Lua call per queue; it
judges only once Redis has answered this worker for a whole heartbeat TTL (since its start or its
last outage), so jobs of workers that were cut off from Redis too keep their owners.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from worker.attempts import ABANDONED, INTERRUPTED, Record, interruption
from worker.contract import TASK, ContractError, HistoryStatus, Invocation
from worker.health import TRANSIENT, RedisLink, Unreachable
from worker.rq_batch import Claimed, Reclaimer, Requeued

ABANDONED_CHECK = 2.0  # seconds between checks for abandoned jobs
HAND_BACK_TIMEOUT = 5.0  # seconds a stopping worker tries to reach Redis to hand its jobs back

Recorder = Callable[[Record], Awaitable[None]]


class Recovery:
    def __init__(
        self,
        reclaimer: Reclaimer,
        record: Recorder,
        link: RedisLink,
        worker_name: str,
        grace: float,
        settle: float,
        log: logging.Logger,
    ):
        self.reclaimer, self.record, self.link = reclaimer, record, link
        self.worker_name, self.grace, self.settle, self.log = worker_name, grace, settle, log

    async def check_forever(self, queues: Callable[[], Sequence[str]]) -> None:
        while True:
            await asyncio.sleep(ABANDONED_CHECK)
            if not self.link.settled(self.settle):
                continue  # just started or reconnected: the others may not have sent heartbeats yet
            for queue in queues():
                try:
                    found = await self.reclaimer.abandoned(queue, time.time())
                except TRANSIENT as e:
                    self.link.lost(e)
                    break
                self.link.ok()
                if found:
                    await self.write_history(found, ABANDONED)

    async def hand_back(self, jobs: Sequence[Claimed]) -> str:
        """Requeue these (stopped) jobs if they are still started; a summary for the log line.
        If Redis stays away, they stay started: another worker finds them abandoned later."""
        deadline = time.monotonic() + HAND_BACK_TIMEOUT
        requeued: list[Requeued] = []
        try:
            for queue in sorted({job.queue for job in jobs}):
                requeued += await self.link.call(
                    self._hand_back_call(queue, [job for job in jobs if job.queue == queue]),
                    stop=lambda: time.monotonic() > deadline,
                )
        except Unreachable:
            return f"{len(jobs)} left started for recovery by another worker (Redis unreachable)"
        await self.write_history(requeued, INTERRUPTED)
        return f"{len(requeued)} handed back to the queue"

    def _hand_back_call(self, queue: str, jobs: list[Claimed]) -> Callable[[], Awaitable[list[Requeued]]]:
        return lambda: self.reclaimer.hand_back(queue, jobs, time.time())

    async def write_history(self, jobs: Sequence[Requeued], status: HistoryStatus) -> None:
        now, writes = time.time(), []
        for job in jobs:
            if status == ABANDONED:
                self.log.warning(
                    "Worker %s: %s abandoned by worker %s (no heartbeat); %s",
                    self.worker_name,
                    job.id,
                    job.worker_name,
                    "failed: no retries left" if job.failed else "requeued under the same id",
                )
            inv = invocation_of(job)
            if inv is not None:
                text = message(job, status, self.grace)
                writes.append(self.record(interruption(inv, status, job.started_at or now, now, text)))
        for result in await asyncio.gather(*writes, return_exceptions=True):
            if isinstance(result, Exception) and not isinstance(result, Unreachable):
                self.log.warning("Worker %s: history of a requeued job not written: %s", self.worker_name, result)


def invocation_of(job: Requeued) -> Invocation | None:
    if job.func_name != TASK or len(job.args) != 1:
        return None
    try:
        return Invocation.from_dict(job.args[0])
    except (ContractError, TypeError, ValueError, KeyError):
        return None


def message(job: Requeued, status: HistoryStatus, grace: float) -> str:
    if status == INTERRUPTED:
        return (
            f"interrupted: worker {job.worker_name} shut down before this attempt ended (grace {grace:g} s); "
            "handed back to the queue under the same id"
        )
    if job.failed:
        return f"abandoned: worker {job.worker_name} stopped sending heartbeats; no retries left, the RQ job failed"
    return (
        f"abandoned: worker {job.worker_name} stopped sending heartbeats during this attempt; "
        f"requeued under the same id ({job.retries_left} such retries left)"
    )
