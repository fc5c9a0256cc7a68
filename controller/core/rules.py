"""Per-document rules the JSON Schema cannot express well (reference §2.3, §4.1). Pure.

Each check returns ``(path, message)`` pairs relative to the document root; the caller turns
them into file:line:column problems. Set-level rules (duplicates, quotas, retry minimums that
depend on the collection) are in ``controller.core.quota``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from controller.core import limits
from controller.core.durations import DurationError, parse_duration
from controller.core.recurrence import RecurrenceError, validate_cron, validate_rrule

Finding = tuple[tuple[str | int, ...], str]
SECRET_FIELDS = frozenset(
    {"password", "pfx", "secret", "sasToken", "sasKey", "connectionString", "certificate", "privateKey"}
)
INLINE_SECRET = "inline secrets are not allowed; use {valueFrom: {env: NAME}} or {valueFrom: {file: PATH}}"
ACTION_KINDS = ("action", "errorAction")


def inline_secrets(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[Finding]:
    """Every secret field given as a plain value instead of a reference."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in SECRET_FIELDS and not isinstance(item, Mapping) and item is not None:
                yield (*path, key), INLINE_SECRET
            else:
                yield from inline_secrets(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from inline_secrets(item, (*path, i))


def job_rules(spec: Mapping[str, Any]) -> Iterator[Finding]:
    p = ("spec",)
    given = [k for k in ("recurrence", "cron", "rrule") if k in spec]
    if len(given) > 1:
        yield (*p, given[1]), f"give only one of recurrence, cron and rrule (found {', '.join(given)})"
    yield from _zone(spec)
    yield from _instant(spec.get("startTime"), (*p, "startTime"))
    if isinstance(spec.get("recurrence"), Mapping):
        yield from _recurrence(spec["recurrence"], (*p, "recurrence"))
    for key, check in (("cron", validate_cron), ("rrule", validate_rrule)):
        if isinstance(spec.get(key), str):
            try:
                check(spec[key])
            except RecurrenceError as e:
                yield (*p, key), str(e).removeprefix(f"{key}: ")
    yield from _durations(spec)
    yield from _action(spec.get("action"), (*p, "action"))
    size = len(json.dumps(spec, separators=(",", ":")))
    if size > limits.MAX_JOB_CHARS:
        yield p, f"the job definition is {size} characters, above the limit of {limits.MAX_JOB_CHARS}"


def _zone(spec: Mapping[str, Any]) -> Iterator[Finding]:
    name = spec.get("timeZone")
    if isinstance(name, str):
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            yield ("spec", "timeZone"), f"{name!r} is not an IANA time zone (for example Europe/Berlin)"


def _instant(value: Any, path: tuple[str | int, ...]) -> Iterator[Finding]:
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
        except ValueError:
            yield path, f"{value!r} is not a valid ISO 8601 date or date-time"


def _recurrence(rec: Mapping[str, Any], p: tuple[str | int, ...]) -> Iterator[Finding]:
    freq, interval = rec.get("frequency"), rec.get("interval", 1)
    top = limits.MAX_INTERVAL.get(freq) if isinstance(freq, str) else None
    if top is not None and isinstance(interval, int) and interval > top:
        yield (*p, "interval"), f"{interval} is above the maximum of {top} for frequency {freq}"
    yield from _instant(rec.get("endTime"), (*p, "endTime"))
    sched = rec.get("schedule")
    if not isinstance(sched, Mapping):
        return
    if "weekDays" in sched and freq != "week":
        yield (*p, "schedule", "weekDays"), f"weekDays is allowed only with frequency week (not {freq})"
    for key in ("monthDays", "monthlyOccurrences"):
        if key in sched and freq != "month":
            yield (*p, "schedule", key), f"{key} is allowed only with frequency month (not {freq})"


def _durations(spec: Mapping[str, Any]) -> Iterator[Finding]:
    deadline = spec.get("startingDeadline")
    if isinstance(deadline, str) and _seconds(deadline) is not None and (_seconds(deadline) or 0) <= 0:
        yield ("spec", "startingDeadline"), "must be longer than zero"


def _action(action: Any, p: tuple[str | int, ...]) -> Iterator[Finding]:
    if not isinstance(action, Mapping):
        return
    req = action.get("request")
    if isinstance(req, Mapping):
        uri = req.get("uri")
        if action.get("type") == "https" and isinstance(uri, str) and not uri.lower().startswith("https://"):
            yield (*p, "request", "uri"), "an https action needs an https:// uri"
        headers = req.get("headers")
        if isinstance(headers, Mapping):
            total = sum(len(str(k)) + len(str(v)) for k, v in headers.items())
            if total > limits.MAX_HEADER_CHARS:
                yield (
                    (*p, "request", "headers"),
                    (f"headers total {total} characters, above the limit of {limits.MAX_HEADER_CHARS}"),
                )
    if isinstance(action.get("errorAction"), Mapping):
        yield from _action(action["errorAction"], (*p, "errorAction"))


def _seconds(text: str) -> float | None:
    try:
        return parse_duration(text).total_seconds()
    except DurationError:
        return None


def retry_interval_findings(action: Any, minimum: float, p: tuple[str | int, ...]) -> Iterator[Finding]:
    """retryInterval ≥ minimum (15 s, or the collection's quota.minRetryInterval)."""
    if not isinstance(action, Mapping):
        return
    policy = action.get("retryPolicy")
    if isinstance(policy, Mapping) and isinstance(policy.get("retryInterval"), str):
        seconds = _seconds(policy["retryInterval"])
        if seconds is not None and seconds < minimum:
            yield (
                (*p, "retryPolicy", "retryInterval"),
                (
                    f"{policy['retryInterval']} is below the minimum of {minimum:g} s "
                    "(a collection's quota.minRetryInterval can lower it)"
                ),
            )
    if isinstance(action.get("errorAction"), Mapping):
        yield from retry_interval_findings(action["errorAction"], minimum, (*p, "errorAction"))
