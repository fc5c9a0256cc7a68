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

from controller.state.keys import COMPLETED, ControllerKeys
from worker.contract import TASK, HistoryEntry, Invocation, add_history

RESULT_TTL = 24 * 3600  # RQ keeps finished invocations a day (dedup also has the fired marker)
FAILURE_TTL = 7 * 24 * 3600
ABANDONED_RETRIES = 3  # RQ requeues an invocation whose worker died (SIGKILL), under the same id
ABANDONED_RETRIES = 3  # RQ requeues an invocation whose worker died (SIGKILL), under the same id


_MARK = """
for _, key in ipairs(KEYS) do redis.call('set', key, '1', 'EX', ARGV[1]) end
return #KEYS
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
                pipe.hgetall(self.keys.job(n))
                pipe.hgetall(self.keys.sched(n))
            rows = pipe.execute()
        out: list[DueJob | str] = []
        for i, n in enumerate(names):
            job = {_s(k): _s(v) for k, v in rows[2 * i].items()}
            cur = {_s(k): _s(v) for k, v in rows[2 * i + 1].items()}
            if "spec" not in job or "nextAt" not in cur:
                out.append(n)
                continue
            out.append(
                DueJob(
                    n,
                    json.loads(job["spec"]),
                    int(job.get("generation", 1)),
                    datetime.fromtimestamp(float(job.get("createdAt", 0)), UTC),
                    job.get("gitSha") or None,
                    job.get("active") == "1",
                    int(cur["nextAt"]),
                    int(cur.get("number", 1)),
                    int(cur.get("generation", 0)),
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

        WATCHes every cursor and fired marker of the batch, skips occurrences already marked and
        jobs whose cursor changed (a sync re-applied them), then queues the RQ jobs, the markers
        and the new cursors in one MULTI. False when a watched key changed: the caller then falls
        back to the one-job-at-a-time path.
        """
        invs = [inv for d in batch for inv in d.invocations]
        fired_keys = [self.keys.fired(inv.id) for inv in invs]
        sched_keys = [self.keys.sched(d.due.name) for d in batch]
        with self.r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(*sched_keys, *fired_keys)
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
                due = {d.due.name: d.next_at for d in fresh if d.next_at is not None}
                if due:
                    pipe.zadd(self.keys.due(), due)
                for d in fresh:
                    self._advance_commands(pipe, d, history_bounds, batched=True)
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

    def _advance_commands(self, pipe: Any, d: Dispatch, bounds: tuple[int, int], batched: bool = False) -> None:
        """One job's markers, cursor, due entry and status (markers and due entries are written
        for the whole batch at once by ``commit`` when ``batched``)."""
        name, sched, status_key = d.due.name, self.keys.sched(d.due.name), self.keys.status(d.due.name)
        for inv in [] if batched else d.invocations:
            pipe.set(self.keys.fired(inv.id), "1", ex=self.fired_ttl)
        if d.next_at is None:
            pipe.delete(sched)
            pipe.zrem(self.keys.due(), name)
            pipe.hset(status_key, mapping={"condition": COMPLETED, "reason": "no occurrence is left"})
            pipe.hdel(status_key, "nextExecutionTime")
        else:
            pipe.hset(sched, mapping={"nextAt": d.next_at, "number": d.number})
            if not batched:
                pipe.zadd(self.keys.due(), {name: d.next_at})
        if d.status:
            pipe.hset(status_key, mapping=dict(d.status))
        for field, amount in d.counters.items():
            pipe.hincrby(status_key, field, amount)
        for i, entry in enumerate(d.history):
            add_history(
                pipe,
                self.keys,
                entry,
                score_ms=_ms(entry.start_time) + i,
                max_entries=bounds[0],
                max_age_seconds=bounds[1],
            )

    def drop(self, name: str) -> None:
        self.r.zrem(self.keys.due(), name)

    def wait_for_poke(self, timeout: float) -> None:
        """Sleep until a poke arrives or ``timeout`` passes (BLPOP: no polling)."""
        self.r.blpop([self.keys.poke()], timeout=max(0.01, timeout))


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _ms(iso_text: str) -> int:
    return int(datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp() * 1000)
