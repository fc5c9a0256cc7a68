"""Rules over the whole set of manifests: duplicates, collections, plan quotas. Pure.

``load_documents`` is the one entry point that turns file contents into a validated desired
state (``LoadResult``); ``controller.core.loader.Loader`` is the same function with a memory.
A job or collection named by any problem is left out of
``LoadResult.jobs``/``.collections``; quota problems are marked ``rejected`` (a valid manifest
refused by its collection's limits: Azure answered 409 Conflict) so plans can tell them from
format errors. Every problem points at the node it is about (``metadata.name``, ``spec.cron``...).

Quota rules (reference §1.2, §4.1): a collection holds at most ``quota.maxJobCount`` jobs (plan
default: free 5, standard/premium/p10premium 50, p20premium 1000; the jobs over the count, in
file order, are rejected); no job recurs more often than ``quota.maxRecurrence`` (free: hourly,
others: every minute); ``recurrence.count`` ≤ ``maxJobOccurrence``; the free plan allows no HTTP
authentication; retryInterval ≥ the collection's minimum. How often a job recurs (its *period*)
is Azure's ``frequency × interval``; when a schedule expands it (``minutes: [0, 15, 30, 45]``),
and for ``cron``/``rrule``, it is the shortest gap between the next ``QUOTA_SAMPLES`` occurrences
from ``now`` ignoring count/endTime, each gap measured as the longer of elapsed and wall-clock
time, so a daily job is not "23 hours" on the day clocks spring forward.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Collection as Names
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from controller.core import limits, rules
from controller.core.manifest import ParsedFile, Problem, field_name, parse_manifest
from controller.core.model import (
    DEFAULT_COLLECTION,
    PERIOD_UNITS,
    Collection,
    Job,
    JobKey,
    PricingTier,
    SourceRef,
    Timing,
)
from controller.core.model import default_collection as _default_collection
from controller.core.normalize import Path
from controller.core.recurrence import Schedule
from controller.core.zonetime import to_wall

Locate = Callable[[SourceRef | None, Path], tuple[int, int]]
_DEFAULT = _default_collection()  # one object, so memos keyed on the collection keep hitting


@dataclass(frozen=True)
class Delta:
    """How a result differs from the one its producer handed out before it: ``producer`` (compared
    by identity) numbers its results (``version``), and ``keys`` are the job keys whose entries
    may differ from those of result ``version - 1``. A hint for the planner's memo, never data."""

    producer: object
    version: int
    keys: frozenset[str]

    def since(self, before: Delta | None) -> frozenset[str] | None:
        """The keys changed since ``before``; None when this delta cannot tell."""
        if before is None or before.producer is not self.producer or before.version != self.version - 1:
            return None
        return self.keys


@dataclass(frozen=True)
class LoadResult:
    jobs: list[Job] = field(default_factory=list)
    collections: list[Collection] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # never change an exit code or a plan
    # The valid jobs by key (``str(job.key)``), when the loader keeps one (the planner builds it
    # otherwise); derived from ``jobs``, so not part of equality.
    index: Mapping[str, Job] | None = field(default=None, compare=False, repr=False)
    delta: Delta | None = field(default=None, compare=False, repr=False)  # the index keys changed

    def jobs_by_key(self) -> Mapping[str, Job]:
        return self.index if self.index is not None else {str(j.key): j for j in self.jobs}

    def invalid_jobs(self) -> set[JobKey]:
        return {p.job for p in self.problems if p.job is not None}

    def invalid_collections(self) -> set[str]:
        return {p.collection for p in self.problems if p.collection is not None}


def load_documents(files: Mapping[str, bytes], now: datetime) -> LoadResult:
    """The plain function: parse every file, check the whole set. ``controller.core.loader.Loader``
    gives the same answer for a process that loads the same files again and again."""
    parsed = [parse_manifest(path, data) for path, data in sorted(files.items())]
    jobs = [j for p in parsed for j in p.jobs]
    collections = [c for p in parsed for c in p.collections]
    problems = [x for p in parsed for x in p.problems]
    broken = {p.collection for p in problems if p.collection is not None}
    documents = {(p.path, line): doc for p in parsed for line, doc in p.documents.items()}

    def locate(source: SourceRef | None, path: Path) -> tuple[int, int]:
        found = documents.get((source.path, source.line)) if source is not None else None
        return found.position(path) if found else _start(source, path)

    problems += check_set(jobs, collections, now, locate=locate, broken=broken)
    return result_of(parsed, jobs, collections, problems)


def result_of(
    parsed: Sequence[ParsedFile], jobs: Sequence[Job], collections: Sequence[Collection], problems: list[Problem]
) -> LoadResult:
    """The ``LoadResult`` of a checked set: whatever a problem names is left out."""
    bad_jobs = {p.job for p in problems if p.job is not None}
    bad_colls = {p.collection for p in problems if p.collection is not None}
    return LoadResult(
        jobs=[j for j in jobs if j.key not in bad_jobs],
        collections=[c for c in collections if c.name not in bad_colls],
        problems=problems,
        files=[p.path for p in parsed],
        warnings=[w for p in parsed for w in p.warnings if w.job not in bad_jobs],
    )


QuotaCheck = Callable[[Job, Collection, int, Locate], list[Problem]]


def check_set(
    jobs: Sequence[Job],
    collections: Sequence[Collection],
    now: datetime,
    *,
    locate: Locate | None = None,
    broken: Names[str] = (),
    quota: QuotaCheck | None = None,
) -> list[Problem]:
    """Duplicates, undefined or invalid collections, plan quotas. ``broken``: collections whose
    own document is invalid (their jobs wait); ``locate`` finds a field's line:column.

    Every rule but the duplicate collections is a rule over one collection's jobs (a job key
    names its collection), so the set is checked collection by collection (``check_collection``)
    and the findings are listed in job order; the loader re-checks only the collections an edit
    touches."""
    at = locate or _start
    problems, duplicated = _duplicate_collections(collections, at)
    defined = defined_collections(collections, duplicated)
    unusable = set(broken) | duplicated
    groups: dict[str, list[int]] = {}
    for i, job in enumerate(jobs):
        groups.setdefault(job.key.collection, []).append(i)
    found: list[list[Problem]] = [[] for _ in jobs]
    check = quota or (lambda job, coll, position, where: _job_quota(job, coll, position, now, where))
    for name, indexes in groups.items():
        per_job, _ = check_collection([jobs[i] for i in indexes], name, defined.get(name), name in unusable, at, check)
        for i, f in zip(indexes, per_job, strict=True):
            found[i] = f
    return problems + [p for f in found for p in f]


def defined_collections(collections: Sequence[Collection], duplicated: Names[str]) -> dict[str, Collection]:
    defined = {c.name: c for c in collections if c.name not in duplicated}
    defined.setdefault(DEFAULT_COLLECTION, _DEFAULT)
    return defined


def check_collection(
    jobs: Sequence[Job], name: str, defined: Collection | None, unusable: bool, at: Locate, quota: QuotaCheck
) -> tuple[list[list[Problem]], bool]:
    """The findings of each job of collection ``name`` (in order), and whether a job key repeats.
    A job's position (its number among the collection's jobs, for ``maxJobCount``) is its index
    + 1 when no key repeats."""
    first: dict[JobKey, Job] = {}
    out: list[list[Problem]] = []
    for job in jobs:
        if job.key in first:
            out.append(_duplicate_jobs(first[job.key], job, at))
            continue
        first[job.key] = job
        out.append(check_job(job, name, defined, unusable, len(first), at, quota))
    return out, len(first) != len(jobs)


def check_job(
    job: Job, name: str, defined: Collection | None, unusable: bool, position: int, at: Locate, quota: QuotaCheck
) -> list[Problem]:
    """One job's findings (the first job of its key), ``position`` its number in the collection."""
    if unusable:
        return [_problem(job, at, ("metadata", "collection"), f"collection {name!r} is invalid; fix it first")]
    if defined is None:
        message = (
            f"collection {name!r} is not defined (add a JobCollection manifest, or leave collection out for 'default')"
        )
        return [_problem(job, at, ("metadata", "collection"), message)]
    return quota(job, defined, position, at)


def _duplicate_collections(collections: Sequence[Collection], at: Locate) -> tuple[list[Problem], set[str]]:
    by_name: dict[str, list[Collection]] = {}
    for c in collections:
        by_name.setdefault(c.name, []).append(c)
    out: list[Problem] = []
    for name, group in by_name.items():
        for c in group if len(group) > 1 else ():
            others = ", ".join(str(o.source) for o in group if o is not c)
            line, col = at(c.source, ("metadata", "name"))
            path = c.source.path if c.source else "?"
            out.append(
                Problem(
                    path, line, col, "metadata.name", f"duplicate collection {name} (also at {others})", collection=name
                )
            )
    return out, {n for n, g in by_name.items() if len(g) > 1}


def _duplicate_jobs(first: Job, again: Job, at: Locate) -> list[Problem]:
    where = ("metadata", "name")
    return [
        _problem(again, at, where, f"duplicate job {again.key} (also defined at {first.source})"),
        _problem(first, at, where, f"duplicate job {first.key} (also defined at {again.source})"),
    ]


def _job_quota(job: Job, coll: Collection, position: int, now: datetime, at: Locate) -> list[Problem]:
    q, quota = coll.quota, coll.raw.get("quota") or {}
    out: list[Problem] = []
    if position > q.max_job_count:
        by = "quota.maxJobCount" if "maxJobCount" in quota else f"plan {coll.plan.value}"
        message = f"collection {coll.name} allows at most {q.max_job_count} jobs ({by}); this is job {position}"
        out.append(_problem(job, at, ("metadata", "collection"), message, rejected=True))
    try:
        period = job_period(job.spec.timing, now)
    except (ValueError, OverflowError, ArithmeticError) as e:  # the engine refused the schedule
        out.append(_problem(job, at, _timing_path(job.spec.timing), f"cannot compute occurrences: {e}"))
        period = None
    if period is not None and period < q.min_period:
        by = "quota.maxRecurrence" if "maxRecurrence" in quota else f"plan {coll.plan.value}"
        message = (
            f"runs every {rules.human(period)} but collection {coll.name} "
            f"allows at most once every {rules.human(q.min_period)} ({by})"
        )
        out.append(_problem(job, at, _timing_path(job.spec.timing), message, rejected=True))
    rec = job.spec.timing.recurrence
    if q.max_job_occurrence is not None and rec is not None and rec.count and rec.count > q.max_job_occurrence:
        message = f"{rec.count} is above collection {coll.name}'s quota.maxJobOccurrence of {q.max_job_occurrence}"
        out.append(_problem(job, at, ("spec", "recurrence", "count"), message, rejected=True))
    if coll.plan is PricingTier.FREE:
        for path in _http_auth_paths(job):
            message = "the free plan does not allow HTTP authentication"
            out.append(_problem(job, at, path, message, rejected=True))
    minimum = q.min_retry_interval.total_seconds()
    for path, message in rules.retry_interval_findings(job.spec.action, minimum, ("spec", "action")):
        out.append(_problem(job, at, path, message))
    return out


def job_period(timing: Timing, now: datetime) -> timedelta | None:
    """How often a job recurs, for quota checks (module docstring); None for a one-time job."""
    rec = timing.recurrence
    if rec is not None:
        period = PERIOD_UNITS[rec.frequency.value] * rec.interval
        if rec.schedule is None:
            return period
        sampled = _shortest_gap(
            dataclasses.replace(timing, recurrence=dataclasses.replace(rec, count=None, end_time=None)), now
        )
        return min(period, sampled) if sampled is not None else period
    return None if timing.is_one_time else _shortest_gap(timing, now)


def period_valid_until(timing: Timing, now: datetime) -> datetime:
    """An instant up to which ``job_period(timing, t)`` is ``job_period(timing, now)`` for every
    ``t`` from ``now`` (``now`` itself when the schedule's anchor moves with ``now``).

    The period samples the occurrences from ``now`` on. When the schedule's set of occurrences
    does not depend on ``now`` (a startTime, or a cron: its grid has no anchor), the samples taken
    at any ``t`` up to the first of them are the same list; without a startTime an Azure
    recurrence or an rrule is anchored at ``now`` (its time of day), so nothing is known."""
    rec = timing.recurrence
    if not _period_uses_now(timing):
        return datetime.max.replace(tzinfo=now.tzinfo)
    if timing.start_time is None and not timing.cron:
        return now
    sampled = (
        dataclasses.replace(timing, recurrence=dataclasses.replace(rec, count=None, end_time=None)) if rec else timing
    )
    try:
        first = Schedule(sampled, now).first()
    except (ValueError, OverflowError, ArithmeticError):
        return now
    return first.at if first is not None else datetime.max.replace(tzinfo=now.tzinfo)


def _period_uses_now(timing: Timing) -> bool:
    """Whether ``job_period`` samples occurrences from ``now`` (so its answer may change with it)."""
    rec = timing.recurrence
    if rec is not None:
        return rec.schedule is not None
    return not timing.is_one_time


def _shortest_gap(timing: Timing, now: datetime) -> timedelta | None:
    zone = timing.zone
    occurrences = [o.at for o in Schedule(timing, now).upcoming(limits.QUOTA_SAMPLES)]
    if timing.start_time is None and timing.recurrence is not None:
        occurrences = occurrences[1:]  # Azure's "no startTime: run at once" is not part of the pattern
    gaps = [max(b - a, to_wall(b, zone) - to_wall(a, zone)) for a, b in itertools.pairwise(occurrences)]
    return min(gaps) if gaps else None


def _timing_path(timing: Timing) -> Path:
    return ("spec", "cron" if timing.cron else "rrule" if timing.rrule else "recurrence")


def _http_auth_paths(job: Job) -> list[Path]:
    out: list[Path] = []
    for prefix, action in (
        (("action",), job.spec.action),
        (("action", "errorAction"), job.spec.action.get("errorAction")),
    ):
        if isinstance(action, Mapping) and (action.get("request") or {}).get("authentication"):
            out.append(("spec", *prefix, "request", "authentication"))
    return out


def _problem(job: Job, at: Locate, path: Path, message: str, rejected: bool = False) -> Problem:
    line, col = at(job.source, path)
    src = job.source.path if job.source else "?"
    return Problem(src, line, col, field_name(path), message, job.key, rejected=rejected)


def _start(source: SourceRef | None, path: Path) -> tuple[int, int]:
    return (source.line if source else 1, 1)


__all__ = [
    "Delta",
    "LoadResult",
    "Problem",
    "check_collection",
    "check_job",
    "check_set",
    "job_period",
    "load_documents",
    "period_valid_until",
]
