"""Keyed concurrency limits of one worker process: excess attempts wait, none is dropped.

Two limits apply to every attempt, acquired in this order before the attempt's deadline starts
(so waiting never times an attempt out):

1. the invocation's own, ``maxConcurrentCalls`` from the job or else its collection
   (``Invocation.max_concurrency`` under ``Invocation.concurrency_key``);
2. the target host's (``host:port`` of an HTTP action): ``CRONPLANE_HOST_CONCURRENCY``, or
   ``CRONPLANE_HOST_LIMITS`` for the hosts named there.

Both are per worker process (P processes allow P x the limit): an ``asyncio.Semaphore`` per key,
created on first use and forgotten when nobody holds or waits for it, so the table stays as
small as the set of keys in use. A key whose limit changes (an edited manifest) gets a new
semaphore; attempts still holding the old one finish under it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from worker.contract import Invocation


class KeyedLimiter:
    def __init__(self) -> None:
        self._slots: dict[tuple[str, int], tuple[asyncio.Semaphore, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, key: str, limit: int) -> AsyncIterator[None]:
        slot = self._slots.get((key, limit))
        if slot is None:
            slot = self._slots[(key, limit)] = (asyncio.Semaphore(limit), [0])
        semaphore, users = slot
        users[0] += 1
        try:
            async with semaphore:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._slots[(key, limit)]

    def __len__(self) -> int:
        return len(self._slots)


def host_of(action: Mapping[str, Any]) -> str | None:
    """``host:port`` of an HTTP(S) action (what the per-host limit counts); None for the others."""
    request = action.get("request")
    if not isinstance(request, Mapping):
        return None
    try:
        parts = urlsplit(str(request.get("uri", "")))
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return f"{parts.hostname}:{port or (443 if parts.scheme == 'https' else 80)}"


class Slots:
    """``slots(action, invocation)``: hold both limits for one attempt."""

    def __init__(self, host_limit: Callable[[str], int]):
        self.calls, self.hosts, self.host_limit = KeyedLimiter(), KeyedLimiter(), host_limit

    @asynccontextmanager
    async def __call__(self, action: Mapping[str, Any], inv: Invocation) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if inv.max_concurrency and inv.concurrency_key:
                await stack.enter_async_context(self.calls.hold(inv.concurrency_key, inv.max_concurrency))
            host = host_of(action)
            if host is not None:
                await stack.enter_async_context(self.hosts.hold(host, self.host_limit(host)))
            yield
