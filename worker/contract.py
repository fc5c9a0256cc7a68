"""The versioned contract between the controller and the workers; pure, no I/O.

The controller imports this module and nothing else from ``worker``. It fixes three things:

1. **The invocation payload** (``Invocation``, ``PAYLOAD_VERSION``): the single argument of the
   RQ task ``TASK``. It carries everything a worker needs (the action with its secret
   *references*, the resolved retry policies, the occurrence's identity), so a worker never reads
   manifests or the controller's desired state. Decoders accept every version up to the current
   one and reject newer ones with ``ContractError``.
2. **Identity**: ``invocation_id`` builds ``<collection>_<job>-<scheduled epoch seconds>``, the RQ
   job id, HTTP ``Idempotency-Key``, Service Bus ``message_id`` and queue-message field.
3. **Durations** as manifests write them (``parse_duration``): the action dicts in payloads carry
   them as text (``timeToLive``), and the controller parses retry intervals the same way.
4. **The shared Redis layout** (``Keys``): status/counters, history and running markers are
   written by workers and read by the controller (and the other way round), so their names live
   here, in one place. Controller-only keys are in ``controller.state.keys``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import Any, Literal

import isodate

PAYLOAD_VERSION = 1
TASK = "worker.tasks.run_invocation"
DEFAULT_QUEUE = "cronplane"
MAIN_ACTION = "MainAction"
ERROR_ACTION = "ErrorAction"

Phase = Literal["main", "error"]


class ContractError(ValueError):
    """A payload this worker cannot read (unknown version, missing field)."""


def invocation_id(collection: str, name: str, scheduled_epoch: int) -> str:
    """Deterministic id of one occurrence. Names use [a-z0-9-], so '_' separates unambiguously."""
    return f"{collection}_{name}-{int(scheduled_epoch)}"


def parse_invocation_id(text: str) -> tuple[str, str, int]:
    collection, _, rest = text.partition("_")
    name, _, epoch = rest.rpartition("-")
    if not (collection and name and epoch.isdigit()):
        raise ContractError(f"not an invocation id: {text!r}")
    return collection, name, int(epoch)


@dataclass(frozen=True)
class RetryPolicy:
    """Resolved retry policy: ``none`` | ``fixed`` | ``exponential`` (interval doubles, capped)."""

    type: str = "fixed"
    interval: float = 30.0  # seconds
    count: int = 4  # retries after the first attempt
    max_interval: float = 3600.0  # exponential only
    retry_client_errors: bool = False  # retry 4xx other than 408/429 too

    def delay_before(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based)."""
        if self.type == "exponential":
            return float(min(self.max_interval, self.interval * 2 ** (retry_number - 1)))
        return self.interval

    @property
    def max_retries(self) -> int:
        return 0 if self.type == "none" else self.count


@dataclass(frozen=True)
class Invocation:
    """One occurrence to carry out, plus where it is in its retry sequence."""

    id: str
    collection: str
    name: str
    expected: int  # scheduled instant, epoch seconds UTC
    repeat: int  # 1-based occurrence number (Azure repeatCount)
    action: Mapping[str, Any]  # canonical manifest action (secret refs only, never values)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    error_retry: RetryPolicy = field(default_factory=RetryPolicy)
    generation: int = 1
    git_sha: str | None = None
    region: str = "local"
    phase: Phase = "main"
    attempt: int = 0  # Azure retryCount of the attempt this payload starts
    final: bool = False  # no occurrence follows this one: a fault makes the job Faulted
    # A run-now (reference §7.4): {"kind": "manual", "reason": ..., "by": ...}; None = scheduled.
    trigger: Mapping[str, str] | None = None
    # maxConcurrentCalls (the job's own, else its collection's): at most this many attempts under
    # ``concurrency_key`` ("job:<collection>/<name>" or "collection:<name>") at once per worker
    # process; None = no limit. Left out of the payload when None, so older workers read it.
    max_concurrency: int | None = None
    concurrency_key: str | None = None
    version: int = PAYLOAD_VERSION

    @property
    def job(self) -> str:
        return f"{self.collection}/{self.name}"

    def next_attempt(self) -> Invocation:
        return replace(self, attempt=self.attempt + 1)

    def to_error_phase(self) -> Invocation:
        return replace(self, phase="error", attempt=0)

    def to_dict(self) -> dict[str, Any]:
        """Shallow (the action mapping is shared, never mutated): this runs once per occurrence."""
        out = {f: getattr(self, f) for f in self.__dataclass_fields__}
        out["retry"], out["error_retry"] = asdict(self.retry), asdict(self.error_retry)
        if self.max_concurrency is None:
            del out["max_concurrency"], out["concurrency_key"]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Invocation:
        version = int(d.get("version", 0))
        if not 1 <= version <= PAYLOAD_VERSION:
            raise ContractError(f"payload version {version} is not supported (max {PAYLOAD_VERSION})")
        try:
            fields = dict(d)
            fields["retry"] = RetryPolicy(**fields.get("retry", {}))
            fields["error_retry"] = RetryPolicy(**fields.get("error_retry", {}))
            return cls(**fields)
        except TypeError as e:
            raise ContractError(f"malformed invocation payload: {e}") from e

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


@dataclass(frozen=True)
class Keys:
    """Redis key names shared by controller and workers. ``prefix`` isolates installations."""

    prefix: str = "cp"

    def status(self, job: str) -> str:
        """HASH: condition, reason, counters, lastExecutionTime, nextExecutionTime, ..."""
        return f"{self.prefix}:status:{job}"

    def history(self, job: str) -> str:
        """ZSET of JSON history entries scored by start time (epoch ms); trimmed by count and age."""
        return f"{self.prefix}:history:{job}"

    def running(self, job: str) -> str:
        """STRING: the RQ job id carrying the running attempt (or its scheduled retry), with a TTL;
        read by the concurrency policies (replace stops that RQ job)."""
        return f"{self.prefix}:running:{job}"

    def job(self, job: str) -> str:
        """HASH: the job's desired state (``worker.records.JobRecord``); missing = deleted."""
        return f"{self.prefix}:job:{job}"

    def cursor(self, job: str) -> str:
        """HASH: the dispatch cursor (``worker.records.CursorRecord``)."""
        return f"{self.prefix}:sched:{job}"

    def collection(self, name: str) -> str:
        """HASH: a job collection (``worker.records.CollectionRecord``)."""
        return f"{self.prefix}:collection:{name}"

    def history_jobs(self) -> str:
        """SET of jobs that have history (for bounded clean-up)."""
        return f"{self.prefix}:history-jobs"

    def lateness(self) -> str:
        """HASH: the due → started lateness histogram workers keep (fields ``le:<bucket>``, ``sum``,
        ``count``), read by every process's /metrics."""
        return f"{self.prefix}:metrics:start-lateness"


# abandoned / interrupted: an attempt whose worker died / shut down before it ended (requeued)
HistoryStatus = Literal["completed", "failed", "postponed", "missed", "skipped", "abandoned", "interrupted"]


@dataclass(frozen=True)
class HistoryEntry:
    """One history record (reference §1.4): an attempt by a worker, or a missed/skipped occurrence
    recorded by the controller. Times are ISO 8601 UTC strings with a ``Z`` suffix."""

    job: str  # "<collection>/<name>"
    invocation_id: str
    expected_execution_time: str
    start_time: str
    end_time: str
    action_name: str  # MAIN_ACTION | ERROR_ACTION
    status: HistoryStatus
    retry_count: int
    repeat_count: int
    message: str
    git_sha: str | None = None
    generation: int | None = None
    trigger: Mapping[str, str] | None = None  # a run-now: kind "manual", reason and who asked

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> HistoryEntry:
        return cls(**json.loads(text))


def add_history(
    pipe: Any, keys: Keys, entry: HistoryEntry, *, score_ms: float, max_entries: int, max_age_seconds: int
) -> None:
    """Queue the commands that append ``entry`` and keep the job's history bounded.

    ``pipe`` is a redis-py pipeline (MULTI); both controller and worker write history through this
    one function so the bounds are the same everywhere. The key itself expires after the age
    bound, so a deleted job's history disappears without a sweeper.
    """
    key = keys.history(entry.job)
    pipe.zadd(key, {entry.to_json(): score_ms})
    pipe.zremrangebyrank(key, 0, -max_entries - 1)
    pipe.zremrangebyscore(key, "-inf", score_ms - max_age_seconds * 1000)
    pipe.expire(key, max_age_seconds)
    pipe.sadd(keys.history_jobs(), entry.job)


LATENESS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


def observe_lateness(pipe: Any, keys: Keys, seconds: float) -> None:
    """Queue the commands adding one due → started sample to the shared histogram."""
    key = keys.lateness()
    for bucket in LATENESS_BUCKETS:
        if seconds <= bucket:
            pipe.hincrby(key, f"le:{bucket}", 1)
    pipe.hincrbyfloat(key, "sum", max(0.0, seconds))
    pipe.hincrby(key, "count", 1)


# --- durations: ISO 8601 (PT30S, P1D) or .NET TimeSpan text ([d.]hh:mm:ss), reference §1.3.5 ---
# Calendar units (years, months) count as 365 and 30 days: a duration here is a length, not a date.
_TIMESPAN = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2}(?:\.\d+)?)$")


class DurationError(ValueError):
    """The text is neither an ISO 8601 duration nor TimeSpan text."""


def parse_duration(text: str) -> timedelta:
    value = text.strip()
    if m := _TIMESPAN.match(value):
        return timedelta(days=int(m["days"] or 0), hours=int(m["h"]), minutes=int(m["m"]), seconds=float(m["s"]))
    try:
        parsed = isodate.parse_duration(value)
    except (isodate.ISO8601Error, ValueError) as e:
        raise DurationError(f"{text!r} is not a duration (use ISO 8601 like PT30S, or hh:mm:ss)") from e
    if isinstance(parsed, isodate.Duration):
        return timedelta(days=365 * float(parsed.years) + 30 * float(parsed.months)) + parsed.tdelta
    return parsed


def is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except DurationError:
        return False
    return True
