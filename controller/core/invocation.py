"""Building the invocation payload for one occurrence (the controller side of the contract). Pure.

Retry policies are resolved here (reference §1.3.5): absent → fixed, 4 retries 30 s apart;
``none`` → no retry; the error action uses its own ``retryPolicy`` when it has one, else the main
action's ("the same retry policy", Azure D-HA).

``maxConcurrentCalls`` (a cronplane extension) travels in the payload: the job's own value under
the key ``job:<collection>/<name>``, else its collection's (``collection_max``, read by the
dispatcher from the collection's record) under ``collection:<name>``, shared by every job of the
collection without a value of its own. Workers hold one semaphore per key and process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.core.durations import parse_duration
from controller.core.model import JobKey
from controller.core.recurrence import Occurrence
from worker.contract import Invocation, RetryPolicy, invocation_id

DEFAULT_RETRY = RetryPolicy("fixed", 30.0, 4)


def retry_policy(raw: Mapping[str, Any] | None, fallback: RetryPolicy = DEFAULT_RETRY) -> RetryPolicy:
    if not raw:
        return fallback
    kind = str(raw.get("retryType", "fixed"))
    if kind == "none":
        return RetryPolicy("none", 0.0, 0)
    interval = parse_duration(raw["retryInterval"]).total_seconds() if raw.get("retryInterval") else 30.0
    top = parse_duration(raw["maxRetryInterval"]).total_seconds() if raw.get("maxRetryInterval") else 3600.0
    return RetryPolicy(kind, interval, int(raw.get("retryCount", 4)), top, bool(raw.get("retryClientErrors", False)))


def build_invocation(
    key: JobKey,
    spec: Mapping[str, Any],
    occ: Occurrence,
    *,
    generation: int,
    git_sha: str | None,
    final: bool,
    region: str,
    collection_max: int | None = None,
) -> Invocation:
    action = spec["action"]
    limit, limit_key = concurrency_limit(key, spec, collection_max)
    main = retry_policy(action.get("retryPolicy"))
    error = retry_policy((action.get("errorAction") or {}).get("retryPolicy"), main)
    return Invocation(
        id=invocation_id(key.collection, key.name, occ.epoch),
        collection=key.collection,
        name=key.name,
        expected=occ.epoch,
        repeat=occ.number,
        action=action,
        retry=main,
        error_retry=error,
        generation=generation,
        git_sha=git_sha or None,
        region=region,
        final=final,
        max_concurrency=limit,
        concurrency_key=limit_key,
    )


def concurrency_limit(
    key: JobKey, spec: Mapping[str, Any], collection_max: int | None
) -> tuple[int | None, str | None]:
    """(limit, key) of the job's invocations: its own maxConcurrentCalls, else its collection's."""
    own = spec.get("maxConcurrentCalls")
    if own:
        return int(own), f"job:{key}"
    if collection_max:
        return int(collection_max), f"collection:{key.collection}"
    return None, None
