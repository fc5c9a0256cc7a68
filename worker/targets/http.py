"""HTTP/HTTPS actions: one request per attempt on the process's keep-alive session; success = 2xx.

Every request carries ``Idempotency-Key`` (the invocation id for the main action,
``<id>-error`` for the error action: ``worker.attempts.idempotency_key``), so a replay of the same
occurrence, e.g. after a worker crash, can be recognised by the target, and Azure's scheduler
headers (reference §7.1). Targets that resolve to link-local addresses (169.254.0.0/16, fe80::/10:
cloud metadata endpoints) are refused unless ``settings.allow_link_local``. Answers are classified
by ``worker.targets.errors``; redirects are not followed (as Azure). At most ``MAX_BODY_BYTES``
of a body are kept (a 1 GB answer is never buffered: the rest is not read, the connection is
closed instead of drained); the credentials the request carried are redacted from it, so a target
that echoes its request cannot put them into history.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import socket
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from worker.attempts import idempotency_key
from worker.contract import Invocation
from worker.targets import http_auth
from worker.targets.base import MAX_BODY_BYTES, Outcome, PermanentTargetError, TargetContext, truncate_body
from worker.targets.errors import classify, retry_after, status_retryable

ECHO_MARGIN = 512  # bytes read past the kept 2,048, so a secret echoed across the cut is redacted whole
REDACTED = b"[redacted]"
LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))


async def call_http(action: Mapping[str, Any], invocation: Invocation, ctx: TargetContext) -> Outcome:
    request = action.get("request") or {}
    uri = str(request.get("uri", ""))
    settings = ctx.settings
    try:
        await checked_host(uri, settings.allow_link_local)
        headers = await request_headers(request, invocation, ctx)
        ssl_ctx = http_auth.ssl_context(request.get("authentication") or None, ctx.secrets, settings)
        body = request.get("body")
        async with ctx.http_session().request(
            str(request.get("method", "GET")),
            uri,
            headers=headers,
            data=body.encode() if isinstance(body, str) else None,
            ssl=ssl_ctx,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=settings.http_timeout),
        ) as answer:
            content = redact(await read_capped(answer.content, MAX_BODY_BYTES + ECHO_MARGIN), credentials(headers))
            return outcome_of(answer.status, answer.reason or "", answer.headers.get("Retry-After"), content)
    except Exception as e:
        raise classify(e, uri, settings.http_timeout) from None


async def request_headers(request: Mapping[str, Any], inv: Invocation, ctx: TargetContext) -> dict[str, str]:
    headers = {str(k): str(v) for k, v in (request.get("headers") or {}).items()}
    headers.update(scheduler_headers(inv))
    auth = request.get("authentication") or None
    if auth and auth.get("type") == "basic":
        headers["Authorization"] = http_auth.basic_header(auth, ctx.secrets)
    elif auth and auth.get("type") == "activeDirectoryOAuth":
        headers["Authorization"] = await http_auth.oauth_header(auth, ctx)
    return headers


def credentials(headers: Mapping[str, str]) -> list[bytes]:
    """What this request sent that is a secret: the Authorization value, its credentials part and,
    for Basic, the password itself (a target that echoes requests must not put them in history)."""
    value = headers.get("Authorization")
    if not value:
        return []
    scheme, _, cred = value.partition(" ")
    found = [value, cred]
    if scheme.lower() == "basic":
        try:
            found.append(base64.b64decode(cred).decode().partition(":")[2])
        except ValueError:
            pass
    return [s.encode() for s in found if len(s) >= 4]


def redact(content: bytes, secrets: list[bytes]) -> bytes:
    for secret in sorted(secrets, key=len, reverse=True):
        content = content.replace(secret, REDACTED)
    return content


async def read_capped(stream: aiohttp.StreamReader, limit: int = MAX_BODY_BYTES) -> bytes:
    """At most ``limit`` bytes of the body; the rest is never read (the connection is closed)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def outcome_of(status: int, reason: str, retry_after_header: str | None, content: bytes) -> Outcome:
    message = f"HTTP {status} {reason}\n{truncate_body(content)}".rstrip()
    if 200 <= status < 300:
        return Outcome(ok=True, message=message)
    delay = retry_after(retry_after_header) if status in (429, 503) else None
    return Outcome(ok=False, message=message, retryable=status_retryable(status), retry_after=delay)


def scheduler_headers(inv: Invocation) -> dict[str, str]:
    """Idempotency key and Azure's x-ms-scheduler-* headers; tag and request id are derived from
    the attempt, so a replay of the same attempt sends the same values."""
    attempt = f"{inv.id}:{inv.phase}:{inv.attempt}"
    return {
        "Idempotency-Key": idempotency_key(inv),
        "x-ms-scheduler-jobid": inv.name,
        "x-ms-scheduler-jobcollectionid": inv.collection,
        "x-ms-scheduler-expected-execution-time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(inv.expected)),
        "x-ms-scheduler-execution-tag": hashlib.sha256(attempt.encode()).hexdigest()[:32],
        "x-ms-client-request-id": str(uuid.uuid5(uuid.NAMESPACE_URL, attempt)),
        "x-ms-scheduler-execution-region": inv.region,
    }


async def checked_host(uri: str, allow_link_local: bool) -> None:
    """Refuses a uri without a host, and link-local targets."""
    parts = urlsplit(uri)
    if not parts.hostname:
        raise PermanentTargetError(f"{uri!r} has no host")
    if not allow_link_local:
        await refuse_link_local(parts.hostname)


async def refuse_link_local(host: str) -> None:
    try:
        addresses = {str(ipaddress.ip_address(host))}
    except ValueError:  # a name: resolve it off the event loop
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None)
        except socket.gaierror:
            return  # unresolvable: the request itself will fail and be retried
        addresses = {str(info[4][0]) for info in infos}
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        ip = ip.ipv4_mapped or ip if isinstance(ip, ipaddress.IPv6Address) else ip
        if any(ip in net for net in LINK_LOCAL):
            raise PermanentTargetError(
                f"{host} resolves to link-local address {ip} (cloud metadata range); "
                "set CRONPLANE_ALLOW_LINK_LOCAL=1 to allow it"
            )
