"""Every read the operations surface makes from Redis (API, dashboard, get/describe, metrics).

One module on purpose: the job, status, collection and history records are shared with the
sync loop, the dispatch loop and the workers, and their codecs live with their owners; this is
the one place that reads them for display, so moving onto a new codec is one edit here.
Nothing in this module writes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from rq import Queue

from controller.settings import ControllerSettings
from controller.state.keys import ControllerKeys
from controller.state.overrides import OverrideStore, Suspension
from worker.contract import HistoryEntry

HISTORY_MAX_AGE = 60 * 24 * 3600


@dataclass(frozen=True)
class JobView:
    key: str  # "<collection>/<name>"
    spec: Mapping[str, Any]
    status: Mapping[str, str]
    active: bool
    source: str
    git_sha: str
    labels: Mapping[str, str] = field(default_factory=dict)
    stalled: str = ""
    suspension: Suspension | None = None
    created_at: float = 0.0  # the schedule's creation instant (epoch s)

    @property
    def collection(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split("/", 1)[1]

    @property
    def condition(self) -> str:
        if self.suspension is not None:
            return "Suspended"
        return self.status.get("condition", "Pending")

    @property
    def next_runs(self) -> list[str]:
        try:
            return list(json.loads(self.status.get("nextRuns", "[]")))
        except ValueError:
            return []


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _hash(row: Mapping[Any, Any]) -> dict[str, str]:
    return {_s(k): _s(v) for k, v in row.items()}


class Reads:
    def __init__(self, client: redis.Redis, settings: ControllerSettings):
        self.r, self.settings = client, settings
        self.keys: ControllerKeys = settings.keys

    def job_names(self) -> list[str]:
        return sorted(_s(m) for m in self.r.smembers(self.keys.jobs()))

    def jobs(self, names: Sequence[str] | None = None) -> list[JobView]:
        names = self.job_names() if names is None else list(names)
        with self.r.pipeline(transaction=False) as pipe:
            for n in names:
                pipe.hgetall(self.keys.job(n))
                pipe.hgetall(self.keys.status(n))
            rows = pipe.execute()
        suspended = OverrideStore(self.r, self.keys).suspensions(names)
        out = []
        for i, n in enumerate(names):
            job, status = _hash(rows[2 * i]), _hash(rows[2 * i + 1])
            if "spec" not in job:
                continue
            out.append(
                JobView(
                    key=n,
                    spec=json.loads(job["spec"]),
                    status=status,
                    active=job.get("active") == "1",
                    source=job.get("source", ""),
                    git_sha=job.get("gitSha", ""),
                    labels=json.loads(job.get("labels") or "{}"),
                    stalled=job.get("stalled", ""),
                    suspension=suspended.get(n),
                    created_at=float(job.get("createdAt") or 0),
                )
            )
        return out

    def job(self, name: str) -> JobView | None:
        found = self.jobs([name])
        return found[0] if found else None

    def collections(self) -> dict[str, dict[str, str]]:
        """Collection records when the store has them; else the collections its jobs name."""
        names = {_s(m) for m in self.r.smembers(self.keys.collections())}
        out = {n: _hash(self.r.hgetall(self.keys.collection(n))) for n in sorted(names)}
        for job in self.job_names():
            out.setdefault(job.split("/", 1)[0], {})
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

    def sync(self) -> dict[str, str]:
        return _hash(self.r.hgetall(self.keys.sync()))

    def queue_depth(self) -> int:
        return int(Queue(self.settings.queue, connection=self.r).count)

    def overrides(self) -> list[str]:
        return OverrideStore(self.r, self.keys).all_active()

    def ping(self) -> bool:
        try:
            return bool(self.r.ping())
        except redis.RedisError:
            return False
