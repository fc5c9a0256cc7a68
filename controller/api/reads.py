"""Every read the operations surface makes from Redis (API, dashboard, get/describe, metrics).

The job, status and collection records are decoded only by their codecs (``worker.records``,
through ``controller.state.reader``); this module adds what the operations surface needs on
top (overrides in force, history pages, the live feed, the leader, the queue depth). Nothing in
this module writes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from rq import Queue

from controller.settings import ControllerSettings
from controller.state.keys import ControllerKeys
from controller.state.overrides import OverrideStore, Suspension
from controller.state.reader import StatusReader
from controller.state.sync_record import SyncRecord
from worker.contract import HistoryEntry
from worker.records import CollectionRecord, JobRecord, JobStatus

HISTORY_MAX_AGE = 60 * 24 * 3600


@dataclass(frozen=True)
class JobView:
    """One job for display: its record and derived status (``worker.records.JobStatus``) plus the
    operator override in force, if any."""

    key: str  # "<collection>/<name>"
    record: JobStatus
    suspension: Suspension | None = None

    @property
    def job(self) -> JobRecord:
        assert self.record.job is not None
        return self.record.job

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.job.spec

    @property
    def active(self) -> bool:
        return self.job.active

    @property
    def source(self) -> str:
        return self.job.source

    @property
    def git_sha(self) -> str:
        return self.job.git_sha

    @property
    def labels(self) -> Mapping[str, str]:
        return self.job.labels

    @property
    def created_at(self) -> float:
        return self.job.created_at

    @property
    def collection(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split("/", 1)[1]

    @property
    def condition(self) -> str:
        return "Suspended" if self.suspension is not None else self.record.condition.value

    @property
    def next_runs(self) -> list[str]:
        return [_iso(t) for t in self.record.next_runs]

    @property
    def status(self) -> dict[str, str]:
        """The status fields as Azure names them, the derived ones included."""
        out = dict(self.record.fields)
        out.update(condition=self.record.condition.value, reason=self.record.reason)
        if self.record.next_runs:
            out["nextExecutionTime"] = _iso(self.record.next_runs[0])
        return out


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class Reads:
    def __init__(self, client: redis.Redis, settings: ControllerSettings):
        self.r, self.settings = client, settings
        self.keys: ControllerKeys = settings.keys
        self.reader = StatusReader(client, settings.keys)

    def job_names(self) -> list[str]:
        return self.reader.job_names()

    def jobs(self, names: Sequence[str] | None = None) -> list[JobView]:
        names = self.job_names() if names is None else list(names)
        suspended = OverrideStore(self.r, self.keys).suspensions(names)
        return [JobView(s.name, s, suspended.get(s.name)) for s in self.reader.statuses(names) if s.job is not None]

    def job(self, name: str) -> JobView | None:
        found = self.jobs([name])
        return found[0] if found else None

    def collections(self) -> dict[str, CollectionRecord | None]:
        """Collection records, plus any collection a job names without one (the default)."""
        out: dict[str, CollectionRecord | None] = {c.name: c for c in self.reader.collections()}
        for job in self.job_names():
            out.setdefault(job.split("/", 1)[0], None)
        return dict(sorted(out.items()))

    def collection_suspensions(self, names: Sequence[str]) -> dict[str, Suspension]:
        return OverrideStore(self.r, self.keys).collection_suspensions(names)

    def history(
        self, job: str, *, top: int, skip: int = 0, status: str | None = None, now: float | None = None
    ) -> list[HistoryEntry]:
        """Newest first, filtered by status, within the age bound (Azure's history API)."""
        now_ms = int((now or time.time()) * 1000)
        raw = self.r.zrevrangebyscore(self.keys.history(job), "+inf", now_ms - HISTORY_MAX_AGE * 1000)
        entries = (HistoryEntry.from_json(x) for x in raw)  # type: ignore[arg-type]
        selected = [e for e in entries if status is None or e.status == status]
        return selected[skip : skip + top]

    def recent(self, jobs: Sequence[str], per_job: int) -> dict[str, list[HistoryEntry]]:
        with self.r.pipeline(transaction=False) as pipe:
            for j in jobs:
                pipe.zrevrange(self.keys.history(j), 0, per_job - 1)
            rows = pipe.execute()
        return {j: [HistoryEntry.from_json(x) for x in row] for j, row in zip(jobs, rows, strict=True)}

    def feed(self, limit: int) -> list[HistoryEntry]:
        """The newest history entries across all jobs (the live feed)."""
        jobs = sorted(_s(j) for j in self.r.smembers(self.keys.history_jobs()))
        entries = [e for row in self.recent(jobs, limit).values() for e in row]
        return sorted(entries, key=lambda e: e.start_time, reverse=True)[:limit]

    def leader(self) -> str | None:
        owner = self.r.get(self.keys.lease())
        return _s(owner) if owner else None

    def sync(self) -> SyncRecord | None:
        return self.reader.last_sync()

    def queue_depth(self) -> int:
        return int(Queue(self.settings.queue, connection=self.r).count)

    def overrides(self) -> list[str]:
        return OverrideStore(self.r, self.keys).all_active()

    def ping(self) -> bool:
        try:
            return bool(self.r.ping())
        except redis.RedisError:
            return False
