"""Sync-side Redis access: the desired state the sync loop writes and the plan compares against.

Every job's write is one MULTI (job hash + cursor + due index + status), so the dispatch loop
never sees half a job. Only secret *references* are ever written (manifests hold nothing else).
Key layout: ``controller.state.keys``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import redis

from controller.core.model import Collection, Job
from controller.core.plan import ObservedJob
from controller.core.recurrence import Occurrence
from controller.state.keys import READY, STALLED, ControllerKeys


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DesiredStore:
    def __init__(self, client: redis.Redis, keys: ControllerKeys):
        self.r, self.keys = client, keys

    def observed(self) -> dict[str, ObservedJob]:
        names = sorted(self._s(m) for m in self.r.smembers(self.keys.jobs()))
        with self.r.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(self.keys.job(name))
            rows = pipe.execute()
        out = {}
        for name, row in zip(names, rows, strict=True):
            h = {self._s(k): self._s(v) for k, v in row.items()}
            if "spec" in h:
                out[name] = ObservedJob(
                    name,
                    json.loads(h["spec"]),
                    int(h.get("generation", 1)),
                    datetime.fromtimestamp(float(h.get("createdAt", 0)), UTC),
                    h.get("source", ""),
                    h.get("active") == "1",
                )
        return out

    def batch(self) -> Any:
        """A MULTI pipeline for several ``put_job`` calls (each job's commands stay together)."""
        return self.r.pipeline(transaction=True)

    def put_job(
        self,
        job: Job,
        *,
        generation: int,
        created_at: datetime,
        active: bool,
        git_sha: str | None,
        cursor: Occurrence | None,
        reset_cursor: bool,
        next_runs: list[datetime],
        batch: Any = None,
    ) -> None:
        """Write one job atomically (alone, or inside ``batch``, which the caller executes);
        ``reset_cursor`` replaces the dispatch cursor with ``cursor``."""
        name = str(job.key)
        fields: dict[str, Any] = {
            "spec": json.dumps(job.spec.raw, sort_keys=True),
            "specHash": job.spec.spec_hash,
            "generation": generation,
            "createdAt": created_at.timestamp(),
            "active": "1" if active else "0",
            "collection": job.key.collection,
            "source": str(job.source or ""),
            "gitSha": git_sha or "",
            "labels": json.dumps(dict(job.labels), sort_keys=True),
        }
        status = {
            "observedGeneration": generation,
            "source": fields["source"],
            "gitSha": fields["gitSha"],
            "nextRuns": json.dumps([iso(t) for t in next_runs]),
            "condition": READY if active else "Disabled",
            "reason": "" if active else "the job or its collection is disabled",
        }
        pipe = batch if batch is not None else self.r.pipeline(transaction=True)
        pipe.sadd(self.keys.jobs(), name)
        pipe.hset(self.keys.job(name), mapping=fields)  # type: ignore[arg-type]
        pipe.hdel(self.keys.job(name), "stalled")
        if reset_cursor:
            pipe.delete(self.keys.sched(name))
            if cursor is not None:
                pipe.hset(
                    self.keys.sched(name),
                    mapping={"nextAt": cursor.epoch, "number": cursor.number, "generation": generation},
                )
        if active and (cursor is not None or not reset_cursor):
            pipe.eval(_DUE_FROM_CURSOR, 2, self.keys.sched(name), self.keys.due(), name)
        else:
            pipe.zrem(self.keys.due(), name)
        if reset_cursor and cursor is None:
            status.update(condition="Completed", reason="no occurrence is left")
        if next_runs:
            status["nextExecutionTime"] = iso(next_runs[0])
        else:
            pipe.hdel(self.keys.status(name), "nextExecutionTime")
        pipe.hset(self.keys.status(name), mapping=status)  # type: ignore[arg-type]
        if batch is None:
            self.poke(pipe)
            pipe.execute()

    def poke(self, pipe: Any) -> None:
        """Wake the dispatch loop: the due index changed."""
        pipe.lpush(self.keys.poke(), "sync")
        pipe.ltrim(self.keys.poke(), 0, 9)

    def mark_stalled(self, name: str, reason: str) -> None:
        """An invalid manifest: say why, keep the last good spec running."""
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.status(name), mapping={"condition": STALLED, "reason": reason})
            pipe.hset(self.keys.job(name), "stalled", reason)
            pipe.execute()

    def delete_job(self, name: str) -> None:
        """Remove the job; its history stays until it expires by itself."""
        with self.r.pipeline(transaction=True) as pipe:
            pipe.srem(self.keys.jobs(), name)
            pipe.zrem(self.keys.due(), name)
            pipe.delete(self.keys.job(name), self.keys.sched(name), self.keys.status(name))
            pipe.execute()

    def put_collections(self, collections: list[Collection]) -> None:
        with self.r.pipeline(transaction=True) as pipe:
            for c in collections:
                pipe.sadd(self.keys.collections(), c.name)
                pipe.hset(
                    self.keys.collection(c.name),
                    mapping={
                        "spec": json.dumps(dict(c.raw), sort_keys=True),
                        "state": c.state.value,
                        "plan": c.plan.value,
                        "source": str(c.source or ""),
                    },
                )
            pipe.execute()

    def record_sync(self, fields: Mapping[str, str]) -> None:
        self.r.hset(self.keys.sync(), mapping=dict(fields))  # type: ignore[arg-type]

    def take_prune_allowance(self) -> bool:
        return bool(self.r.delete(self.keys.prune_allowed()))

    @staticmethod
    def _s(v: Any) -> str:
        return v.decode() if isinstance(v, bytes) else str(v)


# Put the job into the due index at its cursor (kept cursors stay where dispatch left them).
_DUE_FROM_CURSOR = """
local at = redis.call('hget', KEYS[1], 'nextAt')
if at then redis.call('zadd', KEYS[2], at, ARGV[1]) else redis.call('zrem', KEYS[2], ARGV[1]) end
return at
"""
