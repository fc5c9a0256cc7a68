"""Rules over the whole set of manifests: duplicates, collections, plan quotas. Pure.

``load_documents`` is the one entry point that turns file contents into a validated desired
state (``LoadResult``). A job or collection named by any problem is left out of
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

from controller.core import limits, rules, yamlpos
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
class LoadResult:
    jobs: list[Job] = field(default_factory=list)
    collections: list[Collection] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # never change an exit code or a plan

    def invalid_jobs(self) -> set[JobKey]:
        return {p.job for p in self.problems if p.job is not None}

    def invalid_collections(self) -> set[str]:
        return {p.collection for p in self.problems if p.collection is not None}


def load_documents(files: Mapping[str, bytes], now: datetime) -> LoadResult:
    return Loader().load(files, now)


class Loader:
    """``load_documents`` with a memory, for a process that loads the same files again and again.

    ``Loader().load(files, now)`` *is* ``load_documents(files, now)``; a long-lived loader returns
    an equal result for every input while skipping work that cannot change it (design §3, "cost
    follows change"):

    - a file whose bytes equal those of its last parse (the same object, or equal content) is not
      parsed or validated again: its ``ParsedFile`` is kept, without its position tables, which
      are rebuilt from the bytes only when a cross-file problem needs a line:column;
    - a job's quota findings are kept while the job object (so its file), its collection object
      and its "over the count" flag are the same, when they cannot depend on ``now`` (one-time
      jobs and recurrences without a ``schedule``: the period is ``frequency × interval``).

    - when every file is the very bytes object of the last load and nothing in that load read
      ``now``, the last ``LoadResult`` itself is returned (so the planner can tell at a glance).

    ``parses`` counts the files parsed (tests use it).
    """

    def __init__(self) -> None:
        self._files: dict[str, tuple[bytes, ParsedFile]] = {}
        self._quota: dict[JobKey, tuple[Job, Collection, int, list[Problem]]] = {}
        self._last: tuple[dict[str, bytes], LoadResult] | None = None  # only when it read no ``now``
        self.parses = 0

    def _same_files(self, files: Mapping[str, bytes]) -> LoadResult | None:
        if self._last is None or len(self._last[0]) != len(files):
            return None
        last = self._last[0]
        return self._last[1] if all(last.get(k) is v for k, v in files.items()) else None

    def parse(self, path: str, data: bytes) -> ParsedFile:
        hit = self._files.get(path)
        if hit is not None and (hit[0] is data or hit[0] == data):
            return hit[1]
        self.parses += 1
        parsed = parse_manifest(path, data)
        self._files[path] = (data, dataclasses.replace(parsed, documents={}))
        return parsed

    def load(self, files: Mapping[str, bytes], now: datetime) -> LoadResult:
        same = self._same_files(files)
        if same is not None:
            return same
        parsed = [self.parse(path, data) for path, data in sorted(files.items())]
        for gone in self._files.keys() - files.keys():
            del self._files[gone]
        jobs = [j for p in parsed for j in p.jobs]
        collections = [c for p in parsed for c in p.collections]
        problems = [x for p in parsed for x in p.problems]
        broken = {p.collection for p in problems if p.collection is not None}
        documents = {(p.path, line): doc for p in parsed for line, doc in p.documents.items()}

        def locate(source: SourceRef | None, path: Path) -> tuple[int, int]:
            if source is None:
                return _start(source, path)
            if (source.path, source.line) not in documents and source.path in files:
                for again in yamlpos.load_documents(files[source.path])[0]:  # a kept parse: positions again
                    documents[(source.path, again.line)] = again
            found = documents.get((source.path, source.line))
            return found.position(path) if found else _start(source, path)

        memo: dict[JobKey, tuple[Job, Collection, int, list[Problem]]] = {}
        read_now = [False]

        def quota(job: Job, coll: Collection, position: int, at: Locate) -> list[Problem]:
            over = position if position > coll.quota.max_job_count else 0  # the message names it
            hit = self._quota.get(job.key)
            if hit is not None and hit[0] is job and hit[1] is coll and hit[2] == over:
                memo[job.key] = hit
                return hit[3]
            found = _job_quota(job, coll, position, now, at)
            if _period_uses_now(job.spec.timing):
                read_now[0] = True
            else:
                memo[job.key] = (job, coll, over, found)
            return found

        problems += check_set(jobs, collections, now, locate=locate, broken=broken, quota=quota)
        self._quota = memo
        bad_jobs = {p.job for p in problems if p.job is not None}
        bad_colls = {p.collection for p in problems if p.collection is not None}
        result = LoadResult(
            jobs=[j for j in jobs if j.key not in bad_jobs],
            collections=[c for c in collections if c.name not in bad_colls],
            problems=problems,
            files=sorted(files),
            warnings=[w for p in parsed for w in p.warnings if w.job not in bad_jobs],
        )
        self._last = None if read_now[0] else (dict(files), result)
        return result


def check_set(
    jobs: Sequence[Job],
    collections: Sequence[Collection],
    now: datetime,
    *,
    locate: Locate | None = None,
    broken: Names[str] = (),
    quota: Callable[[Job, Collection, int, Locate], list[Problem]] | None = None,
) -> list[Problem]:
    """Duplicates, undefined or invalid collections, plan quotas. ``broken``: collections whose
    own document is invalid (their jobs wait); ``locate`` finds a field's line:column."""
    at = locate or _start
    problems, duplicated = _duplicate_collections(collections, at)
    defined = {c.name: c for c in collections if c.name not in duplicated}
    defined.setdefault(DEFAULT_COLLECTION, _DEFAULT)
    unusable = set(broken) | duplicated
    first: dict[JobKey, Job] = {}
    counts: dict[str, int] = {}
    for job in jobs:
        if job.key in first:
            problems += _duplicate_jobs(first[job.key], job, at)
            continue
        first[job.key] = job
        name = job.key.collection
        if name in unusable:
            problems.append(
                _problem(job, at, ("metadata", "collection"), f"collection {name!r} is invalid; fix it first")
            )
        elif name not in defined:
            message = (
                f"collection {name!r} is not defined "
                "(add a JobCollection manifest, or leave collection out for 'default')"
            )
            problems.append(_problem(job, at, ("metadata", "collection"), message))
        else:
            counts[name] = counts.get(name, 0) + 1
            if quota is None:
                problems += _job_quota(job, defined[name], counts[name], now, at)
            else:
                problems += quota(job, defined[name], counts[name], at)
    return problems


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


__all__ = ["LoadResult", "Loader", "Problem", "check_set", "job_period", "load_documents"]
