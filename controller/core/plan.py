"""Desired state × observed state × now → the plan: what changes, and how fire times move. Pure.

The same plan drives ``cronplane plan`` (print), ``cronplane apply`` and every controller sync
pass (write), so a review shows exactly what will be written. Decision order per job (after the
Kubernetes CronJob controller, design §4): invalid → keep the last good spec (Stalled) · gone
from desired → delete (unless the prune cap blocks it, or its file could not be read at all) ·
spec changed → updated (a timing change re-creates the schedule from now; other changes keep
the cursor) · otherwise unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from controller.core.manifest import Problem
from controller.core.model import DEFAULT_COLLECTION, CollectionState, Job, JobSpec, JobState
from controller.core.quota import LoadResult
from controller.core.recurrence import Schedule

TIMING_FIELDS = ("startTime", "timeZone", "recurrence", "cron", "rrule", "dst")
CREATED, UPDATED, DELETED, UNCHANGED, INVALID, REJECTED = (
    "created",
    "updated",
    "deleted",
    "unchanged",
    "invalid",
    "rejected",
)


@dataclass(frozen=True)
class ObservedJob:
    """A job as the store holds it (what the last apply wrote)."""

    key: str
    spec: Mapping[str, Any]
    generation: int
    created_at: datetime
    source: str
    active: bool


@dataclass
class Change:
    key: str
    action: str
    fields: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    job: Job | None = None
    observed: ObservedJob | None = None
    timing_changed: bool = False
    active: bool = True
    before: list[datetime] = field(default_factory=list)
    after: list[datetime] = field(default_factory=list)
    summary: str = ""
    zone: str = "UTC"


@dataclass
class Plan:
    changes: list[Change]
    prune_blocked: str | None = None  # why deletions were held back

    def of(self, *actions: str) -> list[Change]:
        return [c for c in self.changes if c.action in actions]

    @property
    def has_changes(self) -> bool:
        return bool(self.of(CREATED, UPDATED, DELETED))

    @property
    def has_errors(self) -> bool:
        return bool(self.of(INVALID, REJECTED))


def make_plan(
    desired: LoadResult, observed: Mapping[str, ObservedJob], now: datetime, *, prune_cap: float = 1.0, runs: int = 10
) -> Plan:
    states = _collection_states(desired)
    jobs = {str(j.key): j for j in desired.jobs}
    problems = _problems_by_job(desired.problems)
    unreadable = {p.path for p in desired.problems if p.job is None and p.collection is None}
    changes = []
    for key in sorted(set(jobs) | set(problems) | set(observed)):
        obs = observed.get(key)
        if key in problems:
            rejected = all(p.rejected for p in problems[key])
            changes.append(Change(key, REJECTED if rejected else INVALID, problems=problems[key], observed=obs))
        elif key in jobs:
            changes.append(_desired_change(jobs[key], obs, states, now, runs))
        elif obs is not None and obs.source.rsplit(":", 1)[0] in unreadable:
            changes.append(
                Change(
                    key,
                    INVALID,
                    observed=obs,
                    problems=[p for p in desired.problems if p.path == obs.source.rsplit(":", 1)[0]],
                )
            )
        elif obs is not None:
            changes.append(_deleted(obs, now, runs))
    plan = Plan(changes)
    deleted = plan.of(DELETED)
    if deleted and len(deleted) > prune_cap * max(1, len(observed)):
        plan.prune_blocked = (
            f"{len(deleted)} of {len(observed)} jobs would be deleted, more than the prune cap of "
            f"{prune_cap:.0%}; nothing was deleted (allow it with --allow-mass-delete)"
        )
    return plan


def _collection_states(desired: LoadResult) -> dict[str, CollectionState]:
    states = {c.name: c.state for c in desired.collections}
    states.setdefault(DEFAULT_COLLECTION, CollectionState.ENABLED)
    return states


def _problems_by_job(problems: Sequence[Problem]) -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = {}
    for p in problems:
        if p.job is not None:
            out.setdefault(str(p.job), []).append(p)
    return out


def is_active(job: Job, states: Mapping[str, CollectionState]) -> bool:
    """Dispatchable: the job is enabled and so is its collection (so re-enabling a collection
    restarts exactly the jobs that are enabled, as Azure's classic API did)."""
    return job.spec.state is JobState.ENABLED and states.get(job.key.collection) is CollectionState.ENABLED


def _desired_change(
    job: Job, obs: ObservedJob | None, states: Mapping[str, CollectionState], now: datetime, runs: int
) -> Change:
    active = is_active(job, states)
    after = [o.at for o in Schedule(job.spec.timing, now).upcoming(runs)] if active else []
    if obs is None:
        return Change(
            str(job.key),
            CREATED,
            job=job,
            timing_changed=True,
            active=active,
            after=after,
            summary=summarize([], after),
            zone=job.spec.timing.time_zone,
        )
    fields = diff_fields(obs.spec, job.spec.raw)
    if active != obs.active and not fields:
        fields = ["state (collection)"]
    if not fields:
        return Change(str(job.key), UNCHANGED, job=job, observed=obs, active=active, zone=job.spec.timing.time_zone)
    timing_changed = any(f.split(".")[0].split("[")[0] in TIMING_FIELDS for f in fields)
    before = _observed_runs(obs, now, runs) if obs.active else []
    if not timing_changed and active:
        after = before or after
    return Change(
        str(job.key),
        UPDATED,
        fields=fields,
        job=job,
        observed=obs,
        timing_changed=timing_changed,
        active=active,
        before=before,
        after=after,
        summary=summarize(before, after),
        zone=job.spec.timing.time_zone,
    )


def _deleted(obs: ObservedJob, now: datetime, runs: int) -> Change:
    before = _observed_runs(obs, now, runs) if obs.active else []
    return Change(obs.key, DELETED, observed=obs, before=before, summary=summarize(before, []))


def _observed_runs(obs: ObservedJob, now: datetime, runs: int) -> list[datetime]:
    schedule = Schedule(JobSpec.from_dict(obs.spec).timing, obs.created_at)
    first = schedule.first_at_or_after(now)
    return [first.at, *(o.at for o in schedule.upcoming(runs - 1, after=first))] if first else []


def diff_fields(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the fields that differ (``recurrence.schedule.hours``)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            out += diff_fields(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
        return out
    return [] if old == new else [prefix or "spec"]


def summarize(before: Sequence[datetime], after: Sequence[datetime]) -> str:
    """One line on how fire times change, e.g. 'runs move from 05:00 to 06:00 UTC; 4 fewer runs per week'."""
    if not before and not after:
        return "no runs scheduled"
    if not before:
        return f"starts running: first run {after[0]:%Y-%m-%d %H:%M} UTC" + _rate(after)
    if not after:
        return "stops running"
    if list(before) == list(after):
        return "fire times unchanged"
    parts = []
    tb, ta = _times_of_day(before), _times_of_day(after)
    if tb != ta:
        parts.append(f"runs move from {', '.join(tb)} to {', '.join(ta)} UTC")
    else:
        parts.append(f"next run moves from {before[0]:%Y-%m-%d %H:%M} to {after[0]:%Y-%m-%d %H:%M} UTC")
    rb, ra = _per_week(before), _per_week(after)
    if rb is not None and ra is not None and round(rb) != round(ra):
        delta = round(ra) - round(rb)
        parts.append(f"{abs(delta)} {'more' if delta > 0 else 'fewer'} runs per week")
    return "; ".join(parts)


def _times_of_day(runs: Sequence[datetime]) -> list[str]:
    times = sorted({f"{r:%H:%M}" for r in runs})
    return times if len(times) <= 4 else [*times[:3], "..."]


def _per_week(runs: Sequence[datetime]) -> float | None:
    if len(runs) < 2:
        return None
    span = runs[-1] - runs[0]
    return None if span <= timedelta(0) else (len(runs) - 1) * timedelta(weeks=1) / span


def _rate(runs: Sequence[datetime]) -> str:
    per_week = _per_week(runs)
    return "" if per_week is None else f"; about {per_week:.0f} runs per week" if per_week >= 1 else ""
