"""What the REST API and the dashboard do, without HTTP: the routes only translate.

Writes go to manifests in the API-owned directory (``controller.sources.owned``) after the same
validation ``cronplane validate`` runs, over the whole desired state (the read-only sources the
controller also reads, plus the API's own files with the candidate in place), so quotas,
duplicates and collections are checked exactly as the controller will. Reads come from Redis
(``controller.api.reads``), overlaid with the API's not-yet-synced manifests so that a client
reads its own writes. Run-now and suspend/resume are overrides (``controller.state.overrides``).

Errors are ``ApiError(status, code, message, details)``: 400 with every validation problem,
404, 409 for quota violations and for resources another source owns (naming its file).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from controller.api import shapes
from controller.api.reads import JobView, Reads
from controller.core.manifest import Problem
from controller.core.model import DEFAULT_COLLECTION, JobKey, JobSpec
from controller.core.quota import LoadResult, load_documents
from controller.core.reconcile.render import plan_dict
from controller.core.recurrence import Schedule
from controller.settings import ControllerSettings
from controller.sources.directory import DirectorySource, read_tree
from controller.sources.owned import OwnedDir
from controller.state.desired import DesiredStore
from controller.state.overrides import MAX_SUSPEND, OverrideStore
from controller.sync import SyncLoop

Clock = Callable[[], datetime]


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str
    details: list[dict[str, str]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def not_found(what: str) -> ApiError:
    return ApiError(404, "ResourceNotFound", f"{what} does not exist")


def problems_error(problems: Sequence[Problem]) -> ApiError:
    rejected = any(p.rejected for p in problems)
    details = [
        {"code": "Conflict" if p.rejected else "BadRequest", "target": p.field, "message": str(p)} for p in problems
    ]
    if rejected:
        return ApiError(409, "Conflict", "the definition exceeds its collection's quota", details)
    return ApiError(400, "BadRequest", f"the definition is invalid ({len(problems)} problem(s))", details)


class Service:
    def __init__(
        self,
        client: redis.Redis,
        settings: ControllerSettings,
        owned: OwnedDir,
        sources: Sequence[str] = (),
        clock: Clock = lambda: datetime.now(UTC),
    ):
        self.r, self.settings, self.owned, self.sources, self.clock = client, settings, owned, tuple(sources), clock
        self.reads = Reads(client, settings)
        self.overrides = OverrideStore(client, settings.keys)

    # --- desired state (manifests) -------------------------------------------------------------
    def source_files(self) -> dict[str, bytes]:
        files, _ = read_tree([p for p in self.sources])
        return files

    def desired(self, candidate: Mapping[str, bytes | None] | None = None) -> LoadResult:
        files = {**self.source_files(), **self.owned.files()}
        for path, data in (candidate or {}).items():
            if data is None:
                files.pop(path, None)
            else:
                files[path] = data
        return load_documents(files, self.clock())

    def _read_only_source(self, key: str, desired: LoadResult) -> str | None:
        """Where a job is defined when that is not the API's directory (None: API-owned or new)."""
        for job in desired.jobs:
            if str(job.key) == key and job.source and not self.owned.owns(job.source.path):
                return str(job.source)
        view = self.reads.job(key)
        owned_file = self.owned.job_path(JobKey.parse(key)).exists()
        if view is not None and view.source and not self.owned.owns(view.source) and not owned_file:
            return view.source
        return None

    def _read_only_collection(self, name: str, desired: LoadResult) -> str | None:
        for c in desired.collections:
            if c.name == name and c.source and not self.owned.owns(c.source.path):
                return str(c.source)
        return "built in" if name == DEFAULT_COLLECTION else None

    # --- jobs ----------------------------------------------------------------------------------
    def _views(self, collection: str | None = None) -> dict[str, tuple[JobView | None, Mapping[str, Any] | None]]:
        """Every job: its Redis view and, for API-owned jobs, the spec its manifest holds now."""
        desired = self.desired()
        out: dict[str, tuple[JobView | None, Mapping[str, Any] | None]] = {v.key: (v, None) for v in self.reads.jobs()}
        for job in desired.jobs:
            if job.source and self.owned.owns(job.source.path):
                out[str(job.key)] = (out.get(str(job.key), (None, None))[0], job.spec.raw)
        if collection is not None:
            out = {k: v for k, v in out.items() if k.split("/", 1)[0] == collection}
        return dict(sorted(out.items()))

    def _job_resource(self, base: str, key: str, view: JobView | None, pending: Mapping[str, Any] | None) -> dict:
        spec = pending if pending is not None else (view.spec if view else {})
        status = view.status if view else {}
        extras: dict[str, Any] = {
            "condition": view.condition if view else "Pending",
            "reason": (view.status.get("reason", "") if view else "not yet synced by the controller"),
            "source": view.source if view else "",
            "gitSha": view.git_sha if view else "",
            "nextRuns": view.next_runs if view else [],
            "lastResult": status.get("lastResult", ""),
            "missedCount": int(status.get("missedCount", 0) or 0),
            "skippedCount": int(status.get("skippedCount", 0) or 0),
            "apiOwned": self.owned.job_path(JobKey.parse(key)).exists(),
            "pendingSync": pending is not None and (view is None or dict(view.spec) != dict(pending)),
            "labels": dict(view.labels) if view else {},
            "overrides": [view.suspension.describe()] if view and view.suspension else [],
        }
        if view and view.suspension:
            extras["suspension"] = {
                "reason": view.suspension.reason,
                "by": view.suspension.by,
                "until": view.suspension.until,
            }
        return shapes.job_resource(base, key, spec, status, extras)

    def list_jobs(self, base: str, collection: str, top: int, skip: int, state: str | None) -> dict[str, Any]:
        self._collection_exists(collection)
        items = [self._job_resource(base, k, v, p) for k, (v, p) in self._views(collection).items()]
        if state:
            items = [i for i in items if i["properties"]["state"] == state.lower()]
        return _page(items, top, skip)

    def get_job(self, base: str, collection: str, name: str) -> dict[str, Any]:
        key = f"{collection}/{name}"
        found = self._views(collection).get(key)
        if found is None:
            raise not_found(f"job {key}")
        return self._job_resource(base, key, *found)

    def put_job(self, base: str, collection: str, name: str, body: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        key = JobKey(collection, name)
        with self.owned.lock:
            desired = self.desired()
            self._writable_job(str(key), desired)
            self._collection_exists(collection, desired)
            props = dict(body.get("properties") or {})
            view = self.reads.job(str(key))
            if view is not None and view.condition in ("Completed", "Faulted"):
                raise ApiError(409, "Conflict", f"job {key} is {view.condition.lower()}: it can only be deleted")
            path = self.owned.job_path(key)
            created = not path.exists()
            old = self.owned.read(path) if not created else None
            labels = body.get("tags") or ((old or {}).get("metadata") or {}).get("labels")
            self._write_checked(path, shapes.job_manifest(collection, name, props, labels), str(key))
        return self.get_job(base, collection, name), created

    def patch_job(self, base: str, collection: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        key = JobKey(collection, name)
        with self.owned.lock:
            desired = self.desired()
            self._writable_job(str(key), desired)
            path = self.owned.job_path(key)
            doc = self.owned.read(path)
            if doc is None:
                raise not_found(f"job {key}")
            doc["spec"] = shapes.merge_patch(doc.get("spec") or {}, body.get("properties") or {})
            if body.get("tags") is not None:
                doc.setdefault("metadata", {})["labels"] = body["tags"]
            self._write_checked(path, doc, str(key))
        return self.get_job(base, collection, name)

    def delete_job(self, collection: str, name: str) -> None:
        key = JobKey(collection, name)
        with self.owned.lock:
            source = self._read_only_source(str(key), self.desired())
            if source is not None:
                raise ApiError(409, "Conflict", f"job {key} is defined in {source}; delete it there")
            if not self.owned.remove(self.owned.job_path(key)):
                raise not_found(f"job {key}")

    def _writable_job(self, key: str, desired: LoadResult) -> None:
        source = self._read_only_source(key, desired)
        if source is not None:
            raise ApiError(409, "Conflict", f"job {key} is defined in {source}; it is read-only through the API")

    def _write_checked(self, path: Any, doc: Mapping[str, Any], key: str | None = None, coll: str = "") -> None:
        data = OwnedDir.render(doc)
        result = self.desired({str(path): data})
        mine = [
            p
            for p in result.problems
            if p.path == str(path) or (key and str(p.job) == key) or (coll and p.collection == coll)
        ]
        if mine:
            raise problems_error(mine)
        self.owned.write(path, doc)

    # --- history, run-now, overrides -----------------------------------------------------------
    def history(self, base: str, collection: str, name: str, top: int, skip: int, status: str | None) -> dict:
        key = f"{collection}/{name}"
        if key not in self._views(collection):
            raise not_found(f"job {key}")
        entries = self.reads.history(key, top=top + 1, skip=skip, status=status)
        items = [shapes.history_resource(base, e) for e in entries[:top]]
        return {"value": items, "nextLink": f"?$top={top}&$skip={skip + top}" if len(entries) > top else None}

    def run_job(self, collection: str, name: str, reason: str, by: str) -> dict[str, Any]:
        key = f"{collection}/{name}"
        if self.reads.job(key) is None:
            if key in self._views(collection):
                raise ApiError(409, "Conflict", f"job {key} is not synced by the controller yet; try again shortly")
            raise not_found(f"job {key}")
        req = self.overrides.request_run(key, reason, by, self.clock())
        return {"requestId": req.id, "job": key, "reason": reason, "by": by, "requestedAt": req.at}

    def suspend(self, kind: str, name: str, length: timedelta, reason: str, by: str) -> dict[str, Any]:
        if not timedelta(seconds=1) <= length <= MAX_SUSPEND:
            raise ApiError(400, "BadRequest", f"a suspend lasts from 1 second to {MAX_SUSPEND.days} days")
        if not reason.strip():
            raise ApiError(400, "BadRequest", "a suspend needs a reason")
        self._target_exists(kind, name)
        s = self.overrides.suspend(kind, name, length, reason.strip(), by, self.clock())
        return {"target": s.target, "reason": s.reason, "by": s.by, "since": s.since, "until": s.until}

    def resume(self, kind: str, name: str) -> dict[str, Any]:
        self._target_exists(kind, name)
        return {"target": f"{kind} {name}", "resumed": self.overrides.resume(kind, name)}

    def _target_exists(self, kind: str, name: str) -> None:
        if kind == "job":
            if name not in self._views(name.split("/", 1)[0]):
                raise not_found(f"job {name}")
        else:
            self._collection_exists(name)

    # --- collections ---------------------------------------------------------------------------
    def _collections(self, desired: LoadResult | None = None) -> dict[str, tuple[Mapping[str, Any], str]]:
        desired = desired or self.desired()
        out: dict[str, tuple[Mapping[str, Any], str]] = {DEFAULT_COLLECTION: ({}, "built in")}
        for name, record in self.reads.collections().items():
            out[name] = (record.spec, record.source) if record else out.get(name, ({}, ""))
        for c in desired.collections:
            out[c.name] = (c.raw, str(c.source or ""))
        return dict(sorted(out.items()))

    def _collection_exists(self, name: str, desired: LoadResult | None = None) -> None:
        if name not in self._collections(desired):
            raise not_found(f"job collection {name}")

    def _collection_resource(self, base: str, name: str, spec: Mapping[str, Any], source: str) -> dict[str, Any]:
        suspension = self.reads.collection_suspensions([name]).get(name)
        jobs = [k for k in self.reads.job_names() if k.split("/", 1)[0] == name]
        extras = {
            "source": source,
            "apiOwned": self.owned.collection_path(name).exists(),
            "jobCount": len(jobs),
            "overrides": [suspension.describe()] if suspension else [],
        }
        return shapes.collection_resource(base, name, spec, extras)

    def list_collections(self, base: str) -> dict[str, Any]:
        items = [self._collection_resource(base, n, s, src) for n, (s, src) in self._collections().items()]
        return {"value": items, "nextLink": None}

    def get_collection(self, base: str, name: str) -> dict[str, Any]:
        found = self._collections().get(name)
        if found is None:
            raise not_found(f"job collection {name}")
        return self._collection_resource(base, name, *found)

    def put_collection(self, base: str, name: str, body: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        with self.owned.lock:
            self._writable_collection(name)
            path = self.owned.collection_path(name)
            created = not path.exists()
            self._write_checked(path, shapes.collection_manifest(name, body), coll=name)
        return self.get_collection(base, name), created

    def patch_collection(self, base: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.owned.lock:
            self._writable_collection(name)
            doc = self.owned.read(self.owned.collection_path(name))
            if doc is None:
                raise not_found(f"job collection {name}")
            patch = shapes.collection_manifest(name, body)
            doc["spec"] = shapes.merge_patch(doc.get("spec") or {}, patch["spec"])
            self._write_checked(self.owned.collection_path(name), doc, coll=name)
        return self.get_collection(base, name)

    def set_collection_state(self, name: str, state: str) -> None:
        """POST enable/disable: a disabled collection stops every job; enabling restarts exactly the
        jobs that are enabled (reference §8.1, the classic API's behaviour)."""
        self.patch_collection("", name, {"properties": {"state": state}})

    def delete_collection(self, name: str) -> None:
        with self.owned.lock:
            self._writable_collection(name)
            jobs = [k for k in self._views(name)]
            if jobs:
                raise ApiError(
                    409, "Conflict", f"job collection {name} still holds {len(jobs)} job(s); delete them first"
                )
            if not self.owned.remove(self.owned.collection_path(name)):
                raise not_found(f"job collection {name}")

    def _writable_collection(self, name: str) -> None:
        source = self._read_only_collection(name, self.desired())
        if source is not None:
            raise ApiError(
                409, "Conflict", f"job collection {name} is defined in {source}; it is read-only through the API"
            )

    # --- dashboard -----------------------------------------------------------------------------
    def next_runs(self, key: str, count: int) -> list[str]:
        view = self.reads.job(key)
        if view is None or not view.active:
            return []
        return upcoming(view, count, self.clock())

    def plan(self) -> dict[str, Any]:
        """The pending plan: what the controller's next pass would change (the same planner)."""
        paths = [*self.sources, str(self.owned.root)] if self.owned.root.exists() else list(self.sources)
        sync = SyncLoop(DirectorySource(*paths), DesiredStore(self.r, self.settings.keys), self.settings)
        out = plan_dict(sync.plan(self.clock()))
        out["overrides"] = self.reads.overrides()
        return out

    def overview(self, strip: int = 12) -> dict[str, Any]:
        views = self._views()
        recent = self.reads.recent(list(views), strip)
        jobs = []
        for key, (view, pending) in views.items():
            spec = pending if pending is not None else (view.spec if view else {})
            status = view.status if view else {}
            jobs.append(
                {
                    "job": key,
                    "collection": key.split("/", 1)[0],
                    "name": key.split("/", 1)[1],
                    "state": shapes.job_state(spec, view.condition if view else ""),
                    "condition": view.condition if view else "Pending",
                    "reason": status.get("reason", ""),
                    "schedule": describe_schedule(spec),
                    "nextExecutionTime": status.get("nextExecutionTime"),
                    "lastExecutionTime": status.get("lastExecutionTime"),
                    "lastResult": status.get("lastResult"),
                    "executionCount": int(status.get("executionCount", 0) or 0),
                    "failureCount": int(status.get("failureCount", 0) or 0),
                    "suspended": view.suspension.describe() if view and view.suspension else None,
                    "recent": [
                        {"status": e.status, "at": e.start_time, "manual": bool(e.trigger)} for e in recent[key]
                    ],
                }
            )
        return {
            "jobs": jobs,
            "collections": [
                {"name": n, "state": str(s.get("state", "enabled")), "source": src}
                for n, (s, src) in self._collections().items()
            ],
            "leader": self.reads.leader(),
            "sync": {"at": sync.at, "result": sync.result} if (sync := self.reads.sync()) else {},
            "overrides": self.reads.overrides(),
            "queueDepth": self.reads.queue_depth(),
        }

    def feed(self, limit: int) -> list[dict[str, Any]]:
        return [shapes.history_resource("", e) for e in self.reads.feed(limit)]


def _page(items: list[dict[str, Any]], top: int, skip: int) -> dict[str, Any]:
    more = len(items) > skip + top
    return {"value": items[skip : skip + top], "nextLink": f"?$top={top}&$skip={skip + top}" if more else None}


def upcoming(view: JobView, count: int, now: datetime) -> list[str]:
    """The next ``count`` runs from ``now`` (the engine the dispatch loop uses)."""
    schedule = Schedule(JobSpec.from_dict(view.spec).timing, datetime.fromtimestamp(view.created_at, UTC))
    first = schedule.first_at_or_after(now)
    if first is None:
        return []
    runs = [first, *schedule.upcoming(count - 1, after=first)]
    return [o.at.strftime("%Y-%m-%dT%H:%M:%SZ") for o in runs]


def describe_schedule(spec: Mapping[str, Any]) -> str:
    """The schedule in words: 'every 5 minutes', 'cron 0 * * * *', 'once at ...'."""
    if spec.get("cron"):
        return f"cron {spec['cron']}"
    if spec.get("rrule"):
        return f"rrule {spec['rrule']}"
    rec = spec.get("recurrence")
    zone = f" ({spec['timeZone']})" if spec.get("timeZone") not in (None, "UTC") else ""
    if not rec:
        return f"once at {spec['startTime']}" if spec.get("startTime") else "once, when created"
    n, unit = int(rec.get("interval", 1)), str(rec.get("frequency", "?"))
    words = f"every {unit}" if n == 1 else f"every {n} {unit}s"
    sched = rec.get("schedule") or {}
    parts = [
        f"{k} {','.join(str(x) for x in v)}"
        for k, v in sched.items()
        if isinstance(v, list) and v and k != "monthlyOccurrences"
    ]
    if sched.get("monthlyOccurrences"):
        occ = [f"{m.get('occurrence', 'every')} {m.get('day')}" for m in sched["monthlyOccurrences"]]
        parts.append("on " + ", ".join(occ))
    return words + (" at " + "; ".join(parts) if parts else "") + zone
