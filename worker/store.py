"""All of the worker's own Redis access: attempt records, running markers, retries, liveness.

Reads and writes wait while Redis is away (``worker.health``). Writes go through a ``Batcher``:
each call queues its commands and awaits them, and the commands of
the invocations running at the same time share one MULTI. An attempt's record (history entry,
counters, status fields) therefore stays atomic: a reader never sees a history entry without its
counters. Every key written here is bounded: history is trimmed by count and age and expires, the
running marker has a TTL, a retry's RQ job has RQ's TTLs and its entry leaves the retry set when
it is due.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import redis
from rq import Retry as RqRetry
from rq.job import Job, JobStatus

from worker.attempts import Record, Retry
from worker.batch import Batcher
from worker.contract import TASK, HistoryEntry, Invocation, Keys, add_history, observe_lateness
from worker.health import RedisLink
from worker.records import JobRecord
from worker.rq_batch import JOB_PREFIX, retries_key
from worker.settings import WorkerSettings

READS_IN_FLIGHT = 16  # concurrent direct reads per process (the rest wait: bounded connections)


class WorkerStore:
    def __init__(
        self, client: Any, settings: WorkerSettings, batcher: Batcher | None = None, link: RedisLink | None = None
    ):
        self.r, self.keys, self.settings = client, settings.keys, settings
        self.batch = batcher or Batcher(client, link=link, token_prefix=settings.keys.prefix)
        self.link = link
        self._reads = asyncio.Semaphore(READS_IN_FLIGHT)

    def record(self, rec: Record) -> Awaitable[None]:
        entry, keys, bounds = rec.entry, self.keys, self.settings
        status = rec.status

        def commands(pipe: Any) -> None:
            add_history(
                pipe,
                keys,
                entry,
                score_ms=_ms(entry.start_time),  # sub-millisecond: concurrent attempts keep their order
                max_entries=bounds.history_max_entries,
                max_age_seconds=bounds.history_max_age_seconds,
            )
            for name, amount in rec.counters.items():
                pipe.hincrby(keys.status(entry.job), name, amount)
            if status:
                pipe.hset(keys.status(entry.job), mapping=status)
            if rec.lateness is not None:
                observe_lateness(pipe, keys, rec.lateness)

        return self.batch.submit(commands)

    def hold_running(self, job: str, rq_job_id: str, ttl: int) -> Awaitable[None]:
        """Mark the job's occurrence as running (concurrencyPolicy forbid/replace reads it)."""
        key = self.keys.running(job)
        return self.batch.submit(lambda pipe: pipe.set(key, rq_job_id, ex=max(1, ttl)))

    def release_running(self, job: str, rq_job_id: str) -> Awaitable[None]:
        key = self.keys.running(job)
        return self.batch.submit(lambda pipe: pipe.delete_if_equal(key, rq_job_id))

    def schedule_retry(self, retry: Retry, queue: str, now: float) -> Awaitable[None]:
        """The retry's RQ job (status scheduled, RQ's TTLs) and its entry in the worker-owned
        retry set, scored by its due instant; the running marker now names the retry."""
        job = Job.create(
            TASK,
            args=(retry.invocation.to_dict(),),
            id=retry.rq_job_id,
            connection=_NO_CONNECTION,
            description=retry.rq_job_id,
            timeout=self.settings.job_timeout,
            result_ttl=self.settings.bounds.result_ttl,
            failure_ttl=self.settings.bounds.failure_ttl,
            status=JobStatus.SCHEDULED,
            origin=queue,
            retry=RqRetry(max=self.settings.bounds.abandoned_retries),
        )
        mapping = job.to_dict()
        zset = retries_key(self.keys.prefix, queue)
        running = self.keys.running(retry.invocation.job)
        hold = int(retry.due - now) + self.settings.job_timeout * 2

        def commands(pipe: Any) -> None:
            pipe.create_if_new(JOB_PREFIX + job.id, mapping, zset, retry.due, job.id)
            pipe.set(running, retry.rq_job_id, ex=max(1, hold))

        return self.batch.submit(commands)

    async def why_stopped(self, inv: Invocation) -> str | None:
        """Why a retry or error action of ``inv`` must not run any more, or None.

        Reads the job's desired state (written by the sync loop): gone = deleted, active "0" =
        disabled (job or collection), another generation = the job was changed (e.g. re-timed).
        """
        job = JobRecord.from_redis(inv.job, await self._read(lambda: self.r.hgetall(self.keys.job(inv.job))))
        if job is None:
            return "the job was deleted"
        if not job.active:
            return "the job is disabled"
        if job.generation != inv.generation:
            return f"the job changed (generation {job.generation}, this occurrence has {inv.generation})"
        return None

    async def _read(self, op: Callable[[], Awaitable[Any]]) -> Any:
        """One read; while Redis is away it waits (``RedisLink``) rather than failing the job."""
        async with self._reads:
            return await (op() if self.link is None else self.link.call(op))


# Job.create wants a connection; the job is written by the batch pipeline, so it never connects.
_NO_CONNECTION = redis.Redis()


def _ms(iso_text: str) -> float:
    return round(datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp() * 1000, 3)


def history_page(
    client: redis.Redis,
    keys: Keys,
    job: str,
    *,
    top: int,
    skip: int,
    status: str | None,
    max_age_seconds: int,
    now_ms: int,
) -> list[HistoryEntry]:
    """Newest first; ``status`` filters; entries older than the age bound are not returned."""
    raw = client.zrevrangebyscore(keys.history(job), "+inf", now_ms - max_age_seconds * 1000)
    entries = (HistoryEntry.from_json(r) for r in raw)  # type: ignore[arg-type]
    selected = [e for e in entries if status is None or e.status == status]
    return selected[skip : skip + top]
