"""Rules over the whole set of manifests: duplicates, collections, plan quotas. Pure.

``load_documents`` is the one entry point that turns file contents into a validated desired
state (``LoadResult``). A job named by any problem is left out of ``LoadResult.jobs``; quota
problems are marked ``rejected`` (a valid manifest refused by its collection's limits: Azure
answered 409 Conflict) so plans can tell them from format errors.

Quota rules (reference §1.2, §4.1): a collection holds at most ``quota.maxJobCount`` jobs (plan
default: free 5, standard/premium 50, p20premium 1000; the jobs over the count, in file order,
are rejected); no job recurs more often than ``quota.maxRecurrence`` (free: hourly), measured as
the shortest gap between its next 50 occurrences; ``recurrence.count`` ≤ ``maxJobOccurrence``;
the free plan allows no HTTP authentication; retryInterval ≥ the collection's minimum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from controller.core import rules
from controller.core.manifest import Problem, field_name, parse_manifest
from controller.core.model import (
    DEFAULT_COLLECTION,
    Collection,
    Job,
    JobKey,
    Plan,
    default_collection,
)
from controller.core.recurrence import shortest_gap


@dataclass
class LoadResult:
    jobs: list[Job] = field(default_factory=list)
    collections: list[Collection] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def invalid_jobs(self) -> set[JobKey]:
        return {p.job for p in self.problems if p.job is not None}

    def invalid_collections(self) -> set[str]:
        return {p.collection for p in self.problems if p.collection is not None}


def load_documents(files: Mapping[str, bytes], now: datetime) -> LoadResult:
    parsed = [parse_manifest(path, data) for path, data in sorted(files.items())]
    jobs = [j for p in parsed for j in p.jobs]
    collections = [c for p in parsed for c in p.collections]
    problems = [x for p in parsed for x in p.problems] + check_set(jobs, collections, now)
    bad_jobs = {p.job for p in problems if p.job is not None}
    bad_colls = {p.collection for p in problems if p.collection is not None}
    return LoadResult(
        jobs=[j for j in jobs if j.key not in bad_jobs],
        collections=[c for c in collections if c.name not in bad_colls],
        problems=problems,
        files=sorted(files),
    )


def check_set(jobs: Sequence[Job], collections: Sequence[Collection], now: datetime) -> list[Problem]:
    problems = _duplicate_collections(collections)
    defined = {c.name: c for c in collections}
    defined.setdefault(DEFAULT_COLLECTION, default_collection())
    seen: dict[JobKey, Job] = {}
    counts: dict[str, int] = {}
    for job in jobs:
        if job.key in seen:
            first = seen[job.key].source
            problems.append(_problem(job, "metadata.name", f"duplicate job {job.key} (also defined at {first})"))
            problems.append(
                _problem(seen[job.key], "metadata.name", f"duplicate job {job.key} (also defined at {job.source})")
            )
            continue
        seen[job.key] = job
        coll = defined.get(job.key.collection)
        if coll is None:
            problems.append(
                _problem(
                    job,
                    "metadata.collection",
                    f"collection {job.key.collection!r} is not defined "
                    "(add a JobCollection manifest, or leave collection out for 'default')",
                )
            )
            continue
        counts[coll.name] = counts.get(coll.name, 0) + 1
        problems += _job_quota(job, coll, counts[coll.name], now)
    return problems


def _duplicate_collections(collections: Sequence[Collection]) -> list[Problem]:
    out: list[Problem] = []
    seen: dict[str, object] = {}
    for c in collections:
        if c.name in seen:
            src = c.source
            out.append(
                Problem(
                    src.path if src else "?",
                    src.line if src else 1,
                    1,
                    "metadata.name",
                    f"duplicate collection {c.name} (also defined at {seen[c.name]})",
                    collection=c.name,
                )
            )
        seen[c.name] = c.source
    return out


def _job_quota(job: Job, coll: Collection, position: int, now: datetime) -> list[Problem]:
    q, out = coll.quota, []
    if position > q.max_job_count:
        out.append(
            _problem(
                job,
                "metadata.collection",
                f"collection {coll.name} allows at most {q.max_job_count} "
                f"jobs (plan {coll.plan.value}); this is job {position}",
                rejected=True,
            )
        )
    allowed = q.min_period
    gap = shortest_gap(job.spec.timing, now) if not job.spec.timing.is_one_time else None
    if gap is not None and gap < allowed:
        out.append(
            _problem(
                job,
                "recurrence",
                f"runs every {_human(gap)} but collection {coll.name} allows at most once every {_human(allowed)}",
                rejected=True,
            )
        )
    rec = job.spec.timing.recurrence
    if q.max_job_occurrence is not None and rec is not None and rec.count and rec.count > q.max_job_occurrence:
        out.append(
            _problem(
                job,
                "recurrence.count",
                f"{rec.count} is above collection {coll.name}'s maxJobOccurrence of {q.max_job_occurrence}",
                rejected=True,
            )
        )
    if coll.plan is Plan.FREE and _uses_http_auth(job):
        out.append(
            _problem(
                job,
                "action.request.authentication",
                "the free plan does not allow HTTP authentication",
                rejected=True,
            )
        )
    minimum = q.min_retry_interval.total_seconds()
    for path, message in rules.retry_interval_findings(job.spec.action, minimum, ("spec", "action")):
        out.append(_problem(job, field_name(path), message))
    return out


def _uses_http_auth(job: Job) -> bool:
    actions = [job.spec.action, job.spec.action.get("errorAction") or {}]
    return any((a.get("request") or {}).get("authentication") for a in actions)


def _problem(job: Job, field_path: str, message: str, rejected: bool = False) -> Problem:
    src = job.source
    return Problem(src.path if src else "?", src.line if src else 1, 1, field_path, message, job.key, rejected=rejected)


def _human(gap: timedelta) -> str:
    seconds = int(gap.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n > 1 else ''}"
    return f"{seconds} s"


__all__ = ["LoadResult", "Problem", "check_set", "load_documents"]
