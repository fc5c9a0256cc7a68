"""HTTP/HTTPS actions: one request per attempt, success = a 2xx answer.

Every request carries ``Idempotency-Key: <invocation id>`` (a replay of the same occurrence,
e.g. after a worker crash, can be recognised by the target) and Azure's scheduler headers
(reference §7.1). Targets that resolve to link-local addresses (169.254.0.0/16, fe80::/10:
cloud metadata endpoints) are refused unless ``settings.allow_link_local``. Answers: 2xx → ok;
408/429/5xx → failed, retryable (429/503 honour Retry-After); other 4xx → failed, not retried
unless the policy says so; 3xx → failed (redirects are not followed, as Azure).
"""

from __future__ import annotations

import email.utils
import hashlib
import ipaddress
import socket
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from worker.contract import Invocation
from worker.settings import WorkerSettings
from worker.targets import http_auth
from worker.targets.base import (
    Outcome,
    PermanentTargetError,
    SecretResolver,
    TemporaryTargetError,
    truncate_body,
)

LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
RETRYABLE_4XX = {408, 429}


def call_http(
    action: Mapping[str, Any], invocation: Invocation, secrets: SecretResolver, settings: WorkerSettings
) -> Outcome:
    request = action.get("request") or {}
    uri = str(request.get("uri", ""))
    if not settings.allow_link_local:
        refuse_link_local(uri)
    auth = request.get("authentication") or None
    headers = {**{str(k): str(v) for k, v in (request.get("headers") or {}).items()}, **scheduler_headers(invocation)}
    if auth and auth.get("type") == "basic":
        headers["Authorization"] = http_auth.basic_header(auth, secrets)
    elif auth and auth.get("type") == "activeDirectoryOAuth":
        headers["Authorization"] = http_auth.oauth_header(auth, secrets, settings)
    ctx = http_auth.ssl_context(auth, secrets, settings)
    body = request.get("body")
    try:
        with httpx.Client(timeout=settings.http_timeout, verify=ctx, follow_redirects=False) as client:
            answer = client.request(
                str(request.get("method", "GET")),
                uri,
                headers=headers,
                content=body.encode() if isinstance(body, str) else None,
            )
    except httpx.TimeoutException:
        raise TemporaryTargetError(f"no answer within {settings.http_timeout:g} s") from None
    except httpx.HTTPError as e:
        raise TemporaryTargetError(f"{e.__class__.__name__}: {e}") from None
    return outcome_of(answer)


def outcome_of(answer: httpx.Response) -> Outcome:
    status = answer.status_code
    message = f"HTTP {status} {answer.reason_phrase}\n{truncate_body(answer.content)}".rstrip()
    if 200 <= status < 300:
        return Outcome(ok=True, message=message)
    retryable = status >= 500 or status in RETRYABLE_4XX
    return Outcome(
        ok=False,
        message=message,
        retryable=retryable,
        retry_after=retry_after(answer.headers.get("Retry-After")) if status in (429, 503) else None,
    )


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds or as an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds()) if when.tzinfo else None


def scheduler_headers(inv: Invocation) -> dict[str, str]:
    """Idempotency key and Azure's x-ms-scheduler-* headers; tag and request id are derived from
    the attempt, so a replay of the same attempt sends the same values."""
    attempt = f"{inv.id}:{inv.phase}:{inv.attempt}"
    return {
        "Idempotency-Key": inv.id,
        "x-ms-scheduler-jobid": inv.name,
        "x-ms-scheduler-jobcollectionid": inv.collection,
        "x-ms-scheduler-expected-execution-time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(inv.expected)),
        "x-ms-scheduler-execution-tag": hashlib.sha256(attempt.encode()).hexdigest()[:32],
        "x-ms-client-request-id": str(uuid.uuid5(uuid.NAMESPACE_URL, attempt)),
        "x-ms-scheduler-execution-region": inv.region,
    }


def refuse_link_local(uri: str) -> None:
    host = urlsplit(uri).hostname
    if not host:
        raise PermanentTargetError(f"{uri!r} has no host")
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        return  # unresolvable: the request itself will fail and be retried
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        ip = ip.ipv4_mapped or ip if isinstance(ip, ipaddress.IPv6Address) else ip
        if any(ip in net for net in LINK_LOCAL):
            raise PermanentTargetError(
                f"{host} resolves to link-local address {ip} (cloud metadata range); "
                "set CRONPLANE_ALLOW_LINK_LOCAL=1 to allow it"
            )
