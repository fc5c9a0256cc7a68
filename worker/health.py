"""Whether the worker can reach Redis, and how it waits while it cannot.

Every Redis call of the worker's engine (claims, batch commits, heartbeats, the abandoned-job
check, RQ's maintenance and its pubsub thread) reports here. The link logs **one** warning when
the first call fails and **one** line when a call succeeds again, whatever the number of callers
and retries in between; callers retry with a bounded exponential backoff (``Backoff``: 50 ms
doubling up to 1 s), so work resumes within about a second of Redis answering again.

Transient (wait and retry): connection refused or reset, timeouts (a hung server), Redis loading
its data after a restart, a master demoted to replica (a failover). Everything else is a bug or
a permanent error and propagates.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis

T = TypeVar("T")
TRANSIENT: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,  # refused, reset, BusyLoading, MasterNotFound, demoted master
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
    OSError,
)
BACKOFF_FIRST = 0.05
BACKOFF_CAP = 1.0


class Backoff:
    """50 ms, 100 ms, 200 ms ... capped at 1 s; ``reset`` after a success."""

    def __init__(self, first: float = BACKOFF_FIRST, cap: float = BACKOFF_CAP):
        self.first, self.cap, self._next = first, cap, first

    def next(self) -> float:
        delay, self._next = self._next, min(self.cap, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.first


class RedisLink:
    """The worker's view of its Redis connection; thread-safe (the pubsub and maintenance threads
    report too)."""

    def __init__(self, name: str, log: logging.Logger, clock: Callable[[], float] = time.monotonic):
        self.name, self.log, self.clock = name, log, clock
        self.down_since: float | None = None
        self.up_since = clock()  # when the worker started or last got Redis back
        self._lock = threading.Lock()

    @property
    def up(self) -> bool:
        return self.down_since is None

    def lost(self, error: BaseException) -> None:
        with self._lock:
            if self.down_since is not None:
                return
            self.down_since = self.clock()
        detail = str(error).splitlines()[0] if str(error) else ""
        self.log.warning(
            "Worker %s: lost Redis (%s%s); retrying, no work is lost",
            self.name,
            error.__class__.__name__,
            f": {detail}" if detail else "",
        )

    def ok(self) -> None:
        if self.down_since is None:  # the hot path: one attribute read
            return
        with self._lock:
            if self.down_since is None:
                return
            seconds, self.down_since = self.clock() - self.down_since, None
            self.up_since = self.clock()
        self.log.warning("Worker %s: Redis is back (its calls failed for %.1f s)", self.name, seconds)

    def settled(self, seconds: float) -> bool:
        """Redis has answered for at least ``seconds`` (since start or the last outage)."""
        return self.down_since is None and self.clock() - self.up_since >= seconds

    async def call(self, op: Callable[[], Awaitable[T]], stop: Callable[[], bool] = lambda: False) -> T:
        """``await op()`` until it does not fail transiently; raises ``Unreachable`` if ``stop()``
        turns true while Redis is away."""
        backoff = Backoff()
        while True:
            try:
                result = await op()
            except TRANSIENT as e:
                self.lost(e)
                if stop():
                    raise Unreachable(str(e)) from e
                await asyncio.sleep(backoff.next())
                continue
            self.ok()
            return result


class Unreachable(Exception):
    """Redis did not come back before the caller gave up (a shutdown during an outage)."""


def wait_for(ping: Callable[[], object], link: RedisLink) -> None:
    """Block until ``ping()`` answers (a process started while Redis is away waits for it)."""
    backoff = Backoff()
    while True:
        try:
            ping()
        except TRANSIENT as e:
            link.lost(e)
            time.sleep(backoff.next())
            continue
        link.ok()
        return
