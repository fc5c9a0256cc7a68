"""Request limits, so that no client can exhaust the server: size and rate (ASGI middleware).

- **Size**: a body over ``max_body`` bytes is refused with 413, by its Content-Length before
  anything is read, or as soon as a chunked body grows past the limit.
- **Rate**: a token bucket per client address (``rate`` requests a second, bursts of ``burst``);
  writes cost ``write_cost`` tokens. An exhausted bucket answers 429 with Retry-After. Buckets
  are bounded in number (the least recently seen are forgotten).

uvicorn adds a cap on concurrent connections (``limit_concurrency``) and keep-alive timeouts.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
MAX_BUCKETS = 10_000
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UNLIMITED_PATHS = ("/healthz", "/readyz")


@dataclass(frozen=True)
class Limits:
    max_body: int = 64 * 1024
    rate: float = 50.0
    burst: float = 200.0
    write_cost: float = 5.0


class RateLimiter:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.lock = threading.Lock()

    def take(self, client: str, cost: float) -> float:
        """0 when allowed, else the seconds to wait."""
        with self.lock:
            now = self.clock()
            tokens, seen = self.buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - seen) * self.rate)
            wait = 0.0
            if tokens >= cost:
                tokens -= cost
            else:
                wait = (cost - tokens) / self.rate
            self.buckets[client] = (tokens, now)
            while len(self.buckets) > MAX_BUCKETS:
                self.buckets.popitem(last=False)
            return wait


class _TooLarge(Exception):
    pass


class LimitsMiddleware:
    def __init__(self, app: ASGIApp, limits: Limits):
        self.app, self.limits = app, limits
        self.limiter = RateLimiter(limits.rate, limits.burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("?", 0))[0]
        cost = self.limits.write_cost if scope["method"] in WRITES else 1.0
        wait = self.limiter.take(client, cost)
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            await _error(send, 429, "TooManyRequests", f"rate limit exceeded; retry in {retry} s", retry)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limits.max_body):
            await _error(send, 413, "RequestTooLarge", f"the request body is larger than {self.limits.max_body} bytes")
            return
        await self._guarded(scope, receive, send)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limits.max_body:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _error(
                    send, 413, "RequestTooLarge", f"the request body is larger than {self.limits.max_body} bytes"
                )


async def _error(send: Send, status: int, code: str, message: str, retry_after: str | None = None) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after:
        headers.append((b"retry-after", retry_after.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
