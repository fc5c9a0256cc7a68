"""Desired × observed × now → the plan: every record a sync pass will write, decided here. Pure.

``make_plan`` is the one function behind ``cronplane plan``, ``apply --dry-run``, ``apply`` and
every controller sync pass; they call it with the same inputs (``Desired``, ``Observed``,
``PlanOptions``) and print the same rows. Applying a plan maps its rows to store writes and
decides nothing (``controller.state.desired.DesiredStore.apply``).

Decision order per job (after the Kubernetes CronJob controller, design §4):

1. its manifest is invalid, refused by a quota, or sits in a file that cannot be read → no job
   write; if a good spec was applied before it keeps running and the status says Stalled or
   Rejected with file:line reasons (a job never valid appears only among the plan's problems);
2. gone from the manifests → deleted if the prune decision allows it, else kept or blocked
   (``PruneDecision``: not requested, over the cap, the source holds no manifest, the source
   cannot be read);
3. spec changed → a new generation; a timing change re-creates the schedule from now (new
   creation time, cursor reset); other spec changes keep the cursor; a metadata change (labels,
   the file it lives in) rewrites the record under the same generation;
4. becomes dispatchable again (job or collection re-enabled) → the cursor seeks from now;
5. in every case the sync side of the status (``SyncStatus``) is recomputed, and written when it
   differs from what is stored, so it cannot go stale.

Incremental planning (``RowMemo``): a long-running controller plans 100,000 jobs every pass,
nearly all unchanged. A row is a pure function of its key's inputs (``_Inputs.row``); the memo
keeps the last plan's rows and recomputes only the keys whose inputs changed (an identity scan
of the job index and the observation finds them) and the rows that read ``now`` (created,
updated, held, gone). So ``make_plan(d, o, now, opts, memo)`` equals ``make_plan(d, o, now,
opts)`` for every memo (a property test checks it over random edit sequences); the memo only
saves the work. When a pass's inputs are the very objects of the last one (the loader and the
store hand out the same ``LoadResult`` and ``Observed`` when nothing changed) and no row of the
last plan read ``now``, the last plan is the answer.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controller.core.manifest import Problem
from controller.core.model import DEFAULT_COLLECTION, Collection, CollectionState, Job, JobSpec, JobState
from controller.core.quota import Delta
from controller.core.reconcile.diff import diff_fields, summarize
from controller.core.reconcile.rows import (
    Action,
    CollectionRow,
    Desired,
    JobRow,
    Observed,
    ObservedJob,
    Plan,
    PlanOptions,
    Prune,
    PruneDecision,
)
from controller.core.recurrence import Occurrence, Schedule
from worker.records import CollectionRecord, Condition, CursorRecord, JobRecord, SyncStatus

REBUILD = 1000  # more keys added or removed than this: sort them again
TIMING_FIELDS = ("startTime", "timeZone", "recurrence", "cron", "rrule", "dst")
MAX_REASONS = 3  # problems quoted in a status reason (all of them are in the plan and sync record)


@dataclass(frozen=True)
class _Inputs:
    """What a pass's job rows are computed from (besides ``now``), indexed by job key."""

    jobs: Mapping[str, Job]
    refused: Mapping[str, tuple[Problem, ...]]
    observed: Mapping[str, ObservedJob]
    states: Mapping[str, CollectionState]
    held_paths: frozenset[str]
    desired: Desired
    options: PlanOptions
    observed_delta: Delta | None = None

    @classmethod
    def of(cls, desired: Desired, observed: Observed, opts: PlanOptions) -> _Inputs:
        load = desired.load
        held = frozenset(p.path for p in load.problems if p.job is None and p.collection is None)
        refused = {k: tuple(v) for k, v in _problems_by_job(load.problems).items()}
        states = collection_states(load.collections)
        return cls(load.jobs_by_key(), refused, observed.jobs, states, held, desired, opts, observed.delta)

    def has(self, key: str) -> bool:
        return key in self.jobs or key in self.refused or key in self.observed

    def row(self, key: str, now: datetime) -> JobRow | ObservedJob:
        """The key's row; its observation when it is gone from the manifests (its row waits for
        the prune decision). Only for a key that ``has``."""
        obs = self.observed.get(key)
        if key in self.refused:
            return _refused(key, list(self.refused[key]), obs)
        if key in self.jobs:
            d = self.desired
            return _desired(self.jobs[key], obs, self.states, now, d.revision, self.options)
        if obs is not None and (self.desired.unreadable or _path(obs.record.source) in self.held_paths):
            return _held(obs, self.desired.load.problems, self.desired.unreadable)
        if obs is None:
            raise KeyError(key)
        return obs


@dataclass
class RowMemo:
    """The last plan's rows by key, with the inputs they were computed from.

    A row is a pure function of its key's inputs (``_Inputs.row``); rows that cannot read ``now``
    (unchanged and refused jobs) are taken from the memo while their inputs are the same objects
    (or equal ones) as last time; every other row (created, updated, held, gone) is computed
    again on every pass. Finding the keys whose inputs changed is an identity scan of the job
    index and the observation (no per-job decision), plus the jobs of a collection whose state
    changed; a change of revision, readability or options recomputes everything."""

    rows: dict[str, JobRow] = field(default_factory=dict)  # every row of the last plan
    keys: list[str] = field(default_factory=list)  # their keys, sorted (the plan's row order)
    row_list: list[JobRow] = field(default_factory=list)  # the rows in that order
    writing: set[str] = field(default_factory=set)  # the keys whose row writes
    volatile: set[str] = field(default_factory=set)  # keys whose row read ``now`` (or is gone, held)
    inputs: _Inputs | None = None
    hits: int = 0
    computed: int = 0
    last: tuple[Desired, Observed, PlanOptions, Plan] | None = None  # a plan that read no ``now``

    def same_plan(self, desired: Desired, observed: Observed, opts: PlanOptions) -> Plan | None:
        if self.last is None:
            return None
        d, o, options, plan = self.last
        same = d.load is desired.load and (d.revision, d.unreadable) == (desired.revision, desired.unreadable)
        return plan if same and o is observed and options == opts else None

    def changed(self, new: _Inputs) -> set[str] | None:
        """The keys whose row may differ from the remembered one; None: all of them."""
        old = self.inputs
        if old is None:
            return None
        d, o = new.desired, old.desired
        if (d.revision, d.unreadable, new.options) != (o.revision, o.unreadable, old.options):
            return None
        out = set(self.volatile)
        jobs = new.desired.load.delta.since(o.load.delta) if new.desired.load.delta else None
        out |= _differ(old.jobs, new.jobs) if jobs is None else jobs
        seen = new.observed_delta.since(old.observed_delta) if new.observed_delta else None
        out |= _differ(old.observed, new.observed) if seen is None else seen
        out |= _differ(old.refused, new.refused)
        states = {n for n in old.states.keys() | new.states.keys() if old.states.get(n) is not new.states.get(n)}
        if states:
            out.update(k for k, j in new.jobs.items() if j.key.collection in states)
        return out


def _differ(old: Mapping[str, Any], new: Mapping[str, Any]) -> set[str]:
    if old is new:
        return set()
    out = {k for k, v in new.items() if (was := old.get(k)) is not v and was != v}
    out.update(old.keys() - new.keys())
    return out


def make_plan(
    desired: Desired,
    observed: Observed,
    now: datetime,
    options: PlanOptions | None = None,
    memo: RowMemo | None = None,
) -> Plan:
    opts = options or PlanOptions()
    if memo is not None and (same := memo.same_plan(desired, observed, opts)) is not None:
        memo.hits += len(same.jobs)
        return same
    inputs = _Inputs.of(desired, observed, opts)
    changed = memo.changed(inputs) if memo is not None else None
    if memo is None or changed is None:
        keys = sorted(set(inputs.jobs) | set(inputs.refused) | set(inputs.observed))
        computed = {k: inputs.row(k, now) for k in keys}
    else:
        computed = {k: inputs.row(k, now) for k in changed if inputs.has(k)}
    gone = [r for r in computed.values() if isinstance(r, ObservedJob)]
    prune = _prune_decision(desired, observed, gone, opts)
    rows_now = {k: _gone(r, prune, now, opts) if isinstance(r, ObservedJob) else r for k, r in computed.items()}
    writing: list[JobRow] | None = None
    if memo is None:
        rows = [rows_now[k] for k in keys]
    else:
        rows, writing = _remember(memo, inputs, rows_now, changed)
        memo.hits += len(rows) - len(rows_now)
    plan = Plan(
        tuple(rows),
        tuple(_collection_rows(desired, observed, prune)),
        tuple(desired.load.problems),
        prune,
        desired.revision,
        desired.unreadable,
        writing=tuple(writing) if writing is not None else None,
    )
    if memo is not None:  # every row memoized = none read now (collection rows never do)
        memo.last = (desired, observed, opts, plan) if not memo.volatile else None
    return plan


def _reusable(key: str, row: JobRow, inputs: _Inputs) -> bool:
    """A row that cannot read ``now``: an unchanged job, a refused one."""
    return key in inputs.refused or (row.action is Action.UNCHANGED and key in inputs.jobs)


def _remember(
    memo: RowMemo, inputs: _Inputs, rows_now: Mapping[str, JobRow], changed: set[str] | None
) -> tuple[list[JobRow], list[JobRow]]:
    """Keep this pass's rows; returns every row in key order and the rows that write. The memo
    changes only here, once every row is computed."""
    rows = memo.rows if changed is not None else {}
    gone = [k for k in changed if k not in rows_now and k in rows] if changed is not None else []
    new = [k for k in rows_now if k not in rows]
    if changed is None or len(new) + len(gone) > REBUILD:
        dropped = set(gone)
        rows = {k: r for k, r in rows.items() if k not in dropped}
        rows.update(rows_now)
        keys = sorted(rows)
        row_list = [rows[k] for k in keys]
    else:
        keys, row_list, rows = list(memo.keys), list(memo.row_list), dict(rows)
        for k in gone:
            i = bisect.bisect_left(keys, k)
            del keys[i], row_list[i], rows[k]
        for k in new:
            i = bisect.bisect_left(keys, k)
            keys.insert(i, k)
            row_list.insert(i, rows_now[k])
        for k, r in rows_now.items():
            row_list[bisect.bisect_left(keys, k)] = r
        rows.update(rows_now)
    writing = {k for k, r in rows_now.items() if r.writes}
    if changed is not None:
        writing |= {k for k in memo.writing if k not in rows_now and k in rows}
    memo.computed += len(rows_now)
    memo.volatile = {k for k, r in rows_now.items() if not _reusable(k, r, inputs)}
    memo.rows, memo.keys, memo.row_list, memo.writing, memo.inputs = rows, keys, row_list, writing, inputs
    return row_list, [rows[k] for k in sorted(writing)]


# -- per-job decisions ---------------------------------------------------------------------
def _refused(key: str, problems: list[Problem], obs: ObservedJob | None) -> JobRow:
    rejected = all(p.rejected for p in problems)
    action = Action.REJECTED if rejected else Action.INVALID
    if obs is None:  # never applied: visible in the plan's problems and the sync record only
        return JobRow(key, action, problems=tuple(problems))
    condition = Condition.REJECTED if rejected else Condition.STALLED
    wanted = _stalled_status(obs, condition, problems)
    return JobRow(key, action, problems=tuple(problems), **_status_write(obs, wanted))


def _held(obs: ObservedJob, problems: Sequence[Problem], unreadable: str | None) -> JobRow:
    """The job's file (or the whole source) cannot be read: never a deletion."""
    path = _path(obs.record.source)
    own = tuple(p for p in problems if p.path == path)
    if unreadable is not None:
        return JobRow(obs.key, Action.INVALID, problems=own)  # nothing is known: change nothing
    wanted = _stalled_status(obs, Condition.STALLED, list(own))
    return JobRow(obs.key, Action.INVALID, problems=own, **_status_write(obs, wanted))


def _desired(
    job: Job,
    obs: ObservedJob | None,
    states: Mapping[str, CollectionState],
    now: datetime,
    revision: str | None,
    opts: PlanOptions,
) -> JobRow:
    key, zone, active = str(job.key), job.spec.timing.time_zone, is_active(job, states)
    if obs is None:
        record = job_record(job, generation=1, created_at=now, active=active, revision=revision)
        cursor, after = _cursor(job, record, now, seek=False, opts=opts)
        status = desired_status(job, 1, revision)
        return JobRow(
            key,
            Action.CREATE,
            record=record,
            cursor=cursor,
            reset_cursor=True,
            status=status,
            active=active,
            after=after,
            summary=summarize([], after if active else []),
            zone=zone,
        )
    old = obs.record
    spec_fields = diff_fields(old.spec, job.spec.raw)
    meta_fields = _metadata_fields(old, job)
    timing = any(f.split(".")[0].split("[")[0] in TIMING_FIELDS for f in spec_fields)
    reactivated = active and not old.active
    fields = [*spec_fields, *meta_fields] + (["state (collection)"] if active != old.active and not spec_fields else [])
    generation = old.generation + 1 if spec_fields else old.generation
    status = desired_status(job, generation, revision)
    status_write = _status_write(obs, status)
    if not fields:
        return JobRow(key, Action.UNCHANGED, active=active, zone=zone, **status_write)
    created_at = now if timing else obs.created_at
    record = job_record(job, generation=generation, created_at=created_at, active=active, revision=revision)
    before = tuple(_runs_from_now(old.spec, obs.created_at, now, opts.runs)) if old.active else ()
    new_cursor: CursorRecord | None = None
    after = before if active else ()
    if timing or reactivated:
        new_cursor, after = _cursor(job, record, now, seek=True, opts=opts)
    return JobRow(
        key,
        Action.UPDATE,
        fields=tuple(fields),
        record=record,
        cursor=new_cursor,
        reset_cursor=timing or reactivated,
        active=active,
        before=before,
        after=after if active else (),
        summary=summarize(before, after if active else ()),
        zone=zone,
        **status_write,
    )


def _gone(obs: ObservedJob, prune: PruneDecision, now: datetime, opts: PlanOptions) -> JobRow:
    allowed = prune.outcome is Prune.ALLOWED
    action = Action.DELETE if allowed else Action.BLOCKED if prune.blocked else Action.KEEP
    before = tuple(_runs_from_now(obs.record.spec, obs.created_at, now, opts.runs)) if obs.record.active else ()
    summary = summarize(before, ()) if allowed else "keeps running" if obs.record.active else ""
    return JobRow(obs.key, action, delete=allowed, before=before, summary=summary)


def _prune_decision(
    desired: Desired, observed: Observed, gone: Sequence[ObservedJob], opts: PlanOptions
) -> PruneDecision:
    n, total = len(gone), len(observed.jobs)

    def decided(outcome: Prune, uses_allowance: bool = False) -> PruneDecision:
        return PruneDecision(outcome, n, total, opts.prune_cap, uses_allowance)

    if desired.unreadable is not None:
        return decided(Prune.BLOCKED_UNREADABLE if total else Prune.NOTHING)
    if not gone:
        return decided(Prune.NOTHING)
    if not opts.prune:
        return decided(Prune.NOT_REQUESTED)
    if not desired.load.files:
        return decided(Prune.BLOCKED_EMPTY)
    if n > opts.prune_cap * max(1, total) and not opts.allow_mass_delete:
        return decided(Prune.ALLOWED, True) if observed.prune_allowance else decided(Prune.BLOCKED_CAP)
    return decided(Prune.ALLOWED)


# -- collections -----------------------------------------------------------------------------
def _collection_rows(desired: Desired, observed: Observed, prune: PruneDecision) -> list[CollectionRow]:
    wanted = {c.name: c for c in desired.load.collections}
    broken = desired.load.invalid_collections()
    held = {p.path for p in desired.load.problems if p.job is None and p.collection is None}
    rows = []
    for name in sorted(set(wanted) | set(observed.collections)):
        old = observed.collections.get(name)
        if name in wanted:
            record = collection_record(wanted[name], desired.revision)
            if old is None:
                rows.append(CollectionRow(name, Action.CREATE, record))
            elif old != record:
                fields = tuple(diff_fields(old.to_redis(), record.to_redis()))
                rows.append(CollectionRow(name, Action.UPDATE, record, fields=fields))
            else:
                rows.append(CollectionRow(name, Action.UNCHANGED))
        elif old is not None and name not in broken and _path(old.source) not in held and not desired.unreadable:
            allowed = prune.outcome in (Prune.ALLOWED, Prune.NOTHING) and bool(desired.load.files)
            rows.append(CollectionRow(name, Action.DELETE if allowed else Action.KEEP, delete=allowed))
    return rows


def collection_record(c: Collection, revision: str | None) -> CollectionRecord:
    return CollectionRecord(c.name, dict(c.raw), c.state.value, c.plan.value, str(c.source or ""), revision or "")


# -- helpers ---------------------------------------------------------------------------------
def collection_states(collections: Sequence[Collection]) -> dict[str, CollectionState]:
    states = {c.name: c.state for c in collections}
    states.setdefault(DEFAULT_COLLECTION, CollectionState.ENABLED)
    return states


def is_active(job: Job, states: Mapping[str, CollectionState]) -> bool:
    """Dispatchable: the job is enabled and so is its collection (so re-enabling a collection
    restarts exactly the jobs that are enabled, as Azure's classic API did)."""
    return job.spec.state is JobState.ENABLED and states.get(job.key.collection) is CollectionState.ENABLED


def desired_status(job: Job, generation: int, revision: str | None) -> SyncStatus:
    return SyncStatus(Condition.READY, "", generation, str(job.source or ""), revision or "", dict(job.labels))


def _stalled_status(obs: ObservedJob, condition: Condition, problems: Sequence[Problem]) -> SyncStatus:
    verdict = "rejected" if condition is Condition.REJECTED else "invalid"
    reasons = "; ".join(str(p) for p in problems[:MAX_REASONS]) or "the manifest cannot be read"
    more = f" (and {len(problems) - MAX_REASONS} more)" if len(problems) > MAX_REASONS else ""
    reason = f"{verdict}: {reasons}{more}; the last good spec keeps running"
    r = obs.record
    generation = obs.status.observed_generation if obs.status else r.generation
    return SyncStatus(
        condition, reason, generation, r.source, obs.status.git_sha if obs.status else r.git_sha, r.labels
    )


def _status_write(obs: ObservedJob, wanted: SyncStatus) -> dict[str, Any]:
    if obs.status == wanted:
        return {}
    return {"status": wanted, "status_before": obs.status}


def job_record(job: Job, *, generation: int, created_at: datetime, active: bool, revision: str | None) -> JobRecord:
    return JobRecord(
        name=str(job.key),
        spec=job.spec.raw,
        spec_hash=job.spec.spec_hash,
        generation=generation,
        created_at=float(int(created_at.timestamp())),
        active=active,
        collection=job.key.collection,
        source=str(job.source or ""),
        git_sha=revision or "",
        labels=dict(job.labels),
    )


def _cursor(
    job: Job, record: JobRecord, now: datetime, *, seek: bool, opts: PlanOptions
) -> tuple[CursorRecord, tuple[datetime, ...]]:
    """The cursor a (re-)created schedule starts from and the fire times it gives."""
    schedule = Schedule(job.spec.timing, datetime.fromtimestamp(record.created_at, UTC))
    first = schedule.first_at_or_after(now) if seek else schedule.first()
    runs = _runs(schedule, first, opts.runs)
    cursor = CursorRecord(
        generation=record.generation,
        next_at=first.epoch if first else None,
        number=first.number if first else 0,
        next_runs=tuple(int(t.timestamp()) for t in runs[: opts.next_runs_kept]),
    )
    return cursor, tuple(runs)


def _runs(schedule: Schedule, first: Occurrence | None, n: int) -> list[datetime]:
    if first is None:
        return []
    return [first.at, *(o.at for o in schedule.upcoming(n - 1, after=first))]


def _runs_from_now(spec: Mapping[str, Any], created_at: datetime, now: datetime, n: int) -> list[datetime]:
    schedule = Schedule(JobSpec.from_dict(spec).timing, created_at)
    return _runs(schedule, schedule.first_at_or_after(now), n)


def _metadata_fields(old: JobRecord, job: Job) -> list[str]:
    out = []
    if dict(old.labels) != dict(job.labels):
        out.append("metadata.labels")
    if old.source != str(job.source or ""):
        out.append(f"source (moved from {old.source or '?'} to {job.source})")
    return out


def _problems_by_job(problems: Sequence[Problem]) -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = {}
    for p in problems:
        if p.job is not None:
            out.setdefault(str(p.job), []).append(p)
    return out


def _path(source: str) -> str:
    return source.rsplit(":", 1)[0]
