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
