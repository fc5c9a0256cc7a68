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


class ScheduleStore:
    def __init__(self, client: redis.Redis, keys: ControllerKeys, queue: Queue, fired_ttl: int):
        self.r, self.keys, self.queue, self.fired_ttl = client, keys, queue, fired_ttl

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

    def enqueue(self, inv: Invocation, job_timeout: int) -> bool:
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
                job_timeout=job_timeout,
                result_ttl=RESULT_TTL,
                failure_ttl=FAILURE_TTL,
                retry=Retry(max=ABANDONED_RETRIES),
            )
        except DuplicateJobError:
            return False
        return True

    def advance(
        self,
        due: DueJob,
        fired: Sequence[str],
        next_at: int | None,
        number: int,
        status: Mapping[str, str],
        counters: Mapping[str, int],
        history: Sequence[HistoryEntry],
        history_bounds: tuple[int, int],
    ) -> bool:
        """Marker(s) + cursor + due index + status in one transaction; False if the job changed."""
        sched, name = self.keys.sched(due.name), due.name
        with self.r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(sched, self.keys.job(name))
                if _s(pipe.hget(sched, "generation") or b"") != str(due.cursor_generation) or not pipe.exists(
                    self.keys.job(name)
                ):
                    return False
                pipe.multi()
                for inv_id in fired:
                    pipe.set(self.keys.fired(inv_id), "1", ex=self.fired_ttl)
                if next_at is None:
                    pipe.delete(sched)
                    pipe.zrem(self.keys.due(), name)
                    pipe.hset(
                        self.keys.status(name), mapping={"condition": COMPLETED, "reason": "no occurrence is left"}
                    )
                    pipe.hdel(self.keys.status(name), "nextExecutionTime")
                else:
                    pipe.hset(sched, mapping={"nextAt": next_at, "number": number})
                    pipe.zadd(self.keys.due(), {name: next_at})
                if status:
                    pipe.hset(self.keys.status(name), mapping=dict(status))  # type: ignore[arg-type]
                for field, amount in counters.items():
                    pipe.hincrby(self.keys.status(name), field, amount)
                for i, entry in enumerate(history):
                    add_history(
                        pipe,
                        self.keys,
                        entry,
                        score_ms=_ms(entry.start_time) + i,
                        max_entries=history_bounds[0],
                        max_age_seconds=history_bounds[1],
                    )
                pipe.execute()
            except redis.WatchError:
                return False
        return True

    def drop(self, name: str) -> None:
        self.r.zrem(self.keys.due(), name)

    def wait_for_poke(self, timeout: float) -> None:
        """Sleep until a poke arrives or ``timeout`` passes (BLPOP: no polling)."""
        self.r.blpop([self.keys.poke()], timeout=max(0.01, timeout))


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _ms(iso_text: str) -> int:
    return int(datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp() * 1000)
