"""The shared Redis records and their one versioned codec each; pure, no I/O.

Sync, dispatch and workers share four records. Each has exactly one codec here (field names as
constants, which the Lua scripts receive as arguments instead of spelling them), and each
*field* has exactly one writer side:

    record      key (``Keys``)          written by                 read by
    ─────────   ─────────────────────   ────────────────────────   ─────────────────────────
    job         {p}:job:{job}           sync (apply of a plan row)  dispatch, workers, status
    cursor      {p}:sched:{job}         sync (reset) · dispatch     dispatch, status
                                        (advance): the exactly-once
                                        protocol, guarded by the
                                        cursor's generation
    status      {p}:status:{job}        sync: SYNC_FIELDS           status, API
                                        dispatch: DISPATCH_FIELDS
                                        worker: WORKER_FIELDS
    collection  {p}:collection:{name}   sync                        status, API

The condition a person sees is never stored: ``JobStatus.condition`` derives it from the three
sides' fields, the job and the cursor, so no writer can leave it stale (a fixed manifest clears
Stalled, a re-created schedule clears Completed and Faulted). ``RECORD_VERSION`` is written into
every job and cursor record; decoders accept every version up to it and reject newer ones.

Shared bounds (RQ timeouts and TTLs, history bounds) live in ``Bounds`` so that a first attempt
(enqueued by the controller) and its retries (enqueued by a worker) run under the same limits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from worker.contract import ContractError

RECORD_VERSION = 1


class Condition(StrEnum):
    """A job's condition (Flux/Kubernetes style), in the order ``JobStatus.condition`` checks."""

    REJECTED = "Rejected"  # never valid, or refused by a quota, and no good spec to keep running
    STALLED = "Stalled"  # the manifest is invalid now; the last good spec keeps running
    DISABLED = "Disabled"  # the job or its collection is disabled
    FAULTED = "Faulted"  # the last occurrence used up its retries and failed
    COMPLETED = "Completed"  # no occurrence is left
    READY = "Ready"


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def decode_hash(row: Mapping[Any, Any]) -> dict[str, str]:
    """A redis-py HGETALL answer (bytes or str) as str → str."""
    return {_text(k): _text(v) for k, v in row.items()}


def _check_version(h: Mapping[str, str], what: str) -> None:
    version = int(h.get(VERSION) or 1)
    if version > RECORD_VERSION:
        raise ContractError(f"{what} record version {version} is newer than this program ({RECORD_VERSION})")


VERSION = "v"

# --- job: {p}:job:{job} (sync writes it whole) ---------------------------------------------
J_SPEC = "spec"  # canonical spec JSON
J_SPEC_HASH = "specHash"
J_GENERATION = "generation"
J_CREATED_AT = "createdAt"  # epoch s: creation instant of this timing generation
J_ACTIVE = "active"  # "1": job enabled and collection enabled
J_COLLECTION = "collection"
J_SOURCE = "source"  # "path:line"
J_GIT_SHA = "gitSha"
J_LABELS = "labels"  # JSON object


@dataclass(frozen=True)
class JobRecord:
    name: str
    spec: Mapping[str, Any]
    spec_hash: str
    generation: int
    created_at: float
    active: bool
    collection: str
    source: str = ""
    git_sha: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_redis(self) -> dict[str, str]:
        return {
            VERSION: str(RECORD_VERSION),
            J_SPEC: json.dumps(self.spec, sort_keys=True),
            J_SPEC_HASH: self.spec_hash,
            J_GENERATION: str(self.generation),
            J_CREATED_AT: repr(float(self.created_at)),
            J_ACTIVE: "1" if self.active else "0",
            J_COLLECTION: self.collection,
            J_SOURCE: self.source,
            J_GIT_SHA: self.git_sha,
            J_LABELS: json.dumps(dict(self.labels), sort_keys=True),
        }

    @classmethod
    def from_redis(cls, name: str, row: Mapping[Any, Any]) -> JobRecord | None:
        """None for a missing (deleted) job."""
        h = decode_hash(row)
        if J_SPEC not in h:
            return None
        _check_version(h, "job")
        return cls(
            name=name,
            spec=json.loads(h[J_SPEC]),
            spec_hash=h.get(J_SPEC_HASH, ""),
            generation=int(h.get(J_GENERATION) or 1),
            created_at=float(h.get(J_CREATED_AT) or 0),
            active=h.get(J_ACTIVE) == "1",
            collection=h.get(J_COLLECTION) or name.partition("/")[0],
            source=h.get(J_SOURCE, ""),
            git_sha=h.get(J_GIT_SHA, ""),
            labels=json.loads(h.get(J_LABELS) or "{}"),
        )


# --- cursor: {p}:sched:{job} ---------------------------------------------------------------
C_NEXT_AT = "nextAt"  # epoch s of the next occurrence; "" = none left (Completed)
C_NUMBER = "number"  # occurrence number (Azure repeatCount) of nextAt
C_GENERATION = "generation"  # the job generation this cursor was computed for
C_NEXT_RUNS = "nextRuns"  # JSON list of the next few epoch seconds, for people
C_FIELDS = (C_NEXT_AT, C_NUMBER, C_GENERATION, C_NEXT_RUNS)


@dataclass(frozen=True)
class CursorRecord:
    generation: int
    next_at: int | None
    number: int = 0
    next_runs: tuple[int, ...] = ()

    @property
    def done(self) -> bool:
        return self.next_at is None

    def to_redis(self) -> dict[str, str]:
        return {
            VERSION: str(RECORD_VERSION),
            C_NEXT_AT: "" if self.next_at is None else str(self.next_at),
            C_NUMBER: str(self.number),
            C_GENERATION: str(self.generation),
            C_NEXT_RUNS: encode_runs(self.next_runs),
        }

    @classmethod
    def from_redis(cls, row: Mapping[Any, Any]) -> CursorRecord | None:
        h = decode_hash(row)
        if C_GENERATION not in h:
            return None
        _check_version(h, "cursor")
        at = h.get(C_NEXT_AT) or ""
        return cls(
            generation=int(h[C_GENERATION]),
            next_at=int(float(at)) if at else None,
            number=int(h.get(C_NUMBER) or 0),
            next_runs=tuple(json.loads(h.get(C_NEXT_RUNS) or "[]")),
        )


def encode_runs(epochs: Sequence[int]) -> str:
    return "[" + ",".join(str(int(e)) for e in epochs) + "]"


# --- status: {p}:status:{job}, three writer sides with disjoint fields ----------------------
# sync: what the manifest says about the job (rewritten whenever it differs from the plan)
S_SPEC_CONDITION = "specCondition"  # Ready | Stalled | Rejected: the manifest's own verdict
S_SPEC_REASON = "specReason"  # file:line: field: message (the first problems), or ""
S_OBSERVED_GENERATION = "observedGeneration"
S_SOURCE = "source"
S_GIT_SHA = "gitSha"
S_LABELS = "labels"
SYNC_FIELDS = (S_SPEC_CONDITION, S_SPEC_REASON, S_OBSERVED_GENERATION, S_SOURCE, S_GIT_SHA, S_LABELS)
# dispatch: what the schedule did
D_LAST_SCHEDULE_TIME = "lastScheduleTime"
D_MISSED_COUNT = "missedCount"
D_SKIPPED_COUNT = "skippedCount"
DISPATCH_FIELDS = (D_LAST_SCHEDULE_TIME, D_MISSED_COUNT, D_SKIPPED_COUNT)
# workers: what the calls did (counters after Azure, reference §1.3.9)
W_EXECUTION_COUNT = "executionCount"  # attempts of the main action, retries included
W_FAILURE_COUNT = "failureCount"  # failed attempts of the main action
W_FAULTED_COUNT = "faultedCount"  # occurrences that used up their retries and still failed
W_LAST_EXECUTION_TIME = "lastExecutionTime"
W_LAST_RESULT = "lastResult"  # completed | failed | faulted
W_FAULTED_GENERATION = "faultedGeneration"  # the job generation whose final occurrence faulted
W_FAULTED_REASON = "faultedReason"
W_LAST_SUCCESS_TIME = "lastSuccessTime"  # the last completed main attempt (metrics: alert on a missing run)
W_RETRY_COUNT = "retryCount"  # retry attempts of the main action (metrics)
WORKER_FIELDS = (
    W_EXECUTION_COUNT,
    W_FAILURE_COUNT,
    W_FAULTED_COUNT,
    W_LAST_EXECUTION_TIME,
    W_LAST_RESULT,
    W_FAULTED_GENERATION,
    W_FAULTED_REASON,
    W_LAST_SUCCESS_TIME,
    W_RETRY_COUNT,
)


@dataclass(frozen=True)
class SyncStatus:
    """The sync side's status fields; the plan computes the wanted value every pass."""

    spec_condition: Condition
    spec_reason: str
    observed_generation: int
    source: str
    git_sha: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_redis(self) -> dict[str, str]:
        return {
            S_SPEC_CONDITION: self.spec_condition.value,
            S_SPEC_REASON: self.spec_reason,
            S_OBSERVED_GENERATION: str(self.observed_generation),
            S_SOURCE: self.source,
            S_GIT_SHA: self.git_sha,
            S_LABELS: json.dumps(dict(self.labels), sort_keys=True),
        }

    @classmethod
    def from_redis(cls, row: Mapping[Any, Any]) -> SyncStatus | None:
        h = decode_hash(row)
        if S_SPEC_CONDITION not in h:
            return None
        return cls(
            Condition(h[S_SPEC_CONDITION]),
            h.get(S_SPEC_REASON, ""),
            int(h.get(S_OBSERVED_GENERATION) or 0),
            h.get(S_SOURCE, ""),
            h.get(S_GIT_SHA, ""),
            json.loads(h.get(S_LABELS) or "{}"),
        )


def worker_status_fields(
    *,
    main: bool,
    ok: bool,
    started_iso: str,
    faulted: bool,
    final: bool,
    generation: int,
    reason: str,
    retry: bool = False,
) -> tuple[dict[str, int], dict[str, str]]:
    """Counters to add and fields to set for one recorded attempt (the worker's only status write)."""
    if not main:
        return {}, {}
    counters = {W_EXECUTION_COUNT: 1, W_FAILURE_COUNT: 0 if ok else 1}
    fields = {W_LAST_EXECUTION_TIME: started_iso, W_LAST_RESULT: "completed" if ok else "failed"}
    if ok:
        fields[W_LAST_SUCCESS_TIME] = started_iso
    if retry:
        counters[W_RETRY_COUNT] = 1
    if faulted:
        counters[W_FAULTED_COUNT] = 1
        fields[W_LAST_RESULT] = "faulted"
        if final:
            fields.update({W_FAULTED_GENERATION: str(generation), W_FAULTED_REASON: reason})
    return counters, fields


@dataclass(frozen=True)
class JobStatus:
    """What a person sees for one job: every side's fields, with the condition derived."""

    name: str
    job: JobRecord | None
    cursor: CursorRecord | None
    fields: Mapping[str, str]

    @classmethod
    def from_redis(
        cls, name: str, job_row: Mapping[Any, Any], cursor_row: Mapping[Any, Any], status_row: Mapping[Any, Any]
    ) -> JobStatus:
        return cls(
            name, JobRecord.from_redis(name, job_row), CursorRecord.from_redis(cursor_row), decode_hash(status_row)
        )

    @property
    def sync(self) -> SyncStatus | None:
        return SyncStatus.from_redis(self.fields)

    @property
    def condition(self) -> Condition:
        sync = self.sync
        if self.job is None:
            return Condition.REJECTED
        if sync is not None and sync.spec_condition in (Condition.STALLED, Condition.REJECTED):
            return sync.spec_condition
        if not self.job.active:
            return Condition.DISABLED
        if self.fields.get(W_FAULTED_GENERATION) == str(self.job.generation):
            return Condition.FAULTED
        if self.cursor is not None and self.cursor.generation == self.job.generation and self.cursor.done:
            return Condition.COMPLETED
        return Condition.READY

    @property
    def reason(self) -> str:
        condition, sync = self.condition, self.sync
        if condition in (Condition.STALLED, Condition.REJECTED):
            return sync.spec_reason if sync else ""
        if condition is Condition.DISABLED:
            return "the job or its collection is disabled"
        if condition is Condition.FAULTED:
            return self.fields.get(W_FAULTED_REASON, "")
        if condition is Condition.COMPLETED:
            return "no occurrence is left"
        return ""

    @property
    def next_runs(self) -> tuple[int, ...]:
        """Upcoming occurrences (epoch s) while the job is dispatchable."""
        if self.job is None or not self.job.active or self.cursor is None or self.cursor.done:
            return ()
        return self.cursor.next_runs

    def counter(self, name: str) -> int:
        return int(self.fields.get(name) or 0)


# --- collection: {p}:collection:{name} (sync) ----------------------------------------------
K_SPEC = "spec"
K_STATE = "state"
K_TIER = "plan"  # pricing tier, Azure's sku.name
K_SOURCE = "source"
K_GIT_SHA = "gitSha"


@dataclass(frozen=True)
class CollectionRecord:
    name: str
    spec: Mapping[str, Any]
    state: str
    tier: str
    source: str = ""
    git_sha: str = ""

    def to_redis(self) -> dict[str, str]:
        return {
            VERSION: str(RECORD_VERSION),
            K_SPEC: json.dumps(self.spec, sort_keys=True),
            K_STATE: self.state,
            K_TIER: self.tier,
            K_SOURCE: self.source,
            K_GIT_SHA: self.git_sha,
        }

    @classmethod
    def from_redis(cls, name: str, row: Mapping[Any, Any]) -> CollectionRecord | None:
        h = decode_hash(row)
        if K_SPEC not in h:
            return None
        _check_version(h, "collection")
        return cls(
            name,
            json.loads(h[K_SPEC]),
            h.get(K_STATE, ""),
            h.get(K_TIER, ""),
            h.get(K_SOURCE, ""),
            h.get(K_GIT_SHA, ""),
        )


# --- shared bounds ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Bounds:
    """Limits both sides apply: the controller enqueues first attempts, workers their retries."""

    job_timeout: int = 180  # RQ job timeout of one attempt
    result_ttl: int = 24 * 3600  # RQ keeps a finished attempt a day (dedup also has the fired marker)
    failure_ttl: int = 7 * 24 * 3600
    abandoned_retries: int = 3  # RQ requeues an attempt whose worker died (SIGKILL), same id
    history_max_entries: int = 1000
    history_max_age_seconds: int = 60 * 24 * 3600

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Bounds:
        d = cls()
        return cls(
            job_timeout=int(env.get("CRONPLANE_JOB_TIMEOUT", d.job_timeout)),
            result_ttl=d.result_ttl,
            failure_ttl=d.failure_ttl,
            abandoned_retries=d.abandoned_retries,
            history_max_entries=int(env.get("CRONPLANE_HISTORY_MAX_ENTRIES", d.history_max_entries)),
            history_max_age_seconds=int(env.get("CRONPLANE_HISTORY_MAX_AGE", d.history_max_age_seconds)),
        )
