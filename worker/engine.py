"""The worker process: an RQ worker that runs many invocations at once on one asyncio event loop.

``CronplaneWorker`` is a ``rq.BaseWorker``: it registers itself (``rq info`` and rq-dashboard list
it, with its state and job counts), answers RQ's commands (``stop-job`` stops one invocation,
``shutdown`` the worker) and runs RQ's maintenance (which requeues the invocations of dead
workers). Only its work loop is its own, designed for throughput:

- claim up to ``concurrency - in flight`` jobs per Lua call (``worker.rq_batch``), which also moves
  due retries to the front of the queue and tells when the next retry is due; claim again at that
  instant or after ``RETRY_POLL`` s, whichever is sooner, so a retry is claimed right at its due
  time, never before; when idle, block on the queue (BLMOVE onto itself) meanwhile;
- each job is a task on the loop; targets share the process's clients (``worker.targets.clients``);
- the writes of all jobs finishing together go out as one MULTI (``worker.batch``);
- one worker heartbeat per second with the job counts, one in-flight heartbeat per
  ``JOB_HEARTBEAT`` s for every running job.

Shutdown: the first SIGTERM/SIGINT stops claiming and waits for the jobs in flight (up to their
timeout); a second one stops at once, leaving the running jobs in RQ's StartedJobRegistry, from
which maintenance requeues them under the same ids when their heartbeat lapses.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis
import redis.asyncio as aioredis
from rq.command import parse_payload
from rq.executions import Execution
from rq.job import Job
from rq.worker import BaseWorker

from worker import rq_batch
from worker.batch import Batcher
from worker.contract import TASK, Invocation
from worker.rq_batch import Claimed, Claimer
from worker.runner import Runner, target_attempt
from worker.secrets import EnvFileSecrets
from worker.settings import WorkerSettings
from worker.store import WorkerStore
from worker.targets.clients import Clients

log = logging.getLogger("cronplane.worker")
RETRY_POLL = 0.1  # seconds between claims (and retry moves) while busy or idle
JOB_HEARTBEAT = 10  # seconds between heartbeats of running jobs
HEARTBEAT_GRACE = 30  # a job whose heartbeat is this late is abandoned (RQ's maintenance requeues it)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed and not disabled (``CRONPLANE_UVLOOP=0``): it halves the event
    loop's own cost per invocation; else asyncio's loop."""
    if os.environ.get("CRONPLANE_UVLOOP", "1") == "0":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class CronplaneWorker(BaseWorker):
    def __init__(self, queues: list[str], connection: redis.Redis, settings: WorkerSettings, **kwargs: Any):
        super().__init__(
            queues,
            connection=connection,
            maintenance_interval=settings.maintenance_interval,
            worker_ttl=max(20, settings.maintenance_interval + 15),
            job_monitoring_interval=JOB_HEARTBEAT,
            **kwargs,
        )
        self.settings = settings
        self.inflight: dict[str, tuple[Claimed, asyncio.Task[None]]] = {}
        self._stop_ids: set[str] = set()
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stats = [0, 0, 0.0]  # succeeded, failed, working seconds since the last heartbeat
        self._poll = RETRY_POLL  # seconds until the next claim: sooner when a retry is due sooner

    def execute_job(self, job: Job, queue: Any) -> None:  # RQ's one-job-at-a-time path: unused
        raise NotImplementedError("CronplaneWorker runs jobs in batches")

    @property
    def heartbeat_ttl(self) -> int:
        return JOB_HEARTBEAT + HEARTBEAT_GRACE

    def work(self, burst: bool = False, logging_level: str | None = "INFO", **_: Any) -> bool:  # type: ignore[override]
        self.bootstrap(logging_level)
        try:
            with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
                return runner.run(self._main(burst))
        finally:
            self.teardown()

    # --- RQ commands arrive on the pubsub thread -------------------------------------------
    def handle_payload(self, message: Any) -> None:
        payload = parse_payload(message)
        loop = self._loop
        if loop is None:
            return
        if payload.get("command") == "stop-job":
            loop.call_soon_threadsafe(self._stop_job, str(payload.get("job_id")))
        elif payload.get("command") == "shutdown":
            loop.call_soon_threadsafe(self._request_stop)

    def _stop_job(self, job_id: str) -> None:
        found = self.inflight.get(job_id)
        if found is None:
            self.log.warning("Worker %s: not running job %s, stop-job ignored", self.name, job_id)
            return
        self._stop_ids.add(job_id)
        found[1].cancel()

    def _request_stop(self) -> None:
        if self._stopping.is_set():
            self.log.warning("Worker %s: cold shut down; %d jobs left to RQ's recovery", self.name, len(self.inflight))
            for _, task in self.inflight.values():
                task.cancel()
        else:
            self.log.info("Worker %s: stopping after %d jobs in flight", self.name, len(self.inflight))
        self._stopping.set()

    # --- the loop --------------------------------------------------------------------------
    async def _main(self, burst: bool) -> bool:
        self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, self._request_stop)
        # Waits for a free connection rather than failing: a herd's liveness reads are concurrent.
        pool = aioredis.BlockingConnectionPool.from_url(self.settings.redis_url, max_connections=32, timeout=None)
        r = aioredis.Redis(connection_pool=pool)
        waiter = aioredis.Redis.from_url(self.settings.redis_url)
        self.batch = Batcher(r)
        clients = Clients(self.settings, EnvFileSecrets())
        self.runner = Runner(
            WorkerStore(r, self.settings, self.batch),
            target_attempt(clients),
            self.settings.job_timeout,
            slots=clients.slots,
        )
        claimer = Claimer(r, self.name, self.settings.keys.prefix, self.heartbeat_ttl)
        background = [asyncio.create_task(self._heartbeats()), asyncio.create_task(self._maintenance())]
        worked = False
        try:
            worked = await self._claim_loop(claimer, waiter, burst)
            await self._finish_inflight()
            await self.batch.drain()
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self._flush_heartbeat(r)
            await clients.close()
            await r.aclose()
            await waiter.aclose()
        return worked

    async def _claim_loop(self, claimer: Claimer, waiter: Any, burst: bool) -> bool:
        worked = False
        concurrency = self.settings.concurrency
        while not self._stopping.is_set():
            free = concurrency - len(self.inflight)
            claimed = await self._claim(claimer, free)
            for job in claimed:
                self.inflight[job.id] = (job, asyncio.create_task(self._run_job(job)))
            worked = worked or bool(claimed)
            # Done only when a claim that asked for jobs found none (a claim of 0 while full can
            # return while the jobs in flight all finish: the queue may still hold work).
            if burst and free > 0 and not claimed and not self.inflight:
                break
            if claimed and len(claimed) == free:
                await self._wait_for_room()
            elif not claimed and not self.inflight:
                await self._wait_for_work(waiter)
            else:
                await self._wait_for_room()
        return worked

    async def _claim(self, claimer: Claimer, free: int) -> list[Claimed]:
        """Claim up to ``free`` jobs; note when the next pending retry is due (``_poll``)."""
        claimed: list[Claimed] = []
        now = time.time()
        self._poll = RETRY_POLL
        try:
            for queue in self.queue_names():
                jobs, next_due = await claimer.claim(queue, max(0, free - len(claimed)), now)
                claimed += jobs
                if next_due is not None:
                    self._poll = min(self._poll, max(0.001, next_due - now))
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
            self.log.error("Worker %s: cannot reach Redis (%s); retrying in 1 s", self.name, e.__class__.__name__)
            await asyncio.sleep(1.0)
        return claimed

    async def _wait_for_room(self) -> None:
        tasks = [task for _, task in self.inflight.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=self._poll, return_when=asyncio.FIRST_COMPLETED)
            await asyncio.sleep(0.002)  # let the jobs finishing at the same time join the next claim
        else:
            await asyncio.sleep(self._poll)

    async def _wait_for_work(self, waiter: Any) -> None:
        """Block until a job arrives on the first queue (BLMOVE onto itself leaves the list as it
        was) or RETRY_POLL passes, whichever comes first."""
        key = rq_batch.QUEUE_PREFIX + self.queue_names()[0]
        stop = asyncio.create_task(self._stopping.wait())
        block = asyncio.create_task(waiter.blmove(key, key, max(0.01, self._poll), "LEFT", "LEFT"))
        await asyncio.wait([stop, block], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not block.done():
            block.cancel()

    async def _finish_inflight(self) -> None:
        tasks = [task for _, task in self.inflight.values()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- one job ---------------------------------------------------------------------------
    async def _run_job(self, job: Claimed) -> None:
        try:
            result = await asyncio.wait_for(self._perform(job), timeout=job.timeout or self.settings.job_timeout)
        except asyncio.CancelledError:
            if job.id in self._stop_ids:
                await self._fail(job, "Job stopped by user, work-horse terminated.", stopped=True)
            # otherwise a cold shutdown: the job stays started; RQ's maintenance requeues it
        except Exception:
            await self._fail(job, traceback.format_exc(), stopped=False)
        else:
            ended = time.time()
            ttl = self.settings.bounds.result_ttl
            await self.batch.submit(lambda pipe: rq_batch.finish_success(pipe, job, result, self.name, ended, ttl))
            self._stats[0] += 1
            self._stats[2] += ended - job.started_at
        finally:
            self.inflight.pop(job.id, None)
            self._stop_ids.discard(job.id)

    async def _perform(self, job: Claimed) -> str:
        if job.func_name != TASK or len(job.args) != 1:
            raise TypeError(f"cronplane worker runs only {TASK}(payload), not {job.func_name or 'this job'}")
        inv = Invocation.from_dict(job.args[0])
        return await self.runner.run(inv, job.id, job.queue)

    async def _fail(self, job: Claimed, exc_string: str, stopped: bool) -> None:
        """RQ's own failure path (rare): FailedJobRegistry, Result, status, or a requeue while the
        job has abandoned-work retries left (never for a stopped job)."""
        self._stats[1] += 1
        await asyncio.get_running_loop().run_in_executor(None, self._fail_sync, job, exc_string, stopped)

    def _fail_sync(self, claimed: Claimed, exc_string: str, stopped: bool) -> None:
        try:
            job = Job.fetch(claimed.id, connection=self.connection)
        except Exception:
            return  # deleted meanwhile: nothing to record
        queue = self.queue_class(claimed.queue, connection=self.connection)
        execution = Execution(claimed.execution_id, claimed.id, connection=self.connection, worker_name=self.name)
        execution.created_at = datetime.fromtimestamp(claimed.started_at, UTC)
        job.started_at, job.ended_at = execution.created_at, datetime.now(UTC)
        self._stopped_job_id = claimed.id if stopped else None
        self.handle_job_failure(job, queue, exc_string=exc_string, execution=execution)
        level = logging.WARNING if stopped else logging.ERROR
        self.log.log(level, "Worker %s: job %s %s", self.name, claimed.id, "stopped" if stopped else "raised")

    # --- heartbeats and maintenance --------------------------------------------------------
    async def _heartbeats(self) -> None:
        r = self.batch.r
        last_jobs = time.time()
        while True:
            await asyncio.sleep(1.0)
            await self._flush_heartbeat(r)
            if time.time() - last_jobs >= JOB_HEARTBEAT and self.inflight:
                last_jobs = time.time()
                await self.batch.submit(self._job_heartbeats([job for job, _ in self.inflight.values()]))

    def _job_heartbeats(self, jobs: list[Claimed]) -> Callable[[Any], None]:
        return lambda pipe: rq_batch.heartbeat(pipe, jobs, time.time(), self.heartbeat_ttl)

    async def _flush_heartbeat(self, r: Any) -> None:
        succeeded, failed, seconds = self._stats
        self._stats = [0, 0, 0.0]
        async with r.pipeline(transaction=False) as pipe:
            pipe.hset(self.key, mapping={"last_heartbeat": rq_batch.rq_time(time.time()), "state": self._state_name()})
            pipe.expire(self.key, self.worker_ttl + 60)
            pipe.expire(self.executions_key, self.worker_ttl + 60)
            rq_batch.worker_stats(pipe, self.key, int(succeeded), int(failed), float(seconds))
            await pipe.execute()

    def _state_name(self) -> str:
        return "busy" if self.inflight else "idle"

    async def _maintenance(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await loop.run_in_executor(None, self.clean_registries)
            await asyncio.sleep(self.maintenance_interval)
