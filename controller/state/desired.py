"""Sync-side Redis access: observe what the store holds, apply a plan, record the pass.

``apply`` maps plan rows to writes and decides nothing: every value written (records, cursors,
status fields, deletions) is in the plan. Each job's commands stay together inside one MULTI
(several jobs share a MULTI round trip), so the dispatch loop never sees half a job. Records go
through their codecs in ``worker.records``; key names are in ``controller.state.keys``. Only
secret *references* are ever written (manifests hold nothing else).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from controller.core.reconcile.plan import Action, CollectionRow, JobRow, Observed, ObservedJob, Plan
from controller.state.keys import ControllerKeys
from controller.state.sync_record import SyncRecord
from worker.records import C_NEXT_AT, SYNC_FIELDS, CollectionRecord, JobRecord, SyncStatus

BATCH = 500  # job writes per MULTI round trip


class DesiredStore:
    def __init__(self, client: redis.Redis, keys: ControllerKeys):
        self.r, self.keys = client, keys

    # -- observe ---------------------------------------------------------------------------
    def observed(self) -> Observed:
        return Observed(self._jobs(), self._collections(), bool(self.r.exists(self.keys.prune_allowed())))

    def _jobs(self) -> dict[str, ObservedJob]:
        names = sorted(_s(m) for m in self.r.smembers(self.keys.jobs()))
        rows = self._pipelined(
            names, lambda p, n: (p.hgetall(self.keys.job(n)), p.hmget(self.keys.status(n), *SYNC_FIELDS))
        )
        out = {}
        for name, (job_row, status_values) in zip(names, rows, strict=True):
            record = JobRecord.from_redis(name, job_row)
            if record is not None:
                status = {f: v for f, v in zip(SYNC_FIELDS, status_values, strict=True) if v is not None}
                out[name] = ObservedJob(record, SyncStatus.from_redis(status))
        return out

    def _collections(self) -> dict[str, CollectionRecord]:
        names = sorted(_s(m) for m in self.r.smembers(self.keys.collections()))
        rows = self._pipelined(names, lambda p, n: (p.hgetall(self.keys.collection(n)),))
        records = (CollectionRecord.from_redis(n, row) for n, (row,) in zip(names, rows, strict=True))
        return {c.name: c for c in records if c is not None}

    def _pipelined(self, names: Sequence[str], queue: Any) -> list[tuple[Any, ...]]:
        with self.r.pipeline(transaction=False) as pipe:
            width = 0
            for n in names:
                width = len(queue(pipe, n))
            flat = pipe.execute()
        return [tuple(flat[i : i + width]) for i in range(0, len(flat), width)] if names else []

    # -- apply -----------------------------------------------------------------------------
    def apply(self, plan: Plan) -> list[str]:
        """Write every row's writes; returns the keys of the jobs written."""
        written: list[str] = []
        pipe, pending = self.r.pipeline(transaction=True), 0
        for c in plan.collections:
            pending += self._collection(pipe, c)
        for row in plan.jobs:
            if row.writes:
                self._job(pipe, row)
                written.append(row.key)
                pending += 1
            if pending >= BATCH:
                self._poke(pipe)
                pipe.execute()
                pending = 0
        if plan.prune.uses_allowance and plan.of(Action.DELETE):
            pipe.delete(self.keys.prune_allowed())
        self._poke(pipe)
        pipe.execute()
        return written

    def _job(self, pipe: Any, row: JobRow) -> None:
        name = row.key
        if row.delete:
            pipe.srem(self.keys.jobs(), name)
            pipe.zrem(self.keys.due(), name)
            pipe.delete(self.keys.job(name), self.keys.cursor(name), self.keys.status(name))
            return
        if row.record is not None:
            pipe.sadd(self.keys.jobs(), name)
            pipe.delete(self.keys.job(name))
            pipe.hset(self.keys.job(name), mapping=row.record.to_redis())
        if row.reset_cursor and row.cursor is not None:
            pipe.delete(self.keys.cursor(name))
            pipe.hset(self.keys.cursor(name), mapping=row.cursor.to_redis())
        if row.record is not None:
            if row.record.active:
                pipe.eval(_DUE_FROM_CURSOR, 2, self.keys.cursor(name), self.keys.due(), name, C_NEXT_AT)
            else:
                pipe.zrem(self.keys.due(), name)
        if row.status is not None:
            pipe.hset(self.keys.status(name), mapping=row.status.to_redis())

    def _collection(self, pipe: Any, c: CollectionRow) -> int:
        if c.delete:
            pipe.srem(self.keys.collections(), c.name)
            pipe.delete(self.keys.collection(c.name))
            return 1
        if c.record is not None:
            pipe.sadd(self.keys.collections(), c.name)
            pipe.delete(self.keys.collection(c.name))
            pipe.hset(self.keys.collection(c.name), mapping=c.record.to_redis())
            return 1
        return 0

    def _poke(self, pipe: Any) -> None:
        """Wake the dispatch loop: the due index may have changed."""
        pipe.lpush(self.keys.poke(), "sync")
        pipe.ltrim(self.keys.poke(), 0, 9)

    # -- the pass record -------------------------------------------------------------------
    def record_sync(self, record: SyncRecord) -> None:
        with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.sync())
            pipe.hset(self.keys.sync(), mapping=record.to_redis())  # type: ignore[arg-type]
            pipe.execute()

    def last_sync(self) -> SyncRecord | None:
        return SyncRecord.from_redis(self.r.hgetall(self.keys.sync()))


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


# Put the job into the due index at its cursor (a kept cursor stays where dispatch left it;
# a cursor with no occurrence left takes the job out). ARGV[2] is the cursor's nextAt field.
_DUE_FROM_CURSOR = """
local at = redis.call('hget', KEYS[1], ARGV[2])
if at and at ~= '' then redis.call('zadd', KEYS[2], at, ARGV[1]) else redis.call('zrem', KEYS[2], ARGV[1]) end
return at
"""
