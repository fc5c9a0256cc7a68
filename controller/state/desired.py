"""Sync-side Redis access: observe what the store holds, apply a plan, record the pass.

``apply`` maps plan rows to writes and decides nothing: every value written (records, cursors,
status fields, deletions) is in the plan. Each job's commands stay together inside one MULTI
(several jobs share a MULTI round trip), so the dispatch loop never sees half a job. Records go
through their codecs in ``worker.records``; key names are in ``controller.state.keys``. Only
secret *references* are ever written (manifests hold nothing else).

Observing costs what changed: every apply batch appends the names it wrote to a change log
(``{p}:desired-rev``, a counter, and ``{p}:desired-log``, a capped stream, in the same MULTI).
A long-lived store keeps what it observed and, on the next pass, re-reads only the jobs and
collections the log names since then; when the log cannot prove that nothing else changed (the
counter is missing or went back, an entry was trimmed away) it reads everything again. Objects
that were not re-read are the same objects as last time, which lets the planner's memo see at a
glance that a job is unchanged. ``full_reads`` and ``partial_reads`` count the two (tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from controller.core.reconcile.rows import Action, CollectionRow, JobRow, Observed, ObservedJob, Plan
from controller.state import changelog
from controller.state.keys import ControllerKeys
from controller.state.sync_record import SyncRecord
from worker.records import C_NEXT_AT, SYNC_FIELDS, CollectionRecord, JobRecord, SyncStatus

BATCH = 500  # job writes per MULTI round trip


@dataclass
class _Seen:
    """What the store observed, as of change-log revision ``rev`` (stream entry ``last_id``)."""

    rev: int
    last_id: str
    jobs: dict[str, ObservedJob]
    collections: dict[str, CollectionRecord]
    handed: Observed | None = None  # the Observed last handed out, while nothing changed


class DesiredStore:
    def __init__(self, client: redis.Redis, keys: ControllerKeys, *, remember: bool = False):
        self.r, self.keys, self.remember = client, keys, remember
        self._seen: _Seen | None = None
        self.full_reads = self.partial_reads = 0

    # -- observe ---------------------------------------------------------------------------
    def forget(self) -> None:
        """Drop the remembered observation (after a failed pass: the next one reads everything)."""
        self._seen = None

    def observed(self) -> Observed:
        allowance = bool(self.r.exists(self.keys.prune_allowed()))
        seen = self._refresh() if self.remember else None
        if seen is None:
            rev, last_id = changelog.head(self.r, self.keys)
            seen = _Seen(rev, last_id, self._jobs(), self._collections())
            self.full_reads += 1
            if self.remember:
                self._seen = seen
        if seen.handed is None or seen.handed.prune_allowance != allowance:
            seen.handed = Observed(dict(seen.jobs), dict(seen.collections), allowance)
        return seen.handed

    def _refresh(self) -> _Seen | None:
        """The remembered observation brought up to date from the change log, or None."""
        seen = self._seen
        if seen is None:
            return None
        changed = changelog.changes_since(self.r, self.keys, seen.rev, seen.last_id)
        if changed is None:
            return None
        if changed.rev != seen.rev:
            seen.rev, seen.last_id, seen.handed = changed.rev, changed.last_id, None
            self._reload(seen, sorted(changed.names))
            self.partial_reads += 1
        return seen

    def _reload(self, seen: _Seen, names: list[str]) -> None:
        jobs = [n for n in names if "/" in n]  # job keys are <collection>/<name>; collections have no /
        colls = [n for n in names if "/" not in n]
        members = self.r.smismember(self.keys.jobs(), jobs) if jobs else []
        found = self._read_jobs([n for n, m in zip(jobs, members, strict=True) if m])
        for name in jobs:
            if name in found:
                seen.jobs[name] = found[name]
            else:
                seen.jobs.pop(name, None)
        records = self._read_collections(colls) if colls else {}
        for name in colls:
            if name in records:
                seen.collections[name] = records[name]
            else:
                seen.collections.pop(name, None)

    def _jobs(self) -> dict[str, ObservedJob]:
        return self._read_jobs(sorted(_s(m) for m in self.r.smembers(self.keys.jobs())))

    def _read_jobs(self, names: Sequence[str]) -> dict[str, ObservedJob]:
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
        return self._read_collections(sorted(_s(m) for m in self.r.smembers(self.keys.collections())))

    def _read_collections(self, names: Sequence[str]) -> dict[str, CollectionRecord]:
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
        logged: list[tuple[int, str]] = []
        pipe, batch = self.r.pipeline(transaction=True), []
        for c in plan.collections:
            if self._collection(pipe, c):
                batch.append(c.name)
        for row in plan.jobs:
            if row.writes:
                self._job(pipe, row)
                written.append(row.key)
                batch.append(row.key)
            if len(batch) >= BATCH:
                logged += self._end_batch(pipe, batch)
                batch = []
        if plan.prune.uses_allowance and plan.of(Action.DELETE):
            pipe.delete(self.keys.prune_allowed())
        logged += self._end_batch(pipe, batch)
        self._remember_own(plan, logged)
        return written

    def _end_batch(self, pipe: Any, names: list[str]) -> list[tuple[int, str]]:
        """The batch's change-log entry and a poke, in the batch's MULTI; then EXEC. Returns the
        entry's (revision, stream id)."""
        at = len(pipe.command_stack)
        if names:
            changelog.append(pipe, self.keys, names)
            self._poke(pipe)
        results = pipe.execute()
        if not names:
            return []
        rev, entry_id = results[at]
        return [(int(rev), _s(entry_id))]

    def _remember_own(self, plan: Plan, logged: list[tuple[int, str]]) -> None:
        """When the log shows that this apply's batches were the only writes since the remembered
        observation, bring it up to date from the rows just written instead of re-reading them
        (what the records' codecs write, they read back equal: their round-trip tests)."""
        seen = self._seen
        if (
            seen is None
            or not logged
            or [r for r, _ in logged] != list(range(seen.rev + 1, seen.rev + 1 + len(logged)))
        ):
            return
        for c in plan.collections:
            if c.delete:
                seen.collections.pop(c.name, None)
            elif c.record is not None:
                seen.collections[c.name] = c.record
        for row in plan.jobs:
            if not row.writes:
                continue
            old = seen.jobs.get(row.key)
            if row.delete:
                seen.jobs.pop(row.key, None)
                continue
            record = row.record or (old.record if old else None)
            if record is None:
                continue
            status = row.status if row.status is not None else (old.status if old else None)
            seen.jobs[row.key] = ObservedJob(record, status)
        seen.rev, seen.last_id, seen.handed = logged[-1][0], logged[-1][1], None

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


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


# Put the job into the due index at its cursor (a kept cursor stays where dispatch left it;
# a cursor with no occurrence left takes the job out). ARGV[2] is the cursor's nextAt field.
_DUE_FROM_CURSOR = """
local at = redis.call('hget', KEYS[1], ARGV[2])
if at and at ~= '' then redis.call('zadd', KEYS[2], at, ARGV[1]) else redis.call('zrem', KEYS[2], ARGV[1]) end
return at
"""
