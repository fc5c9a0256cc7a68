"""Dispatch-side Redis access: the due index, cursors, exactly-once enqueue, advancing.

Exactly once, by identity (design §3): every occurrence has one invocation id. ``enqueue`` first
checks the ``fired`` marker, then enqueues the RQ job under that id with ``unique=True`` (an
existing job = already enqueued = success), then ``advance`` writes the marker (TTL far beyond
any replay window, since RQ forgets finished jobs after their result TTL) together with the new
cursor, atomically, and only if the job's generation is still the one the cursor belongs to.
Job and cursor records are read and written through their codecs (``worker.records``); the
status fields written here are the dispatch side's only (``DISPATCH_FIELDS``).

Fencing (design §3): with a ``Fence`` (the lease key and this leader's token), every write of
dispatch — the batch commit, the one-job enqueue, the advance — WATCHes the lease key and checks
the token before its MULTI, so a leader that was paused past its lease (SIGSTOP, a long GC) and
wakes up after another controller took the lease cannot commit: the new leader's ``SET`` of the
key aborts the old leader's EXEC, and a token that is already another's raises ``LeaseLost``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from rq import Queue, Retry
from rq.job import JobStatus
from rq.utils import now as rq_now
from rq.utils import utcformat

from controller.state import changelog
from controller.state.keys import ControllerKeys
from worker.contract import TASK, HistoryEntry, Invocation, add_history
from worker.records import (
    C_GENERATION,
    C_NEXT_AT,
    C_NEXT_RUNS,
    C_NUMBER,
    D_LAST_SCHEDULE_TIME,
    Bounds,
    CursorRecord,
    JobRecord,
    encode_runs,
)

_MARK = """
for _, key in ipairs(KEYS) do redis.call('set', key, '1', 'EX', ARGV[1]) end
return #KEYS
"""
# Cursors, due index and status of a whole batch in one command (the MULTI around it keeps it
# atomic with the enqueues); keys are derived by the caller and passed as arguments, and so are
# the record field names (``worker.records``): ARGV[1..4] = cursor fields nextAt, number,
# nextRuns and the status field lastScheduleTime, then 7 values per job. A cursor with no
# occurrence left keeps nextAt = ''.
_ADVANCE = """
local f_at, f_number, f_runs, f_last = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
for i = 5, #ARGV, 7 do
  local name, sched, status, at = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  redis.call('hset', sched, f_at, at, f_number, ARGV[i + 4], f_runs, ARGV[i + 5])
  if at == '' then redis.call('zrem', KEYS[1], name) else redis.call('zadd', KEYS[1], at, name) end
  if ARGV[i + 6] ~= '' then redis.call('hset', status, f_last, ARGV[i + 6]) end
end
return (#ARGV - 4) / 7
"""
# The cursors' generations and next instants (ARGV = the field names), read inside the WATCH of
# a batch commit, as "generation:nextAt".
_GENERATIONS = """
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = (redis.call('hget', key, ARGV[1]) or '') .. ':' .. (redis.call('hget', key, ARGV[2]) or '')
end
return out
"""


# Release prepared dispatches (``ScheduleStore.release``): every check and write of a batch in
# one atomic step. ARGV[1..14]: lease key and token ('' = not fenced), change-log revision key and
# the revision the batch was prepared at, due index, RQ queue key, RQ's set of queues, the
# enqueued_at value, the marker TTL, then the field names: cursor nextAt, number, nextRuns,
# status lastScheduleTime, cursor generation. Then 12 values per job: name, cursor key, status key,
# the cursor it was decided from ("generation:nextAt"), staged key, RQ job key, marker key, RQ job
# id, the new nextAt ('' = none left), number, nextRuns, lastScheduleTime ('' = unchanged).
# Returns {-1} (lease not ours), {-2} (a sync wrote since the preparation), or {enqueued, stale...}
# where the stale jobs (cursor moved, or the staged record is gone) were left as they were.
_RELEASE = """
if ARGV[1] ~= '' and redis.call('get', ARGV[1]) ~= ARGV[2] then return {-1} end
if (redis.call('get', ARGV[3]) or '0') ~= ARGV[4] then return {-2} end
local f_at, f_number, f_runs, f_last, f_gen = ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14]
local out, done = {0}, 0
for i = 15, #ARGV, 12 do
  local name, sched, status = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local staged, job, fired = ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local current = (redis.call('hget', sched, f_gen) or '') .. ':' .. (redis.call('hget', sched, f_at) or '')
  local ok = current == ARGV[i + 3]
  if ok and redis.call('exists', fired) == 0 and redis.call('exists', job) == 0 then
    if redis.call('exists', staged) == 1 then
      redis.call('rename', staged, job)
      redis.call('persist', job)
      redis.call('hset', job, 'status', 'queued', 'enqueued_at', ARGV[8])
      redis.call('rpush', ARGV[6], ARGV[i + 7])
      done = done + 1
    else
      ok = false
    end
  elseif ok then
    redis.call('del', staged)  -- enqueued before (a replay): advance only
  end
  if ok then
    redis.call('set', fired, '1', 'EX', ARGV[9])
    local at = ARGV[i + 8]
    redis.call('hset', sched, f_at, at, f_number, ARGV[i + 9], f_runs, ARGV[i + 10])
    if at == '' then redis.call('zrem', ARGV[5], name) else redis.call('zadd', ARGV[5], at, name) end
    if ARGV[i + 11] ~= '' then redis.call('hset', status, f_last, ARGV[i + 11]) end
  else
    out[#out + 1] = name
  end
end
if done > 0 then redis.call('sadd', ARGV[7], ARGV[6]) end
out[1] = done
return out
"""


class LeaseLost(Exception):
    """The dispatch lease is not (or no longer) this controller's: nothing was written."""


@dataclass(frozen=True)
class Fence:
    key: str  # the lease key
    token: str  # this leader's owner id, the lease's value while it holds it


@dataclass(frozen=True)
class DueJob:
    """A due job as the dispatch loop sees it: its record and its cursor (both codecs')."""

    record: JobRecord
    cursor: CursorRecord

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.record.created_at, UTC)


@dataclass
class Dispatch:
    """What one pass decided for one due job: invocations to enqueue and the cursor to move to."""

    due: DueJob
    invocations: list[Invocation]
    next_at: int | None
    number: int
    next_runs: list[int]
    last_schedule_time: str | None  # the dispatch side's status field (ISO), None = unchanged
    counters: dict[str, int]
    history: list[HistoryEntry]
    data: list[Any] | None = None  # the RQ jobs, prepared ahead of the due time (``Queue.prepare_data``)
    staged: bool = False  # its RQ job record is written, waiting under ``keys.staged`` (``stage``)


class ScheduleStore:
    def __init__(
        self,
        client: redis.Redis,
        keys: ControllerKeys,
        queue: Queue,
        fired_ttl: int,
        bounds: Bounds | None = None,
        fence: Fence | None = None,
    ):
        self.r, self.keys, self.queue, self.fired_ttl = client, keys, queue, fired_ttl
        self.bounds = bounds or Bounds()
        self.fence = fence

    def _watch(self, pipe: Any, *keys: str) -> None:
        """WATCH ``keys`` and the lease; raise ``LeaseLost`` unless the lease is ours (fencing)."""
        if self.fence is None:
            pipe.watch(*keys)
            return
        pipe.watch(self.fence.key, *keys)
        if _s(pipe.get(self.fence.key) or b"") != self.fence.token:
            pipe.reset()
            raise LeaseLost(f"the dispatch lease is not held by {self.fence.token}")

    def desired_rev(self) -> int:
        return int(self.r.get(self.keys.desired_rev()) or 0)

    def changelog_head(self) -> tuple[int, str]:
        return changelog.head(self.r, self.keys)

    def earliest(self) -> float | None:
        first = self.r.zrange(self.keys.due(), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def due_names(self, now: float, limit: int) -> list[str]:
        rows = self.r.zrangebyscore(self.keys.due(), "-inf", now, start=0, num=limit)
        return [_s(n) for n in rows]

    def due_between(self, after: float, until: float, limit: int) -> list[str]:
        rows = self.r.zrangebyscore(self.keys.due(), f"({after}", until, start=0, num=limit)
        return [_s(n) for n in rows]

    def load(self, names: Sequence[str]) -> list[DueJob | str]:
        """Each due job with its cursor, or its name alone when it vanished or has nothing due."""
        with self.r.pipeline(transaction=False) as pipe:
            for n in names:
                pipe.hgetall(self.keys.job(n))
                pipe.hgetall(self.keys.cursor(n))
            rows = pipe.execute()
        out: list[DueJob | str] = []
        for i, n in enumerate(names):
            record = JobRecord.from_redis(n, rows[2 * i])
            cursor = CursorRecord.from_redis(rows[2 * i + 1])
            out.append(n if record is None or cursor is None or cursor.done else DueJob(record, cursor))
        return out

    def running(self, name: str) -> str | None:
        value = self.r.get(self.keys.running(name))
        return _s(value) if value else None

    def enqueue(self, inv: Invocation) -> bool:
        """Enqueue once; False when the occurrence was already enqueued (marker or RQ job).

        One transaction: WATCH the lease, the marker and the RQ job key, check none exists, then
        the RQ job in a MULTI (RQ's own ``unique=True`` check, made fenced).
        """
        fired, job_key = self.keys.fired(inv.id), self.queue.job_class.key_for(inv.id)
        for _ in range(10):
            with self.r.pipeline(transaction=True) as pipe:
                try:
                    self._watch(pipe, fired, job_key)
                    if pipe.exists(fired, job_key):
                        return False
                    pipe.multi()
                    self.queue.enqueue_many([self._data(inv)], pipeline=pipe)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue  # the lease or the job changed under us: look again
        return False

    def advance(self, d: Dispatch) -> bool:
        """Markers + cursor + due index + status of one job in one transaction; False if the job
        was re-applied meanwhile (its cursor generation changed: the sync's cursor wins)."""
        sched = self.keys.cursor(d.due.name)
        with self.r.pipeline(transaction=True) as pipe:
            try:
                self._watch(pipe, sched)
                if _s(pipe.hget(sched, C_GENERATION) or b"") != str(d.due.cursor.generation):
                    return False
                pipe.multi()
                self._advance_commands(pipe, d)
                pipe.execute()
            except redis.WatchError:
                return False
        return True

    def commit(self, batch: Sequence[Dispatch], rev: int | None = None) -> tuple[int, list[Dispatch]] | None:
        """Enqueue and advance a batch in one optimistic transaction.

        WATCHes every cursor of the batch, skips occurrences already marked (fired), then queues
        the RQ jobs, the markers and the new cursors in one MULTI. Returns how many were enqueued
        and the jobs whose cursor changed since the load (a sync re-applied them), which the
        caller hands to the one-job path: it enqueues first and advances only a cursor that is
        still the one it loaded, so a sync's new cursor is kept. None when a watched key changed
        before EXEC (a concurrent dispatcher): the whole batch takes the one-job path.

        With ``rev`` (the batch was prepared ahead, as of change-log revision ``rev``), the
        change-log revision is watched too and must still be ``rev``: any sync write since the
        preparation (an edit, a delete, a re-enabled job) returns None before anything is written.
        Raises ``LeaseLost`` when fenced and the lease is not ours.
        """
        invs = [inv for d in batch for inv in d.invocations]
        fired_keys = [self.keys.fired(inv.id) for inv in invs]
        sched_keys = [self.keys.cursor(d.due.name) for d in batch]
        with self.r.pipeline(transaction=True) as pipe:
            try:
                # Watching the cursors is enough: whoever enqueues an occurrence also moves its job's
                # cursor in the same MULTI, so a concurrent dispatcher's EXEC fails here.
                watched = [*sched_keys, self.keys.desired_rev()] if rev is not None else sched_keys
                self._watch(pipe, *watched)
                if rev is not None and int(pipe.get(self.keys.desired_rev()) or 0) != rev:
                    pipe.reset()
                    return None
                already = {inv.id for inv, v in zip(invs, pipe.mget(fired_keys) if invs else [], strict=True) if v}
                gens = pipe.eval(_GENERATIONS, len(sched_keys), *sched_keys, C_GENERATION, C_NEXT_AT)
                current = [_current(d, _s(g or b"")) for d, g in zip(batch, gens, strict=True)]
                fresh = [d for d, ok in zip(batch, current, strict=True) if ok]
                stale = [d for d, ok in zip(batch, current, strict=True) if not ok]
                pipe.multi()
                todo = [inv for d in fresh for inv in d.invocations if inv.id not in already]
                if todo:
                    self.queue.enqueue_many(self._datas(fresh, already), pipeline=pipe)
                fired = [self.keys.fired(inv.id) for d in fresh for inv in d.invocations]
                if fired:
                    pipe.eval(_MARK, len(fired), *fired, self.fired_ttl)
                if fresh:
                    pipe.eval(_ADVANCE, 1, self.keys.due(), *_CURSOR_FIELDS, *self._advance_args(fresh))
                for d in fresh:
                    self._extras(pipe, d)
                pipe.execute()
            except redis.WatchError:
                return None
        return len(todo), stale

    # -- prepared dispatches: RQ job records written ahead, released at the due time ------------
    def stage(self, batch: Sequence[Dispatch], ttl: float) -> int:
        """Write the RQ job record of each prepared dispatch (one invocation each) under its staging
        key, where RQ and its workers do not look; ``release`` moves it into the queue. The record
        is what ``Queue.enqueue_many`` would write (RQ's own ``create_job`` and queue preparation);
        a staged record expires after ``ttl`` seconds. Returns how many were staged (0 when this
        RQ does not offer the preparation step: the dispatches are then committed as before)."""
        prepare = getattr(self.queue, "_prepare_for_queue", None)
        if prepare is None or not batch:
            return 0
        with self.r.pipeline(transaction=False) as pipe:
            for d in batch:
                data = (d.data or [self._data(d.invocations[0])])[0]
                job = self.queue.create_job(**{k: getattr(data, k) for k in _JOB_FIELDS}, status=JobStatus.QUEUED)
                prepare(job)
                key = self._staged(d.invocations[0].id)
                pipe.delete(key)
                pipe.hset(key, mapping=job.to_dict())
                pipe.pexpire(key, max(1, int(ttl * 1000)))
            pipe.execute()
        for d in batch:
            d.staged = True
        return len(batch)

    def _staged(self, invocation_id: str) -> str:
        return self.keys.staged(self.fence.token if self.fence is not None else "local", invocation_id)

    def unstage(self, batch: Sequence[Dispatch]) -> None:
        """Withdraw staged records (an edit, a delete, a suspension, a lost lease)."""
        ids = [d.invocations[0].id for d in batch if d.staged]
        if ids:
            self.r.delete(*(self._staged(i) for i in ids))

    def release(self, batch: Sequence[Dispatch], rev: int) -> tuple[int, list[Dispatch]] | None:
        """Move the staged RQ jobs of ``batch`` into the queue in one atomic step (a Lua script):
        for each job whose cursor is still the one it was decided from, and whose occurrence is not
        marked, the staged record becomes the RQ job (status queued, enqueued now) and its id is
        pushed on the queue; the marker, the cursor, the due index and the status are written in
        the same step. Checked first, in that step: the lease token (fencing) and the change-log
        revision, which must still be ``rev``. Returns how many were enqueued and the stale jobs
        (left untouched, to be decided again); None when a sync wrote since ``rev``. Raises
        ``LeaseLost`` when fenced and the lease is not ours."""
        fence = ("", "") if self.fence is None else (self.fence.key, self.fence.token)
        args: list[Any] = [
            *fence,
            self.keys.desired_rev(),
            str(rev),
            self.keys.due(),
            self.queue.key,
            self.queue.redis_queues_keys,
            utcformat(rq_now()),
            self.fired_ttl,
            *_CURSOR_FIELDS,
            C_GENERATION,
        ]
        for d in batch:
            inv = d.invocations[0]
            expected = f"{d.due.cursor.generation}:{'' if d.due.cursor.next_at is None else d.due.cursor.next_at}"
            args += [d.due.name, self.keys.cursor(d.due.name), self.keys.status(d.due.name), expected]
            args += [self._staged(inv.id), self.queue.job_class.key_for(inv.id), self.keys.fired(inv.id), inv.id]
            args += ["" if d.next_at is None else d.next_at, d.number, encode_runs(d.next_runs)]
            args.append(d.last_schedule_time or "")
        result = self.r.eval(_RELEASE, 0, *args)
        if result[0] == -1:
            raise LeaseLost(f"the dispatch lease is not held by {fence[1]}")
        if result[0] == -2:
            return None
        stale = {_s(n) for n in result[1:]}
        return int(result[0]), [d for d in batch if d.due.name in stale]

    def _datas(self, batch: Sequence[Dispatch], already: set[str]) -> list[Any]:
        out = []
        for d in batch:
            datas = d.data if d.data is not None else [self._data(inv) for inv in d.invocations]
            out += [data for inv, data in zip(d.invocations, datas, strict=True) if inv.id not in already]
        return out

    def _data(self, inv: Invocation) -> Any:
        return Queue.prepare_data(
            TASK,
            (inv.to_dict(),),
            job_id=inv.id,
            description=inv.id,
            timeout=self.bounds.job_timeout,
            result_ttl=self.bounds.result_ttl,
            failure_ttl=self.bounds.failure_ttl,
            retry=Retry(max=self.bounds.abandoned_retries),
        )

    def _advance_args(self, batch: Sequence[Dispatch]) -> list[Any]:
        """Per job: name, cursor key, status key, nextAt ('' = none left), number, nextRuns,
        lastScheduleTime ('' = unchanged)."""
        args: list[Any] = []
        for d in batch:
            args += [
                d.due.name,
                self.keys.cursor(d.due.name),
                self.keys.status(d.due.name),
                "" if d.next_at is None else d.next_at,
                d.number,
                encode_runs(d.next_runs),
                d.last_schedule_time or "",
            ]
        return args

    def _extras(self, pipe: Any, d: Dispatch) -> None:
        """Counters and history entries (missed/skipped occurrences), rare, per job."""
        for field, amount in d.counters.items():
            pipe.hincrby(self.keys.status(d.due.name), field, amount)
        for i, entry in enumerate(d.history):
            add_history(
                pipe,
                self.keys,
                entry,
                score_ms=_ms(entry.start_time) + i,
                max_entries=self.bounds.history_max_entries,
                max_age_seconds=self.bounds.history_max_age_seconds,
            )

    def _advance_commands(self, pipe: Any, d: Dispatch) -> None:
        """One job's markers, cursor, due entry and status (the one-job fallback path)."""
        for inv in d.invocations:
            pipe.set(self.keys.fired(inv.id), "1", ex=self.fired_ttl)
        pipe.eval(_ADVANCE, 1, self.keys.due(), *_CURSOR_FIELDS, *self._advance_args([d]))
        self._extras(pipe, d)

    def job_for_run_now(self, name: str) -> JobRecord | None:
        """Override: run-now. The job record whatever its cursor (a completed job can still be run
        by hand); None when the job does not exist."""
        return JobRecord.from_redis(name, self.r.hgetall(self.keys.job(name)))

    def drop(self, name: str) -> None:
        self.r.zrem(self.keys.due(), name)

    def wait_for_poke(self, timeout: float) -> None:
        """Sleep until a poke arrives or ``timeout`` passes (BLPOP: no polling)."""
        self.r.blpop([self.keys.poke()], timeout=max(0.01, timeout))


_CURSOR_FIELDS = (C_NEXT_AT, C_NUMBER, C_NEXT_RUNS, D_LAST_SCHEDULE_TIME)
# What ``Queue.enqueue_many`` hands ``create_job`` from each ``Queue.prepare_data`` (no dependencies).
_JOB_FIELDS = (
    "func",
    "args",
    "kwargs",
    "result_ttl",
    "ttl",
    "failure_ttl",
    "description",
    "job_id",
    "meta",
    "timeout",
    "retry",
    "on_success",
    "on_failure",
    "on_stopped",
    "webhooks",
    "repeat",
)


def _current(d: Dispatch, stored: str) -> bool:
    """The cursor is still the one ``d`` was decided from: same generation, and for a dispatch
    prepared ahead also the same next instant (dispatch may have moved it since)."""
    generation, _, next_at = stored.partition(":")
    if generation != str(d.due.cursor.generation):
        return False
    return d.data is None or next_at == ("" if d.due.cursor.next_at is None else str(d.due.cursor.next_at))


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _ms(iso_text: str) -> int:
    return int(datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp() * 1000)
