"""Per-document rules the JSON Schema cannot express (reference §2.3, §4.1, §1.2). Pure.

Each check yields ``(path, message)`` findings with paths from the document root; the caller
turns them into file:line:column problems. Where a rule applies is read from the schema
(``normalize.typed_locations``: every ``secretRef``, ``duration`` and ``dateTime``), not from a
list of field paths. Set-level rules (duplicates, quotas, retry minimums that depend on the
collection) are in ``controller.core.quota``.

No rule raises for any value that passed the schema: third-party parsers (zoneinfo, dateutil,
urllib, the recurrence engine) are called inside guards, because a user must get a line, not
a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from controller.core import limits
from controller.core.durations import DurationError, parse_duration
from controller.core.model import PERIOD_UNITS, PLAN_DEFAULTS, PricingTier, Timing, parse_instant
from controller.core.normalize import Path, value_at
from controller.core.timingcheck import timing_errors, timing_warnings

Finding = tuple[Path, str]
SECRET_REF = "secretRef"
INLINE_SECRET = "inline secrets are not allowed; use {valueFrom: {env: NAME}} or {valueFrom: {file: PATH}}"
MISSING_SECRET = "needs a secret reference: {valueFrom: {env: NAME}} or {valueFrom: {file: PATH}}"
SPEC: Path = ("spec",)


def secret_findings(document: Any, typed: Mapping[Path, str]) -> list[Finding]:
    """Every secret given as a value instead of a reference (the value itself is never echoed)."""
    out = []
    for path, name in typed.items():
        value = value_at(document, path)
        if name == SECRET_REF and not isinstance(value, Mapping):
            out.append((path, MISSING_SECRET if value is None else INLINE_SECRET))
    return out


def typed_findings(document: Any, typed: Mapping[Path, str]) -> Iterator[Finding]:
    """Durations parse and stay in range; instants parse and lie in the supported range."""
    zone = _zone_or_utc(value_at(document, (*SPEC, "timeZone")))
    for path, name in sorted(typed.items(), key=lambda item: str(item[0])):
        value = value_at(document, path)
        if name == "duration" and isinstance(value, str):
            yield from _duration(value, path)
        elif name == "dateTime" and isinstance(value, str):
            yield from _instant(value, path, zone)


def job_rules(spec: Mapping[str, Any]) -> Iterator[Finding]:
    given = [k for k in ("recurrence", "cron", "rrule") if k in spec]
    if len(given) > 1:
        yield (*SPEC, given[1]), f"give only one of recurrence, cron and rrule (found {', '.join(given)})"
    yield from _zone(spec.get("timeZone"))
    if isinstance(spec.get("recurrence"), Mapping):
        yield from _recurrence(spec["recurrence"], (*SPEC, "recurrence"))
    if len(given) <= 1:
        yield from _timing(spec)
    yield from _deadline(spec.get("startingDeadline"))
    yield from _action(spec.get("action"), (*SPEC, "action"))
    size = len(json.dumps(spec, separators=(",", ":"), default=str))
    if size > limits.MAX_JOB_CHARS:
        yield SPEC, f"the job definition is {size} characters, above the limit of {limits.MAX_JOB_CHARS}"


def collection_rules(spec: Mapping[str, Any]) -> Iterator[Finding]:
    """A quota may tighten the plan's limits (Azure §1.2), with two cronplane extensions.

    ``minRetryInterval`` and a ``maxRecurrence`` faster than a paid plan's one minute (frequency
    ``second``, for tests and demos) may loosen them; the free plan's hourly floor and every
    plan's job count stay hard limits.
    """
    plan = PricingTier(spec.get("plan", "standard"))
    max_jobs, fastest = PLAN_DEFAULTS[plan]
    quota = spec.get("quota") or {}
    count = quota.get("maxJobCount")
    if isinstance(count, int) and count > max_jobs:
        yield (*SPEC, "quota", "maxJobCount"), f"{count} is above the maximum of {max_jobs} for plan {plan}"
    rec = quota.get("maxRecurrence")
    if plan is PricingTier.FREE and isinstance(rec, Mapping):
        period = PERIOD_UNITS[rec["frequency"]] * int(rec.get("interval", 1))
        if period < fastest:
            yield (
                (*SPEC, "quota", "maxRecurrence"),
                f"every {human(period)} is more frequent than plan free allows (at most once every {human(fastest)})",
            )
    minimum = quota.get("minRetryInterval")
    if isinstance(minimum, str) and _seconds(minimum) == 0:
        yield (*SPEC, "quota", "minRetryInterval"), "must be longer than zero"


def retry_interval_findings(action: Any, minimum: float, p: Path) -> Iterator[Finding]:
    """retryInterval ≥ minimum (15 s, or the collection's quota.minRetryInterval)."""
    if not isinstance(action, Mapping):
        return
    policy = action.get("retryPolicy")
    if isinstance(policy, Mapping) and isinstance(policy.get("retryInterval"), str):
        seconds = _seconds(policy["retryInterval"])
        if seconds is not None and seconds < minimum:
            yield (
                (*p, "retryPolicy", "retryInterval"),
                f"{policy['retryInterval']} is below the minimum of {minimum:g} s "
                "(a collection's quota.minRetryInterval can lower it)",
            )
    if isinstance(action.get("errorAction"), Mapping):
        yield from retry_interval_findings(action["errorAction"], minimum, (*p, "errorAction"))


def human(gap: timedelta) -> str:
    seconds = int(gap.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n > 1 else ''}"
    return f"{seconds} s"


# -- time zones, instants, durations ------------------------------------------------------------
def _zone_or_utc(name: Any) -> ZoneInfo:
    try:
        return ZoneInfo(name) if isinstance(name, str) else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


def _zone(name: Any) -> Iterator[Finding]:
    if not isinstance(name, str):
        return
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        shown = name if len(name) <= 60 else name[:57] + "..."
        yield (*SPEC, "timeZone"), f"{shown!r} is not an IANA time zone (for example Europe/Berlin)"


def _instant(text: str, path: Path, zone: ZoneInfo) -> Iterator[Finding]:
    try:
        instant = parse_instant(text, zone).astimezone(UTC)
    except ValueError:
        yield path, f"{text!r} is not a valid ISO 8601 date or date-time"
        return
    except OverflowError:
        instant = limits.MIN_INSTANT - timedelta(days=1)
    if not limits.MIN_INSTANT <= instant <= limits.MAX_INSTANT:
        low, high = limits.MIN_INSTANT.date(), limits.MAX_INSTANT.date()
        yield path, f"{text!r} is outside the supported range {low} to {high}"


def _seconds(text: str) -> float | None:
    try:
        return parse_duration(text).total_seconds()
    except (DurationError, ValueError, OverflowError):
        return None


def _duration(text: str, path: Path) -> Iterator[Finding]:
    seconds = _seconds(text)
    if seconds is None or seconds > limits.MAX_DURATION.total_seconds():
        yield path, f"{text!r} is not a duration of at most {limits.MAX_DURATION.days // 365} years"


def _deadline(text: Any) -> Iterator[Finding]:
    if isinstance(text, str) and _seconds(text) == 0:
        yield (*SPEC, "startingDeadline"), "must be longer than zero"


# -- schedule -----------------------------------------------------------------------------------
def _recurrence(rec: Mapping[str, Any], p: Path) -> Iterator[Finding]:
    freq, interval = rec.get("frequency"), rec.get("interval", 1)
    top = limits.MAX_INTERVAL.get(freq) if isinstance(freq, str) else None
    if top is not None and isinstance(interval, int) and interval > top:
        yield (*p, "interval"), f"{interval} is above the maximum of {top} for frequency {freq}"
    sched = rec.get("schedule")
    if not isinstance(sched, Mapping):
        return
    if "weekDays" in sched and freq != "week":
        yield (*p, "schedule", "weekDays"), f"weekDays is allowed only with frequency week (not {freq})"
    for key in ("monthDays", "monthlyOccurrences"):
        if key in sched and freq != "month":
            yield (*p, "schedule", key), f"{key} is allowed only with frequency month (not {freq})"


def _timing(spec: Mapping[str, Any]) -> Iterator[Finding]:
    """cron, rrule and recurrence evaluated from the job's own startTime (``timingcheck``)."""
    timing = _timing_or_none(spec)
    if timing is None:
        return
    key = "cron" if timing.cron else "rrule" if timing.rrule else "recurrence"
    try:
        yield from timing_errors(timing)
    except Exception as e:  # the engine's parsers (dateutil, cronsim) raise more than they document
        yield (*SPEC, key), f"cannot be evaluated: {str(e).splitlines()[0] if str(e) else type(e).__name__}"


def job_warnings(spec: Mapping[str, Any]) -> list[Finding]:
    """Findings that are printed but do not make the manifest invalid."""
    timing = _timing_or_none(spec)
    try:
        return timing_warnings(timing) if timing is not None else []
    except Exception:  # a warning must never hide the answer
        return []


def _timing_or_none(spec: Mapping[str, Any]) -> Timing | None:
    try:
        return Timing.from_dict(spec)
    except Exception:  # a bad zone or date is reported by its own rule
        return None


# -- actions ------------------------------------------------------------------------------------
def _action(action: Any, p: Path) -> Iterator[Finding]:
    if not isinstance(action, Mapping):
        return
    req = action.get("request")
    if isinstance(req, Mapping) and isinstance(req.get("uri"), str):
        yield from _uri(req["uri"], action.get("type"), (*p, "request", "uri"))
    if isinstance(req, Mapping) and isinstance(req.get("headers"), Mapping):
        yield from header_findings(req["headers"], (*p, "request", "headers"))
        total = sum(len(str(k)) + len(str(v)) for k, v in req["headers"].items())
        if total > limits.MAX_HEADER_CHARS:
            yield (
                (*p, "request", "headers"),
                f"headers total {total} characters, above the limit of {limits.MAX_HEADER_CHARS}",
            )
    policy = action.get("retryPolicy")
    if isinstance(policy, Mapping):
        yield from _retry_policy(policy, (*p, "retryPolicy"))
    if isinstance(action.get("errorAction"), Mapping):
        yield from _action(action["errorAction"], (*p, "errorAction"))


# Headers the worker owns: the idempotency key (the invocation id, ``<id>-error`` for the error
# action) and the message framing its HTTP client writes; a manifest value would be replaced
# or would corrupt the request.
RESERVED_HEADERS = {
    "idempotency-key": "is set by the scheduler (the invocation id; <id>-error for the error action)",
    "content-length": "is a framing header: the worker computes it from the body",
    "transfer-encoding": "is a framing header: the worker sends the body with a Content-Length",
    "host": "is a framing header: the worker takes it from the uri",
    "connection": "is a framing header: the worker manages its connections (keep-alive)",
}


def header_findings(headers: Mapping[Any, Any], path: Path) -> Iterator[Finding]:
    """Reserved and framing headers, and values HTTP cannot carry (the schema checks names)."""
    for name, value in headers.items():
        text = str(name)
        reason = RESERVED_HEADERS.get(text.lower())
        if reason:
            yield (*path, text), f"{text} {reason}; remove it"
        elif any(c in str(value) for c in "\r\n\0"):
            yield (*path, text), "the value may not contain line breaks or NUL characters"


def _uri(uri: str, action_type: Any, path: Path) -> Iterator[Finding]:
    if any(c.isspace() or ord(c) < 32 for c in uri):
        yield path, "may not contain spaces or control characters (percent-encode them)"
        return
    try:
        parts = urlsplit(uri)
        host, _ = parts.hostname, parts.port  # .port raises ValueError for a bad port
    except ValueError as e:
        yield path, f"is not a valid URI: {e}"
        return
    if parts.scheme.lower() not in ("http", "https") or not host:
        yield path, "must be an absolute http:// or https:// URI with a host"
    elif "@" in parts.netloc:  # user:password@host: a secret in the manifest, the plan and Redis
        yield path, "may not carry credentials (user:password@); use authentication with a secret reference"
    elif action_type == "https" and parts.scheme.lower() != "https":
        yield path, "an https action needs an https:// uri"


def _retry_policy(policy: Mapping[str, Any], p: Path) -> Iterator[Finding]:
    interval = _seconds(policy["retryInterval"]) if isinstance(policy.get("retryInterval"), str) else None
    if interval is not None and interval > limits.MAX_RETRY_INTERVAL.total_seconds():
        yield (*p, "retryInterval"), "is above the maximum of 18 months"
    longest = _seconds(policy["maxRetryInterval"]) if isinstance(policy.get("maxRetryInterval"), str) else None
    if longest is not None and policy.get("retryType") != "exponential":
        yield (*p, "maxRetryInterval"), "is used only with retryType exponential"
    elif longest is not None and interval is not None and longest < interval:
        yield (*p, "maxRetryInterval"), "must not be shorter than retryInterval"
