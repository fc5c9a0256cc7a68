"""Dispatch-side Redis access: the due index, cursors, exactly-once enqueue, advancing.

Exactly once, by identity (design §3): every occurrence has one invocation id. ``enqueue`` first
checks the ``fired`` marker, then enqueues the RQ job under that id with ``unique=True`` (an
existing job = already enqueued = success), then ``advance`` writes the marker (TTL far beyond
any replay window, since RQ forgets finished jobs after their result TTL) together with the new
cursor, atomically, and only if the job's generation is still the one the cursor belongs to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

from controller.state.keys import ControllerKeys
from worker.contract import TASK, HistoryEntry, Invocation, add_history

RESULT_TTL = 24 * 3600  # RQ keeps finished invocations a day (dedup also has the fired marker)
FAILURE_TTL = 7 * 24 * 3600
ABANDONED_RETRIES = 3  # RQ requeues an invocation whose worker died (SIGKILL), under the same id


_MARK = """
for _, key in ipairs(KEYS) do redis.call('set', key, '1', 'EX', ARGV[1]) end
return #KEYS
"""
# Cursors, due index and status of a whole batch in one command (the MULTI around it keeps it
# atomic with the enqueues); keys are derived by the caller and passed as arguments.
_ADVANCE = """
for i = 1, #ARGV, 6 do
  local name, sched, status, at = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if at == '' then
    redis.call('del', sched)
    redis.call('zrem', KEYS[1], name)
    redis.call('hset', status, 'condition', 'Completed', 'reason', 'no occurrence is left')
    redis.call('hdel', status, 'nextExecutionTime')
  else
    redis.call('hset', sched, 'nextAt', at, 'number', ARGV[i + 4])
    redis.call('zadd', KEYS[1], at, name)
  end
  for field, value in pairs(cjson.decode(ARGV[i + 5])) do redis.call('hset', status, field, value) end
end
return #ARGV / 6
"""
_GENERATIONS = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('hget', key, 'generation') or '' end
return out
"""


@dataclass(frozen=True)
class DueJob:
    name: str
    spec: Mapping[str, Any]
    generation: int
    created_at: datetime
    git_sha: str | None
    active: bool
    next_at: int
    number: int
    cursor_generation: int


@dataclass
class Dispatch:
    """What one pass decided for one due job: invocations to enqueue and the cursor to move to."""

    due: DueJob
    invocations: list[Invocation]
    next_at: int | None
    number: int
    status: dict[str, str]
    counters: dict[str, int]
    history: list[HistoryEntry]


class ScheduleStore:
    def __init__(self, client: redis.Redis, keys: ControllerKeys, queue: Queue, fired_ttl: int, job_timeout: int = 180):
        self.r, self.keys, self.queue, self.fired_ttl = client, keys, queue, fired_ttl
        self.job_timeout = job_timeout

    def earliest(self) -> float | None:
        first = self.r.zrange(self.keys.due(), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def due_names(self, now: float, limit: int) -> list[str]:
        rows = self.r.zrangebyscore(self.keys.due(), "-inf", now, start=0, num=limit)
        return [_s(n) for n in rows]

    def load(self, names: Sequence[str]) -> list[DueJob | str]:
        """Each due job with its cursor, or its name alone when it vanished meanwhile."""
        with self.r.pipeline(transaction=False) as pipe:
            for n in names:
                pipe.hmget(self.keys.job(n), "spec", "generation", "createdAt", "gitSha", "active")
                pipe.hmget(self.keys.sched(n), "nextAt", "number", "generation")
            rows = pipe.execute()
        out: list[DueJob | str] = []
        for i, n in enumerate(names):
            spec, generation, created, sha, active = rows[2 * i]
            next_at, number, cursor_generation = rows[2 * i + 1]
            if spec is None or next_at is None:
                out.append(n)
                continue
            out.append(
                DueJob(
                    n,
                    json.loads(spec),
                    int(generation or 1),
                    datetime.fromtimestamp(float(created or 0), UTC),
                    _s(sha) if sha else None,
                    active == b"1",
                    int(next_at),
                    int(number or 1),
                    int(cursor_generation or 0),
                )
            )
        return out

    def running(self, name: str) -> str | None:
        value = self.r.get(self.keys.running(name))
        return _s(value) if value else None

    def enqueue(self, inv: Invocation) -> bool:
        """Enqueue once; False when the occurrence was already enqueued (marker or RQ job)."""
        if self.r.exists(self.keys.fired(inv.id)):
            return False
        try:
            self.queue.enqueue(
                TASK,
                inv.to_dict(),
                job_id=inv.id,
                unique=True,
                description=inv.id,
                job_timeout=self.job_timeout,
                result_ttl=RESULT_TTL,
                failure_ttl=FAILURE_TTL,
                retry=Retry(max=ABANDONED_RETRIES),
            )
        except DuplicateJobError:
            return False
        return True

    def advance(self, d: Dispatch, history_bounds: tuple[int, int]) -> bool:
        """Markers + cursor + due index + status of one job in one transaction; False if the job
        was re-applied meanwhile (its cursor generation changed: the sync's cursor wins)."""
        sched = self.keys.sched(d.due.name)
        with self.r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(sched)
                if _s(pipe.hget(sched, "generation") or b"") != str(d.due.cursor_generation):
                    return False
                pipe.multi()
                self._advance_commands(pipe, d, history_bounds)
                pipe.execute()
            except redis.WatchError:
                return False
        return True

    def commit(self, batch: Sequence[Dispatch], history_bounds: tuple[int, int]) -> bool:
        """Enqueue and advance a whole batch in one optimistic transaction.

        WATCHes every cursor of the batch, skips occurrences already marked (fired) and
        jobs whose cursor changed (a sync re-applied them), then queues the RQ jobs, the markers
        and the new cursors in one MULTI. False when a watched key changed: the caller then falls
        back to the one-job-at-a-time path.
        """
        invs = [inv for d in batch for inv in d.invocations]
        fired_keys = [self.keys.fired(inv.id) for inv in invs]
        sched_keys = [self.keys.sched(d.due.name) for d in batch]
        with self.r.pipeline(transaction=True) as pipe:
            try:
                # Watching the cursors is enough: whoever enqueues an occurrence also moves its job's
                # cursor in the same MULTI, so a concurrent dispatcher's EXEC fails here.
                pipe.watch(*sched_keys)
                already = {inv.id for inv, v in zip(invs, pipe.mget(fired_keys) if invs else [], strict=True) if v}
                gens = pipe.eval(_GENERATIONS, len(sched_keys), *sched_keys)
                fresh = [d for d, g in zip(batch, gens, strict=True) if _s(g or b"") == str(d.due.cursor_generation)]
                pipe.multi()
                todo = [inv for d in fresh for inv in d.invocations if inv.id not in already]
                if todo:
                    self.queue.enqueue_many([self._data(inv) for inv in todo], pipeline=pipe)
                fired = [self.keys.fired(inv.id) for d in fresh for inv in d.invocations]
                if fired:
                    pipe.eval(_MARK, len(fired), *fired, self.fired_ttl)
                if fresh:
                    pipe.eval(_ADVANCE, 1, self.keys.due(), *self._advance_args(fresh))
                for d in fresh:
                    self._extras(pipe, d, history_bounds)
                pipe.execute()
            except redis.WatchError:
                return False
        return True

    def _data(self, inv: Invocation) -> Any:
        return Queue.prepare_data(
            TASK,
            (inv.to_dict(),),
            job_id=inv.id,
            description=inv.id,
            timeout=self.job_timeout,
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
            retry=Retry(max=ABANDONED_RETRIES),
        )

    def _advance_args(self, batch: Sequence[Dispatch]) -> list[Any]:
        """Arguments of ``_ADVANCE``: per job name, cursor key, status key, nextAt ('' = done),
        number and the status fields as JSON."""
        args: list[Any] = []
        for d in batch:
            args += [
                d.due.name,
                self.keys.sched(d.due.name),
                self.keys.status(d.due.name),
                "" if d.next_at is None else d.next_at,
                d.number,
                json.dumps(d.status),
            ]
        return args

    def _extras(self, pipe: Any, d: Dispatch, bounds: tuple[int, int]) -> None:
        """Counters and history entries (missed/skipped occurrences), rare, per job."""
        for field, amount in d.counters.items():
            pipe.hincrby(self.keys.status(d.due.name), field, amount)
        for i, entry in enumerate(d.history):
            add_history(
                pipe,
                self.keys,
                entry,
                score_ms=_ms(entry.start_time) + i,
                max_entries=bounds[0],
                max_age_seconds=bounds[1],
            )

    def _advance_commands(self, pipe: Any, d: Dispatch, bounds: tuple[int, int]) -> None:
        """One job's markers, cursor, due entry and status (the one-job fallback path)."""
        for inv in d.invocations:
            pipe.set(self.keys.fired(inv.id), "1", ex=self.fired_ttl)
        pipe.eval(_ADVANCE, 1, self.keys.due(), *self._advance_args([d]))
        self._extras(pipe, d, bounds)

    def job_for_run_now(self, name: str) -> tuple[Mapping[str, Any], int, str | None] | None:
        """Override: run-now. The job's spec, generation and git SHA, whatever its cursor (a
        completed job can still be run by hand); None when the job does not exist."""
        spec, generation, sha = self.r.hmget(self.keys.job(name), "spec", "generation", "gitSha")
        if spec is None:
            return None
        return json.loads(spec), int(generation or 1), _s(sha) if sha else None

    def drop(self, name: str) -> None:
        self.r.zrem(self.keys.due(), name)

    def wait_for_poke(self, timeout: float) -> None:
        """Sleep until a poke arrives or ``timeout`` passes (BLPOP: no polling)."""
        self.r.blpop([self.keys.poke()], timeout=max(0.01, timeout))


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _ms(iso_text: str) -> int:
    return int(datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp() * 1000)
