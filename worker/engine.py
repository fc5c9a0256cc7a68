"""The worker process: an RQ worker that runs many invocations at once on one asyncio event loop.

``CronplaneWorker`` is a ``rq.BaseWorker``: it registers itself (``rq info`` and rq-dashboard list
it, with its state and job counts), answers RQ's commands (``stop-job`` stops one invocation,
``shutdown`` the worker) and runs RQ's registry maintenance. Only its work loop is its own,
designed for throughput:

- claim up to ``concurrency - in flight`` jobs per Lua call (``worker.rq_batch``), which also moves
  due retries to the front of the queue and tells when the next retry is due; claim again at that
  instant or after ``RETRY_POLL`` s, whichever is sooner, so a retry is claimed right at its due
  time, never before; when idle, block on the queue (BLMOVE onto itself) meanwhile;
- each job is a task on the loop; targets share the process's clients (``worker.targets.clients``);
- the writes of all jobs finishing together go out as one Lua call (``worker.batch``);
- one worker heartbeat per second with the job counts, one in-flight heartbeat per
  ``JOB_HEARTBEAT`` s for every running job.

Recovery of a dead worker's jobs (``worker.recovery``): every 2 s each worker takes the jobs
whose heartbeat is more than ``HEARTBEAT_GRACE`` s late and requeues them at the front of their
queue under the same id, recording an ``abandoned`` history entry; so a SIGKILLed worker's
invocation runs again, with the same idempotency key, about 10 s later.

Outages (``worker.health``): every Redis call of the loop and of the background tasks (claims,
commits, heartbeats, the abandoned check, RQ's maintenance and pubsub thread) waits and retries
with a backoff capped at 1 s; one warning when Redis is lost, one when it is back. Writes of
finished attempts are held and retried (``worker.batch``), so nothing is lost; a background task
that fails otherwise logs one line and restarts.

Shutdown: the first SIGTERM/SIGINT (or RQ's ``shutdown`` command) stops claiming and lets the
invocations in flight finish for up to ``grace`` s; what still runs then is handed back (requeued
at the front of its queue under the same id, an ``interrupted`` history entry) so another worker
takes it at once. A second signal hands back at once. One line tells what happened; exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from rq import worker_registration
from rq.command import parse_payload
from rq.executions import Execution
from rq.job import Job
from rq.registry import DeferredJobRegistry, FailedJobRegistry, FinishedJobRegistry
from rq.utils import now as rq_now
from rq.worker import BaseWorker

from worker import rq_batch
from worker.batch import Batcher
from worker.contract import TASK, Invocation
from worker.health import TRANSIENT, Backoff, RedisLink, Unreachable
from worker.recovery import Recovery
from worker.redis_url import async_redis_from_url
from worker.replication import ReplicationGate
from worker.rq_batch import Claimed, Claimer, Reclaimer
from worker.runner import Runner, target_attempt
from worker.secrets import EnvFileSecrets
from worker.settings import WorkerSettings
from worker.store import WorkerStore
from worker.targets.clients import Clients

log = logging.getLogger("cronplane.worker")
RETRY_POLL = 0.1  # seconds between claims (and retry moves) while busy or idle
JOB_HEARTBEAT = 2  # seconds between heartbeats of running jobs
HEARTBEAT_GRACE = 6  # a job whose heartbeat is this late is abandoned: another worker requeues it
DRAIN_TIMEOUT = 5.0  # at shutdown, how long writes are held while Redis is away
SOCKET_TIMEOUT = 5.0  # a hung Redis (SIGSTOP, a dead host) is noticed after this long
# redis-py retries each command itself (10 times by default): once, at once, on a connection
# error is enough for a stale pooled connection (Redis restarted); a timeout is not retried (it
# would double the time to notice a hung server). Longer outages are the engine's backoff, which
# logs them once.
CLIENT_OPTIONS: dict[str, Any] = {
    "socket_timeout": SOCKET_TIMEOUT,
    "socket_connect_timeout": 2.0,
    "retry": Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
}


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
        self.link = RedisLink(self.name, log)
        self.inflight: dict[str, tuple[Claimed, asyncio.Task[None]]] = {}
        self._stop_ids: set[str] = set()
        self._stopping = asyncio.Event()
        self._hand_back_now = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stats = [0, 0, 0.0]  # succeeded, failed, working seconds since the last heartbeat
        self._poll = RETRY_POLL  # seconds until the next claim: sooner when a retry is due sooner
        self._backoff = Backoff()
        self._finished_in_grace = 0

    def execute_job(self, job: Job, queue: Any) -> None:  # RQ's one-job-at-a-time path: unused
        raise NotImplementedError("CronplaneWorker runs jobs in batches")

    @property
    def heartbeat_ttl(self) -> int:
        return JOB_HEARTBEAT + HEARTBEAT_GRACE

    @property
    def connection_timeout(self) -> int:
        """Socket timeout of RQ's synchronous client (RQ sizes it for a blocking dequeue, which
        this worker does on its own client): a hung Redis must not hold a shutdown for a minute."""
        return int(SOCKET_TIMEOUT)

    def work(self, burst: bool = False, logging_level: str | None = "INFO", **_: Any) -> bool:  # type: ignore[override]
        self.bootstrap(logging_level)
        try:
            with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
                return runner.run(self._main(burst))
        finally:
            self.teardown()

    def register_birth(self) -> None:
        """RQ's registration, after forgetting a dead predecessor of the same name on this host (a
        pool restarts a killed process under its name; RQ would refuse it until the key expires)."""
        death, host, pid = (_text(v) for v in self.connection.hmget(self.key, ["death", "hostname", "pid"]))
        if host and not death and host == self.hostname and pid.isdigit() and not _alive(int(pid)):
            self.log.warning("Worker %s: replacing the record of its dead predecessor (PID %s)", self.name, pid)
            self.connection.delete(self.key)
        super().register_birth()

    def teardown(self) -> None:
        """RQ's teardown, without a traceback when Redis is away (the worker key expires)."""
        try:
            self.register_death()
        except TRANSIENT:
            pass
        if self.pubsub_thread:
            try:
                self.pubsub.unsubscribe()
            except TRANSIENT:
                pass
            self.pubsub_thread.stop()
            self.pubsub_thread.join(timeout=1)

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

    def _pubsub_exception_handler(self, exc: Exception, pubsub: Any, pubsub_thread: Any) -> None:
        """The command thread survives everything: redis-py reconnects and resubscribes on the
        next read. The loop's own calls report the outage (once), so this thread stays quiet."""
        if not isinstance(exc, TRANSIENT):
            self.log.warning("Worker %s: command channel: %s; retrying", self.name, exc.__class__.__name__)
        time.sleep(1.0)

    def _stop_job(self, job_id: str) -> None:
        found = self.inflight.get(job_id)
        if found is None:
            self.log.warning("Worker %s: not running job %s, stop-job ignored", self.name, job_id)
            return
        self._stop_ids.add(job_id)
        found[1].cancel()

    def _request_stop(self) -> None:
        if self._stopping.is_set():
            self.log.warning("Worker %s: second stop: handing back %d invocations now", self.name, len(self.inflight))
            self._hand_back_now.set()
        else:
            self.log.warning(
                "Worker %s: stopping: no new work; %d invocations in flight get %g s to finish",
                self.name,
                len(self.inflight),
                self.settings.grace,
            )
        self._stopping.set()

    # --- the loop --------------------------------------------------------------------------
    async def _main(self, burst: bool) -> bool:
        self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, self._request_stop)
        r = async_redis_from_url(self.settings.redis_url, **CLIENT_OPTIONS)
        waiter = async_redis_from_url(self.settings.redis_url, **CLIENT_OPTIONS)
        self.batch = Batcher(r, link=self.link, token_prefix=self.settings.keys.prefix)
        clients = Clients(self.settings, EnvFileSecrets())
        self.runner = Runner(
            WorkerStore(r, self.settings, self.batch, self.link),
            target_attempt(clients),
            self.settings.job_timeout,
            slots=clients.slots,
        )
        self.gate = ReplicationGate(r, self.settings.replica_acks, log)  # owns the claim connection
        claimer = Claimer(r, self.name, self.settings.keys.prefix, self.heartbeat_ttl, lambda: self.gate.conn)
        self.recovery = Recovery(
            Reclaimer(r), self.runner.store.record, self.link, self.name, self.settings.grace, self.heartbeat_ttl, log
        )
        background = [
            asyncio.create_task(self._forever("heartbeats", lambda: self._heartbeats(r))),
            asyncio.create_task(self._forever("maintenance", self._maintenance)),
            asyncio.create_task(
                self._forever("abandoned-job check", lambda: self.recovery.check_forever(self.queue_names))
            ),
        ]
        worked = False
        try:
            worked = await self._claim_loop(claimer, waiter, burst)
            handed_back = await self._finish_inflight()
            await self._drain()
            if self._stopping.is_set():
                self.log.warning(
                    "Worker %s: stopped; %d invocations finished during the grace, %s",
                    self.name,
                    self._finished_in_grace,
                    handed_back,
                )
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            try:
                await self._flush_heartbeat(r)
            except TRANSIENT:
                pass
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
            if claimed is None:  # Redis away: waited a backoff step
                continue
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

    async def _claim(self, claimer: Claimer, free: int) -> list[Claimed] | None:
        """Claim up to ``free`` jobs; note when the next pending retry is due (``_poll``).
        None when Redis cannot be reached (after a backoff step, cut short by a stop)."""
        claimed: list[Claimed] = []
        now = time.time()
        self._poll = RETRY_POLL
        try:
            for queue in self.queue_names():
                jobs, next_due = await claimer.claim(queue, max(0, free - len(claimed)), now)
                claimed += jobs
                if next_due is not None:
                    self._poll = min(self._poll, max(0.001, next_due - now))
            if not await self.gate.confirm(len(claimed)):
                claimed = []  # claimed on a demoted master: the new master dispatches them again
        except TRANSIENT as e:
            # A job popped by a claim whose reply was lost stays in the StartedJobRegistry under
            # this worker's name: its heartbeat lapses and the abandoned check requeues it.
            if not self.gate.active:
                for job in claimed:
                    self.inflight[job.id] = (job, asyncio.create_task(self._run_job(job)))
            # With the gate, jobs whose claim no replica confirmed are not run here: if the claim
            # reached a replica, the abandoned-job check requeues them; if not, they are dispatched again.
            self.link.lost(e)
            await self.gate.reconnect()
            await self._sleep_unless_stopping(self._backoff.next())
            return None
        self.link.ok()
        self._backoff.reset()
        return claimed

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

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
        elif not block.cancelled() and isinstance(error := block.exception(), TRANSIENT):
            self.link.lost(error)  # a refused or hung connection; the next claim backs off

    async def _finish_inflight(self) -> str:
        """Let the jobs in flight finish within the grace; hand back the rest. Returns a summary."""
        tasks = [task for _, task in self.inflight.values()]
        if not tasks:
            return "none handed back"
        if self._stopping.is_set():
            before = len(tasks)
            wake = asyncio.create_task(self._hand_back_now.wait())
            all_done = asyncio.ensure_future(asyncio.wait(tasks))
            await asyncio.wait([all_done, wake], timeout=self.settings.grace, return_when=asyncio.FIRST_COMPLETED)
            wake.cancel()
            all_done.cancel()
            left = [job for job, task in self.inflight.values() if not task.done()]
            self._finished_in_grace = before - len(left)
            if left:
                return await self._hand_back(left)
            return "none handed back"
        await asyncio.gather(*tasks, return_exceptions=True)  # burst: every job runs to its end
        return "none handed back"

    async def _hand_back(self, jobs: list[Claimed]) -> str:
        """Stop these jobs and requeue them (front of the queue, same id) with an ``interrupted``
        history entry each. Their writes already queued go first, so a job whose result reached
        Redis is not requeued. If Redis is away, they stay started: the abandoned check of
        another worker requeues them when their heartbeat lapses."""
        tasks = [self.inflight[job.id][1] for job in jobs]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._drain()
        return await self.recovery.hand_back(jobs)

    async def _drain(self) -> None:
        """Commit what is queued; while Redis is away, hold writes for DRAIN_TIMEOUT s at most."""
        assert self._loop is not None
        timer = self._loop.call_later(DRAIN_TIMEOUT, setattr, self.batch, "give_up", True)
        try:
            await self.batch.drain()
        except Unreachable:
            pass
        finally:
            timer.cancel()

    # --- one job ---------------------------------------------------------------------------
    async def _run_job(self, job: Claimed) -> None:
        try:
            result = await asyncio.wait_for(self._perform(job), timeout=job.timeout or self.settings.job_timeout)
        except asyncio.CancelledError:
            if job.id in self._stop_ids:
                await self._fail(job, "Job stopped by user, work-horse terminated.", stopped=True)
            # otherwise a shutdown: _hand_back requeues it
        except Exception:
            await self._fail(job, traceback.format_exc(), stopped=False)
        else:
            ended = time.time()
            ttl = self.settings.bounds.result_ttl
            try:
                await self.batch.submit(lambda pipe: rq_batch.finish_success(pipe, job, result, self.name, ended, ttl))
            except Unreachable:
                return  # a shutdown during an outage: the job stays started and is recovered
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
            return  # deleted meanwhile, or Redis away (the job stays started: recovered)
        queue = self.queue_class(claimed.queue, connection=self.connection)
        execution = Execution(claimed.execution_id, claimed.id, connection=self.connection, worker_name=self.name)
        execution.created_at = datetime.fromtimestamp(claimed.started_at, UTC)
        job.started_at, job.ended_at = execution.created_at, datetime.now(UTC)
        self._stopped_job_id = claimed.id if stopped else None
        try:
            self.handle_job_failure(job, queue, exc_string=exc_string, execution=execution)
        except TRANSIENT as e:
            self.link.lost(e)
            return
        level = logging.WARNING if stopped else logging.ERROR
        self.log.log(level, "Worker %s: job %s %s", self.name, claimed.id, "stopped" if stopped else "raised")

    # --- heartbeats and maintenance --------------------------------------------------------
    async def _forever(self, what: str, loop: Callable[[], Awaitable[None]]) -> None:
        """Run a background loop; if it fails other than by an outage, one line, and again."""
        while True:
            try:
                await loop()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.log.error("Worker %s: %s failed (%s: %s); restarting it", self.name, what, e.__class__.__name__, e)
                await asyncio.sleep(1.0)

    async def _heartbeats(self, r: Any) -> None:
        last_jobs, seen_up = time.time(), self.link.up_since
        while True:
            await asyncio.sleep(1.0)
            try:
                await self._flush_heartbeat(r)
            except TRANSIENT as e:
                self.link.lost(e)
                continue
            self.link.ok()
            back = self.link.up_since != seen_up  # Redis came back: heartbeat the jobs at once
            if self.inflight and (back or time.time() - last_jobs >= JOB_HEARTBEAT):
                last_jobs, seen_up = time.time(), self.link.up_since
                future = self.batch.submit(self._job_heartbeats([job for job, _ in self.inflight.values()]))
                future.add_done_callback(_ignore_result)

    def _job_heartbeats(self, jobs: list[Claimed]) -> Callable[[Any], None]:
        return lambda pipe: rq_batch.heartbeat(pipe, jobs, time.time(), self.heartbeat_ttl)

    async def _flush_heartbeat(self, r: Any) -> None:
        succeeded, failed, seconds = self._stats
        self._stats = [0, 0, 0.0]
        try:
            async with r.pipeline(transaction=False) as pipe:
                pipe.hset(
                    self.key, mapping={"last_heartbeat": rq_batch.rq_time(time.time()), "state": self._state_name()}
                )
                pipe.expire(self.key, self.worker_ttl + 60)
                pipe.expire(self.executions_key, self.worker_ttl + 60)
                rq_batch.worker_stats(pipe, self.key, int(succeeded), int(failed), float(seconds))
                await pipe.execute()
        except BaseException:
            self._stats = [self._stats[0] + succeeded, self._stats[1] + failed, self._stats[2] + seconds]
            raise

    def _state_name(self) -> str:
        return "busy" if self.inflight else "idle"

    async def _maintenance(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await loop.run_in_executor(None, self.clean_registries)
            except TRANSIENT as e:
                self.link.lost(e)
                await asyncio.sleep(1.0)
                continue
            await asyncio.sleep(self.maintenance_interval)

    def clean_registries(self) -> None:
        """RQ's registry maintenance (TTL clean-up of finished, failed and deferred jobs, dead
        workers), except the StartedJobRegistry: its abandoned jobs are ``worker.recovery``'s, and two
        requeuers racing could put one job in the queue twice."""
        for queue in self.queues:
            if not queue.acquire_maintenance_lock():
                continue
            try:
                for registry in (FinishedJobRegistry, FailedJobRegistry, DeferredJobRegistry):
                    registry(queue.name, connection=queue.connection, job_class=queue.job_class).cleanup()
                worker_registration.clean_worker_registry(queue)
            finally:
                queue.release_maintenance_lock()
        self.last_cleaned_at = rq_now()  # type: ignore[assignment]


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else value or ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ignore_result(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a held heartbeat that failed at shutdown is no news
