"""The domain model: what a validated manifest declares, as frozen dataclasses.

Vocabulary (used everywhere): a *Job* says what to call (its action) and when (its *Timing*);
an *Occurrence* is one due instant of a job; an *Invocation* is the attempt to carry out an
occurrence (worker side); a *HistoryEntry* records what happened.

Invariants:
- Every object here is immutable and built only from an already *normalized* spec dict
  (enum values lower-case, Azure key aliases folded; see ``controller.core.manifest``).
  ``*.from_dict`` trusts its input: validation happens before, with file:line errors.
- Instants are timezone-aware ``datetime``s. ``Timing.start_time`` keeps the zone it was written
  in (an offset, or the job's ``timeZone`` when the manifest gave none); the recurrence engine
  converts. ``end_time`` likewise.
- ``JobSpec.raw`` is the canonical spec dict (the stored desired state); ``spec_hash`` is its
  fingerprint, so "did the spec change?" is a string comparison.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from controller.core.durations import parse_duration

DEFAULT_COLLECTION = "default"
DEFAULT_STARTING_DEADLINE = timedelta(minutes=5)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class Frequency(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class JobState(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class CollectionState(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    SUSPENDED = "suspended"


class PricingTier(StrEnum):
    """A collection's pricing tier (Azure's `sku.name`, the manifest's `plan`): its default quotas."""

    FREE = "free"
    STANDARD = "standard"
    PREMIUM = "premium"
    P10PREMIUM = "p10premium"
    P20PREMIUM = "p20premium"


class MissedRunPolicy(StrEnum):
    """What the dispatch loop does with occurrences later than ``startingDeadline``."""

    SKIP = "skip"  # record every one as missed, run none
    LATEST = "latest"  # run only the newest missed occurrence, record the others
    ALL = "all"  # run each missed occurrence (at most 100)


class ConcurrencyPolicy(StrEnum):
    """What happens when an occurrence is due while the previous invocation still runs."""

    ALLOW = "allow"
    FORBID = "forbid"  # skip the new occurrence (recorded as skipped)
    REPLACE = "replace"  # stop the running invocation, start the new one


class DstGap(StrEnum):
    """A wall-clock time that does not exist (spring forward)."""

    SHIFT = "shift"  # run at the same distance past the gap (02:30 -> 03:30), RFC 5545 style
    SKIP = "skip"  # do not run that day


class DstOverlap(StrEnum):
    """A wall-clock time that happens twice (fall back)."""

    FIRST = "first"  # run at the first (daylight) instant only
    LAST = "last"  # run at the second (standard) instant only
    BOTH = "both"  # run at both instants


@dataclass(frozen=True)
class MonthlyOccurrence:
    """``{day: friday, occurrence: -1}``: weekday 0=Monday..6=Sunday; occurrence None = every one."""

    day: int
    occurrence: int | None = None


@dataclass(frozen=True)
class RecurrenceSchedule:
    """Azure ``recurrence.schedule``; an empty tuple means the element was not given."""

    minutes: tuple[int, ...] = ()
    hours: tuple[int, ...] = ()
    week_days: tuple[int, ...] = ()
    month_days: tuple[int, ...] = ()
    monthly_occurrences: tuple[MonthlyOccurrence, ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RecurrenceSchedule:
        return cls(
            minutes=tuple(sorted(set(d.get("minutes") or ()))),
            hours=tuple(sorted(set(d.get("hours") or ()))),
            week_days=tuple(sorted({WEEKDAYS.index(w) for w in d.get("weekDays") or ()})),
            month_days=tuple(sorted(set(d.get("monthDays") or ()))),
            monthly_occurrences=tuple(
                MonthlyOccurrence(WEEKDAYS.index(m["day"]), m.get("occurrence"))
                for m in d.get("monthlyOccurrences") or ()
            ),
        )


@dataclass(frozen=True)
class Recurrence:
    frequency: Frequency
    interval: int = 1
    schedule: RecurrenceSchedule | None = None
    count: int | None = None
    end_time: datetime | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], zone: ZoneInfo) -> Recurrence:
        sched = d.get("schedule")
        end = d.get("endTime")
        return cls(
            frequency=Frequency(d["frequency"]),
            interval=int(d.get("interval", 1)),
            schedule=RecurrenceSchedule.from_dict(sched) if sched else None,
            count=d.get("count"),
            end_time=parse_instant(end, zone) if end is not None else None,
        )


@dataclass(frozen=True)
class DstPolicy:
    gap: DstGap = DstGap.SHIFT
    overlap: DstOverlap = DstOverlap.FIRST

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> DstPolicy:
        d = d or {}
        return cls(DstGap(d.get("gap", "shift")), DstOverlap(d.get("overlap", "first")))


@dataclass(frozen=True)
class Timing:
    """When a job runs: at most one of ``recurrence``, ``cron``, ``rrule``; none = one-time job."""

    start_time: datetime | None = None
    time_zone: str = "UTC"
    recurrence: Recurrence | None = None
    cron: str | None = None
    rrule: str | None = None
    dst: DstPolicy = field(default_factory=DstPolicy)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def is_one_time(self) -> bool:
        return self.recurrence is None and self.cron is None and self.rrule is None

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Timing:
        tz_name = spec.get("timeZone") or "UTC"
        zone = ZoneInfo(tz_name)
        start = spec.get("startTime")
        rec = spec.get("recurrence")
        return cls(
            start_time=parse_instant(start, zone) if start is not None else None,
            time_zone=tz_name,
            recurrence=Recurrence.from_dict(rec, zone) if rec else None,
            cron=spec.get("cron"),
            rrule=spec.get("rrule"),
            dst=DstPolicy.from_dict(spec.get("dst")),
        )


@dataclass(frozen=True)
class JobSpec:
    """A job's desired state; ``raw`` is the canonical (normalized) ``spec`` mapping."""

    timing: Timing
    state: JobState
    action: Mapping[str, Any]
    missed_run_policy: MissedRunPolicy
    starting_deadline: timedelta
    concurrency_policy: ConcurrencyPolicy
    raw: Mapping[str, Any]

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> JobSpec:
        deadline = spec.get("startingDeadline")
        return cls(
            timing=Timing.from_dict(spec),
            state=JobState(spec.get("state", "enabled")),
            action=spec["action"],
            missed_run_policy=MissedRunPolicy(spec.get("missedRunPolicy", "skip")),
            starting_deadline=parse_duration(deadline) if deadline else DEFAULT_STARTING_DEADLINE,
            concurrency_policy=ConcurrencyPolicy(spec.get("concurrencyPolicy", "allow")),
            raw=spec,
        )

    @property
    def spec_hash(self) -> str:
        return spec_fingerprint(self.raw)


@dataclass(frozen=True)
class SourceRef:
    """Where a manifest document came from: file path and 1-based line of its first key."""

    path: str
    line: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class JobKey:
    collection: str
    name: str

    def __str__(self) -> str:
        return f"{self.collection}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> JobKey:
        collection, _, name = text.partition("/")
        return cls(collection, name) if name else cls(DEFAULT_COLLECTION, collection)


@dataclass(frozen=True)
class Job:
    key: JobKey
    spec: JobSpec
    labels: Mapping[str, str] = field(default_factory=dict)
    source: SourceRef | None = None


@dataclass(frozen=True)
class Quota:
    max_job_count: int
    min_period: timedelta  # maxRecurrence: the shortest period any job may recur at
    min_retry_interval: timedelta
    max_job_occurrence: int | None = None


@dataclass(frozen=True)
class Collection:
    name: str
    state: CollectionState
    plan: PricingTier
    quota: Quota
    raw: Mapping[str, Any]
    source: SourceRef | None = None


PLAN_DEFAULTS: dict[PricingTier, tuple[int, timedelta]] = {
    PricingTier.FREE: (5, timedelta(hours=1)),
    PricingTier.STANDARD: (50, timedelta(minutes=1)),
    PricingTier.PREMIUM: (50, timedelta(minutes=1)),
    PricingTier.P10PREMIUM: (50, timedelta(minutes=1)),
    PricingTier.P20PREMIUM: (1000, timedelta(minutes=1)),
}
PERIOD_UNITS = {
    "second": timedelta(seconds=1),  # quota only (a cronplane extension for tests and demos)
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
    "month": timedelta(days=28),  # the shortest month
}
DEFAULT_MIN_RETRY_INTERVAL = timedelta(seconds=15)


def collection_from_dict(name: str, spec: Mapping[str, Any], source: SourceRef | None = None) -> Collection:
    """Build a Collection; quota fields default from the plan (Azure's plan table)."""
    plan = PricingTier(spec.get("plan", "standard"))
    max_jobs, max_rec = PLAN_DEFAULTS[plan]
    q = spec.get("quota") or {}
    rec = q.get("maxRecurrence")
    min_retry = q.get("minRetryInterval")
    quota = Quota(
        max_job_count=int(q.get("maxJobCount", max_jobs)),
        min_period=PERIOD_UNITS[rec["frequency"]] * int(rec.get("interval", 1)) if rec else max_rec,
        min_retry_interval=parse_duration(min_retry) if min_retry else DEFAULT_MIN_RETRY_INTERVAL,
        max_job_occurrence=q.get("maxJobOccurrence"),
    )
    return Collection(name, CollectionState(spec.get("state", "enabled")), plan, quota, spec, source)


def default_collection() -> Collection:
    """The implicit ``default`` collection of jobs that name none (standard plan)."""
    return collection_from_dict(DEFAULT_COLLECTION, {})


def parse_instant(value: str | datetime | date, zone: ZoneInfo) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is wall-clock time in ``zone``.

    A date alone (``2017-01-01``) means midnight at the start of that day. YAML may already have
    turned the text into a ``datetime``/``date`` (normalization keeps strings, but be lenient).
    """
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, time())
    else:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=zone)


def spec_fingerprint(raw: Mapping[str, Any]) -> str:
    """A stable hash of a canonical spec mapping (key order does not matter)."""
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
