"""What a plan is: its inputs (``Desired``, ``Observed``, ``PlanOptions``) and its output
(``Plan``: one ``JobRow`` per job, one ``CollectionRow`` per collection, the prune decision as
data). Pure, no decisions: those are in ``controller.core.reconcile.plan``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from controller.core.manifest import Problem
from controller.core.quota import Delta, LoadResult
from worker.records import CollectionRecord, CursorRecord, JobRecord, SyncStatus


class Action(StrEnum):
    CREATE = "created"
    UPDATE = "updated"
    DELETE = "deleted"
    KEEP = "kept"  # gone from the manifests, pruning not requested: left as it is
    BLOCKED = "blocked"  # gone from the manifests, but the prune decision refuses the deletion
    UNCHANGED = "unchanged"
    INVALID = "invalid"
    REJECTED = "rejected"


class Prune(StrEnum):
    """What happens to jobs that are gone from the manifests."""

    NOTHING = "nothing to delete"
    ALLOWED = "allowed"
    NOT_REQUESTED = "not requested"
    BLOCKED_CAP = "blocked by the prune cap"
    BLOCKED_EMPTY = "blocked: the source holds no manifest"
    BLOCKED_UNREADABLE = "blocked: the source cannot be read"


@dataclass(frozen=True)
class PruneDecision:
    outcome: Prune
    candidates: int = 0  # jobs gone from the manifests
    observed: int = 0  # jobs in the store
    cap: float = 1.0
    uses_allowance: bool = False  # an operator's one-time allowance (status --allow-prune) is spent

    @property
    def blocked(self) -> bool:
        return self.outcome in (Prune.BLOCKED_CAP, Prune.BLOCKED_EMPTY, Prune.BLOCKED_UNREADABLE)

    @property
    def message(self) -> str:
        if self.outcome is Prune.BLOCKED_CAP:
            return (
                f"{self.candidates} of {self.observed} jobs would be deleted, more than the prune cap of "
                f"{self.cap:.0%}; nothing is deleted (allow it with --allow-mass-delete, or "
                "`cronplane status --allow-prune` for the controller's next pass)"
            )
        if self.outcome is Prune.BLOCKED_EMPTY:
            return f"the source holds no manifest; none of the {self.candidates} jobs in Redis is deleted"
        if self.outcome is Prune.BLOCKED_UNREADABLE:
            return "the source cannot be read; nothing is deleted"
        if self.outcome is Prune.NOT_REQUESTED:
            return f"{self.candidates} job(s) not in the manifests are kept (use --prune to delete them)"
        return ""


@dataclass(frozen=True)
class ObservedJob:
    """A job as the store holds it: its record and the sync side of its status."""

    record: JobRecord
    status: SyncStatus | None = None

    @property
    def key(self) -> str:
        return self.record.name

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.record.created_at, UTC)


@dataclass(frozen=True)
class Desired:
    """What the source says: validated manifests plus every file-level problem."""

    load: LoadResult
    revision: str | None = None
    unreadable: str | None = None  # the whole source could not be read (missing path, failed fetch)


@dataclass(frozen=True)
class Observed:
    jobs: Mapping[str, ObservedJob] = field(default_factory=dict)
    collections: Mapping[str, CollectionRecord] = field(default_factory=dict)
    prune_allowance: bool = False  # `cronplane status --allow-prune` was given
    delta: Delta | None = field(default=None, compare=False, repr=False)  # the jobs changed since the last one


@dataclass(frozen=True)
class PlanOptions:
    prune: bool = True  # the controller always prunes (within the cap); apply only with --prune
    prune_cap: float = 0.25
    allow_mass_delete: bool = False
    runs: int = 10  # fire times shown in the diff
    next_runs_kept: int = 5  # fire times stored in the cursor for people


@dataclass(frozen=True)
class JobRow:
    """One job's decision and every write it implies (no write = None / False)."""

    key: str
    action: Action
    fields: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    record: JobRecord | None = None  # the job hash to write
    cursor: CursorRecord | None = None  # the cursor to write (reset)
    reset_cursor: bool = False  # True with cursor None: no occurrence is left
    status: SyncStatus | None = None  # the sync status fields to write (they differ)
    status_before: SyncStatus | None = None
    delete: bool = False
    active: bool = False
    before: tuple[datetime, ...] = ()
    after: tuple[datetime, ...] = ()
    summary: str = ""
    zone: str = "UTC"
    writes: bool = field(init=False, compare=False, repr=False)  # anything to write (derived)

    def __post_init__(self) -> None:
        object.__setattr__(self, "writes", self.record is not None or self.status is not None or self.delete)


@dataclass(frozen=True)
class CollectionRow:
    name: str
    action: Action
    record: CollectionRecord | None = None
    delete: bool = False
    fields: tuple[str, ...] = ()

    @property
    def writes(self) -> bool:
        return self.record is not None or self.delete


@dataclass(frozen=True)
class Plan:
    jobs: tuple[JobRow, ...]
    collections: tuple[CollectionRow, ...]
    problems: tuple[Problem, ...]  # every problem the source has, file-level ones included
    prune: PruneDecision
    revision: str | None = None
    unreadable: str | None = None
    # the rows that write, in order, when the planner kept them (derived from ``jobs``)
    writing: tuple[JobRow, ...] | None = field(default=None, compare=False, repr=False)

    def writing_rows(self) -> Sequence[JobRow]:
        return self.writing if self.writing is not None else [r for r in self.jobs if r.writes]

    def of(self, *actions: Action) -> list[JobRow]:
        return [r for r in self.jobs if r.action in actions]

    @property
    def has_changes(self) -> bool:
        """Anything to write (a status repair counts: apply would write it)."""
        return bool(self.writing_rows()) or any(c.writes for c in self.collections)

    @property
    def has_errors(self) -> bool:
        """Problems a person must see fail the command: bad input, quota refusals, blocked prunes."""
        return bool(self.problems) or self.prune.blocked or self.unreadable is not None
