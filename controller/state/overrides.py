"""Operator overrides in Redis: run-now requests and suspends that expire by themselves.

Overrides are not desired state: they never touch a manifest, and every one of them is shown as
drift from the manifests (``get``, ``describe``, ``status``, ``plan``, the dashboard) while it
lasts. Key names are in ``controller.state.keys``.

- **Run-now** (reference §7.4): ``request_run`` adds a request to the ``run-now`` hash and pokes
  the dispatch loop; the lease holder enqueues it under a deterministic invocation id
  (``<collection>_<name>-<epoch>-run-<request>``, RQ ``unique``) and only then removes the
  request, so a crash in between re-enqueues the same id, which RQ absorbs. The schedule, its
  cursor and ``count`` do not move.
- **Suspend**: one key per job (or collection) holding ``{reason, by, since, until}`` with a TTL
  of the suspend's length, so it ends without anyone resuming it. While it exists, the dispatch
  loop records the job's due occurrences as skipped, with the reason, and advances as usual.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from controller.state.keys import ControllerKeys

MAX_SUSPEND = timedelta(days=90)
MAX_PENDING_RUNS = 1000  # run-now requests the dispatcher takes per pass


@dataclass(frozen=True)
class RunRequest:
    id: str
    job: str
    reason: str
    by: str
    at: str  # ISO 8601 UTC, when it was asked for

    @property
    def invocation_suffix(self) -> str:
        return f"run-{self.id}"


@dataclass(frozen=True)
class Suspension:
    target: str  # "job <collection>/<name>" or "collection <name>"
    reason: str
    by: str
    since: str
    until: str

    def describe(self) -> str:
        return f"{self.target} suspended until {self.until} by {self.by}: {self.reason}"


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class OverrideStore:
    def __init__(self, client: redis.Redis, keys: ControllerKeys):
        self.r, self.keys = client, keys

    # --- run-now -------------------------------------------------------------------------------
    def request_run(self, job: str, reason: str, by: str, now: datetime) -> RunRequest:
        req = RunRequest(uuid.uuid4().hex[:12], job, reason, by, iso(now))
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.run_now(), req.id, json.dumps(asdict(req)))
            pipe.lpush(self.keys.poke(), "run-now")
            pipe.ltrim(self.keys.poke(), 0, 9)
            pipe.execute()
        return req

    def pending_runs(self) -> list[RunRequest]:
        rows: dict[Any, Any] = self.r.hgetall(self.keys.run_now())
        out = []
        for raw in list(rows.values())[:MAX_PENDING_RUNS]:
            try:
                out.append(RunRequest(**json.loads(raw)))
            except (TypeError, ValueError):
                continue
        return sorted(out, key=lambda r: r.at)

    def done_run(self, request_id: str) -> None:
        self.r.hdel(self.keys.run_now(), request_id)

    # --- suspend / resume ----------------------------------------------------------------------
    def _key(self, kind: str, name: str) -> str:
        return self.keys.suspend(name) if kind == "job" else self.keys.suspend_collection(name)

    def suspend(self, kind: str, name: str, length: timedelta, reason: str, by: str, now: datetime) -> Suspension:
        s = Suspension(f"{kind} {name}", reason, by, iso(now), iso(now + length))
        with self.r.pipeline(transaction=True) as pipe:
            pipe.set(self._key(kind, name), json.dumps(asdict(s)), ex=max(1, int(length.total_seconds())))
            pipe.lpush(self.keys.poke(), "suspend")
            pipe.ltrim(self.keys.poke(), 0, 9)
            pipe.execute()
        return s

    def resume(self, kind: str, name: str) -> bool:
        return bool(self.r.delete(self._key(kind, name)))

    def suspensions(self, jobs: Sequence[str]) -> dict[str, Suspension]:
        """The suspension in force for each job (its own, else its collection's); one MGET."""
        if not jobs:
            return {}
        collections = sorted({j.split("/", 1)[0] for j in jobs})
        keys = [self.keys.suspend(j) for j in jobs] + [self.keys.suspend_collection(c) for c in collections]
        values = self.r.mget(keys)
        by_collection = {c: _suspension(v) for c, v in zip(collections, values[len(jobs) :], strict=True)}
        out = {}
        for job, value in zip(jobs, values[: len(jobs)], strict=True):
            found = _suspension(value) or by_collection.get(job.split("/", 1)[0])
            if found is not None:
                out[job] = found
        return out

    def collection_suspensions(self, names: Sequence[str]) -> dict[str, Suspension]:
        if not names:
            return {}
        values = self.r.mget([self.keys.suspend_collection(n) for n in names])
        return {n: s for n, v in zip(names, values, strict=True) if (s := _suspension(v)) is not None}

    def all_active(self) -> list[str]:
        """One line per override in force (what ``status`` and ``plan`` show as drift)."""
        lines = []
        for pattern in (self.keys.suspend("*"), self.keys.suspend_collection("*")):
            for key in self.r.scan_iter(match=pattern, count=500):
                s = _suspension(self.r.get(key))
                if s is not None:
                    lines.append(f"override: {s.describe()}")
        lines += [f"override: run-now of {r.job} requested by {r.by}: {r.reason}" for r in self.pending_runs()]
        return sorted(lines)


def _suspension(value: Any) -> Suspension | None:
    if not value:
        return None
    try:
        return Suspension(**json.loads(value))
    except (TypeError, ValueError):
        return None
