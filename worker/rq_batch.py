"""RQ's per-job bookkeeping, done for a whole batch of jobs per Redis round trip.

A forking ``rq worker`` spends about 57 Redis commands in some 25 round trips per job. This module
writes the same records, with RQ's own key names and formats, so ``rq info``, rq-dashboard and
RQ's maintenance see exactly what an RQ worker leaves:

- ``claim`` (one Lua call): moves the due retries of ``{prefix}:retries:{queue}`` (a worker-owned
  sorted set scored by due instant, sub-second) to the *front* of the queue, then pops up to ``n``
  jobs and, atomically with the pop, marks each started: job hash (status, started_at,
  worker_name, heartbeat, persisted), Execution hash, the job's ExecutionRegistry, the queue's
  StartedJobRegistry (score = heartbeat deadline) and the worker's execution index. There is no
  window in which a popped job is in no registry, so RQ's intermediate queue is not needed; a
  worker killed after the claim leaves its jobs in the StartedJobRegistry, where RQ's maintenance
  finds them when their heartbeat lapses and requeues them (``Retry(max=3)``) under the same id.
- ``finish_success`` queues the commands of RQ's success path (status, Result stream entry,
  FinishedJobRegistry, TTL, execution clean-up) on a pipeline shared by the whole batch.
- ``heartbeat`` extends the deadlines of every job in flight, in one pipeline.
- ``Reclaimer.abandoned`` (one Lua call per queue, every few seconds) takes the jobs whose
  heartbeat deadline in the StartedJobRegistry has passed (their worker died) and requeues each at
  the *front* of its queue under the same id while its ``retries_left`` (RQ's ``Retry(max=3)``)
  allows, else marks it failed, exactly as RQ's ``StartedJobRegistry.cleanup`` does; the ZREM
  decides, so two workers never requeue the same job. ``Reclaimer.hand_back`` does the same for
  the jobs a stopping worker gives back (no retry used up).
- Rare paths (a job that raised, timed out or was stopped) go through RQ's own ``handle_job_failure``.
"""

from __future__ import annotations

import pickle
import uuid
import zlib
from base64 import b64encode
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rq.defaults import RQ_KEY_PREFIX
from rq.executions import WORKER_EXECUTIONS_KEY_TEMPLATE, ExecutionRegistry
from rq.job import Job
from rq.queue import Queue
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from rq.results import Result

JOB_PREFIX = Job.redis_job_namespace_prefix
EXECUTION_PREFIX = f"{RQ_KEY_PREFIX}:execution"
QUEUE_PREFIX = Queue.redis_queue_namespace_prefix
EXECUTIONS_PREFIX = ExecutionRegistry.key_template.format("")
STARTED = StartedJobRegistry.key_template
FINISHED = FinishedJobRegistry.key_template
FAILED = FailedJobRegistry.key_template
WORKER_PREFIX, _, _WORKER_SUFFIX = WORKER_EXECUTIONS_KEY_TEMPLATE.partition("{0}")
assert _WORKER_SUFFIX == ":executions", "the Lua below spells RQ's worker executions key"
RQ_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

_CLAIM = """
local queue, wip, retries, wexec = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, iso, worker, prefix = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local n, ttl, jp, ep, xp = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8], ARGV[9]
local due = redis.call('zrangebyscore', retries, '-inf', now, 'LIMIT', 0, 1000)
for i = #due, 1, -1 do
  local id = due[i]
  redis.call('zrem', retries, id)
  if redis.call('exists', jp .. id) == 1 then
    redis.call('hset', jp .. id, 'status', 'queued', 'enqueued_at', iso)
    redis.call('lpush', queue, id)
  end
end
local out = {}
for i = 1, n do
  local id = redis.call('lpop', queue)
  if not id then break end
  local jk = jp .. id
  local row = redis.call('hmget', jk, 'data', 'timeout', 'result_ttl', 'failure_ttl')
  if row[1] then
    local exec = prefix .. string.format('%08x', i)
    local comp = id .. ':' .. exec
    redis.call('hset', jk, 'status', 'started', 'started_at', iso, 'last_heartbeat', iso, 'worker_name', worker)
    redis.call('persist', jk)
    local ek = ep .. ':' .. comp
    redis.call('hset', ek, 'id', exec, 'job_id', id, 'created_at', now, 'last_heartbeat', now, 'worker_name', worker)
    redis.call('expire', ek, ttl)
    redis.call('zadd', xp .. id, now + ttl + 60, exec)
    redis.call('expire', xp .. id, ttl + 60)
    redis.call('zadd', wip, now + ttl, comp)
    redis.call('sadd', wexec, comp)
    out[#out + 1] = {id, exec, row[1], row[2] or '', row[3] or '', row[4] or ''}
  end
end
if #out > 0 then redis.call('expire', wexec, ttl + 60) end
local nxt = redis.call('zrange', retries, 0, 0, 'WITHSCORES')
return {out, nxt[2] or ''}
"""


# Requeue the job of a StartedJobRegistry entry (``id:execution``) if this call removes the entry
# and the job is still started; returns {id, data, started_at, worker, outcome} or nil.
_REQUEUE = """
local function requeue(started, queue, failed, comp, use_retry, iso, now, jp, ep, xp, wp)
  if redis.call('zrem', started, comp) == 0 then return nil end
  local sep = string.find(comp, ':', 1, true)
  if not sep then return nil end
  local id, exec = string.sub(comp, 1, sep - 1), string.sub(comp, sep + 1)
  local jk = jp .. id
  local row = redis.call('hmget', jk, 'status', 'data', 'retries_left', 'started_at', 'worker_name', 'failure_ttl')
  redis.call('del', ep .. ':' .. comp)
  redis.call('zrem', xp .. id, exec)
  if row[5] then redis.call('srem', wp .. row[5] .. ':executions', comp) end
  if row[1] ~= 'started' then return nil end
  local left = tonumber(row[3] or '')
  local outcome = 'requeued'
  if use_retry and not (left and left > 0) then
    outcome = 'failed'
    redis.call('hset', jk, 'status', 'failed', 'ended_at', iso)
    local ttl = tonumber(row[6] or '') or 31536000
    redis.call('zadd', failed, now + ttl, id)
    redis.call('expire', jk, ttl)
  else
    if use_retry then
      left = left - 1
      redis.call('hset', jk, 'retries_left', left)
    end
    redis.call('hset', jk, 'status', 'queued', 'enqueued_at', iso)
    redis.call('lpush', queue, id)
  end
  return {id, row[2], row[4] or '', row[5] or '', outcome, tostring(left or 0)}
end
"""

_ABANDONED = (
    _REQUEUE
    + """
local now = tonumber(ARGV[1])
local expired = redis.call('zrangebyscore', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, comp in ipairs(expired) do
  local r = requeue(KEYS[1], KEYS[2], KEYS[3], comp, true, ARGV[2], now, ARGV[4], ARGV[5], ARGV[6], ARGV[7])
  if r then out[#out + 1] = r end
end
return out
"""
)

_HAND_BACK = (
    _REQUEUE
    + """
local now = tonumber(ARGV[1])
local out = {}
for i = 8, #ARGV do
  local r = requeue(KEYS[1], KEYS[2], KEYS[3], ARGV[i], false, ARGV[2], now, ARGV[4], ARGV[5], ARGV[6], ARGV[7])
  if r then out[#out + 1] = r end
end
return out
"""
)


@dataclass(frozen=True)
class Requeued:
    """A started job given back to its queue (or failed: no abandoned-work retry left)."""

    id: str
    func_name: str
    args: tuple[Any, ...]
    started_at: float | None
    worker_name: str
    failed: bool
    retries_left: int


class Reclaimer:
    """Abandoned jobs (heartbeat lapsed) and handed-back jobs go back to the front of the queue."""

    LIMIT = 1000  # jobs taken per call

    def __init__(self, redis: Any):
        self.r = redis
        self.abandoned_script = redis.register_script(_ABANDONED)
        self.hand_back_script = redis.register_script(_HAND_BACK)

    async def abandoned(self, queue: str, now: float) -> list[Requeued]:
        return await self._run(self.abandoned_script, queue, now, [])

    async def hand_back(self, queue: str, jobs: Sequence[Claimed], now: float) -> list[Requeued]:
        return await self._run(self.hand_back_script, queue, now, [job.composite_key for job in jobs])

    async def _run(self, script: Any, queue: str, now: float, members: list[str]) -> list[Requeued]:
        keys = [STARTED.format(queue), QUEUE_PREFIX + queue, FAILED.format(queue)]
        args = [now, rq_time(now), self.LIMIT, JOB_PREFIX, EXECUTION_PREFIX, EXECUTIONS_PREFIX, WORKER_PREFIX]
        rows = await script(keys=keys, args=[*args, *members])
        return [_requeued(row) for row in rows]


def _requeued(row: Sequence[bytes]) -> Requeued:
    func_name, args = _decode_payload(row[1])
    started = row[2].decode()
    return Requeued(
        id=row[0].decode(),
        func_name=func_name,
        args=args,
        started_at=rq_epoch(started) if started else None,
        worker_name=row[3].decode(),
        failed=row[4] == b"failed",
        retries_left=int(row[5]),
    )


@dataclass
class Claimed:
    """One job this worker has marked started."""

    id: str
    execution_id: str
    queue: str
    func_name: str
    args: tuple[Any, ...]
    timeout: int | None
    result_ttl: int | None
    failure_ttl: int | None
    started_at: float

    @property
    def composite_key(self) -> str:
        return f"{self.id}:{self.execution_id}"


def rq_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime(RQ_TIME_FORMAT)


def rq_epoch(text: str) -> float:
    return datetime.strptime(text, RQ_TIME_FORMAT).replace(tzinfo=UTC).timestamp()


def retries_key(prefix: str, queue: str) -> str:
    return f"{prefix}:retries:{queue}"


class Claimer:
    def __init__(
        self,
        redis: Any,
        worker_name: str,
        key_prefix: str,
        heartbeat_ttl: int,
        connection: Callable[[], Any] | None = None,
    ):
        """``connection``: the client each claim runs on (default ``redis``; the engine passes the
        replication gate's single connection)."""
        self.r, self.worker_name, self.key_prefix, self.ttl = redis, worker_name, key_prefix, heartbeat_ttl
        self.connection = connection or (lambda: redis)
        self.script = redis.register_script(_CLAIM)

    async def claim(self, queue: str, n: int, now: float) -> tuple[list[Claimed], float | None]:
        """Up to ``n`` started jobs, and the due instant of the queue's next pending retry."""
        keys = [
            QUEUE_PREFIX + queue,
            STARTED.format(queue),
            retries_key(self.key_prefix, queue),
            WORKER_EXECUTIONS_KEY_TEMPLATE.format(self.worker_name),
        ]
        args = [now, rq_time(now), self.worker_name, uuid.uuid4().hex[:24], n, self.ttl]
        rows, next_due = await self.script(
            keys=keys, args=[*args, JOB_PREFIX, EXECUTION_PREFIX, EXECUTIONS_PREFIX], client=self.connection()
        )
        return [_claimed(row, queue, now) for row in rows], float(next_due) if next_due else None


def _decode_payload(data: bytes | None) -> tuple[str, tuple[Any, ...]]:
    """RQ's job ``data`` (zlib-compressed pickle): function name and arguments."""
    if not data:
        return "", ()
    try:
        data = zlib.decompress(data)
    except zlib.error:
        pass
    try:
        func_name, _instance, args, _kwargs = pickle.loads(data)
    except Exception:  # a payload this worker cannot read: the job fails with that reason
        return "", ()
    return str(func_name), tuple(args)


def _claimed(row: Sequence[bytes], queue: str, now: float) -> Claimed:
    func_name, args = _decode_payload(row[2])
    return Claimed(
        id=row[0].decode(),
        execution_id=row[1].decode(),
        queue=queue,
        func_name=func_name,
        args=args,
        timeout=_int(row[3]),
        result_ttl=_int(row[4]),
        failure_ttl=_int(row[5]),
        started_at=now,
    )


def _int(raw: bytes) -> int | None:
    text = raw.decode() if raw else ""
    return int(float(text)) if text else None


def finish_success(pipe: Any, job: Claimed, return_value: Any, worker_name: str, ended: float, ttl: int) -> None:
    """RQ's success path for one job (``Worker.handle_job_success``), as pipeline commands."""
    result_ttl = ttl if job.result_ttl is None else job.result_ttl
    key = JOB_PREFIX + job.id
    pipe.hset(key, mapping={"status": "finished", "ended_at": rq_time(ended), "last_heartbeat": rq_time(ended)})
    result = {
        "type": Result.Type.SUCCESSFUL.value,
        "worker_name": worker_name,
        "return_value": b64encode(pickle.dumps(return_value, protocol=pickle.HIGHEST_PROTOCOL)).decode(),
        "execution_id": job.execution_id,
        "execution_started_at": job.started_at,
        "execution_ended_at": ended,
    }
    results = Result.get_key(job.id)
    pipe.xadd(results, result, maxlen=10)
    if result_ttl > 0:
        pipe.expire(results, result_ttl)
        pipe.expire(key, result_ttl)
        pipe.zadd(FINISHED.format(job.queue), {job.id: ended + result_ttl})
    elif result_ttl == 0:
        pipe.delete(key, results)
    forget_execution(pipe, job, worker_name)


def forget_execution(pipe: Any, job: Claimed, worker_name: str) -> None:
    pipe.delete(f"{EXECUTION_PREFIX}:{job.composite_key}")
    pipe.zrem(STARTED.format(job.queue), job.composite_key)
    pipe.zrem(EXECUTIONS_PREFIX + job.id, job.execution_id)
    pipe.srem(WORKER_EXECUTIONS_KEY_TEMPLATE.format(worker_name), job.composite_key)


def heartbeat(pipe: Any, jobs: Sequence[Claimed], now: float, ttl: int) -> None:
    """Extend the deadline of every job in flight (RQ's ``maintain_heartbeats``, batched)."""
    for job in jobs:
        pipe.zadd(STARTED.format(job.queue), {job.composite_key: now + ttl}, xx=True)
        pipe.hset(f"{EXECUTION_PREFIX}:{job.composite_key}", "last_heartbeat", now)
        pipe.expire(f"{EXECUTION_PREFIX}:{job.composite_key}", ttl)
        pipe.zadd(EXECUTIONS_PREFIX + job.id, {job.execution_id: now + ttl + 60}, xx=True)
        pipe.hset(JOB_PREFIX + job.id, "last_heartbeat", rq_time(now))


def worker_stats(pipe: Any, worker_key: str, succeeded: int, failed: int, working_seconds: float) -> None:
    if succeeded:
        pipe.hincrby(worker_key, "successful_job_count", succeeded)
    if failed:
        pipe.hincrby(worker_key, "failed_job_count", failed)
    if working_seconds:
        pipe.hincrbyfloat(worker_key, "total_working_time", working_seconds)
