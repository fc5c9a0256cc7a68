"""Redis outages as the controller's long-running loops see them: backoff and one line each way.

    OUTAGE            the errors that mean "Redis is not answering": refused or reset connections,
                      a timeout on a hung server, a server still loading its AOF, a read-only
                      replica during a failover (``redis.ConnectionError`` covers the first and the
                      loading case, and Sentinel's "no master")
    Outage(role, log) one per loop (lease keeper, dispatch, sync, API): ``failed(e)`` returns the
                      seconds to wait before the next try (0.1 s doubling to ``CAP``) and logs one
                      warning when the outage starts; ``ok()`` logs one info line when it ends;
                      ``watch(ping)`` (a server answering requests, which has no loop of its
                      own) pings in a daemon thread with the same backoff until Redis answers
    client_options()  redis-py options for the controller's clients: no hidden retry loop
                      (redis-py 8 retries a failed command 10 times by default, so an outage would
                      surface tens of seconds late); one immediate retry on a connection error
                      replaces a pooled socket that a Redis restart closed

A loop that catches ``OUTAGE`` never logs a traceback for it; any other exception is a bug
and keeps its traceback. With ``CAP`` = 1 s, a loop tries again at most a second after Redis
answers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

OUTAGE: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError)
FIRST = 0.1  # seconds before the first retry
CAP = 1.0  # the longest wait between tries


def describe(e: BaseException) -> str:
    """One line: the error's class and the first line of its text (host:port, never a password)."""
    text = str(e).strip().splitlines()
    return f"{e.__class__.__name__}: {text[0][:200]}" if text else e.__class__.__name__


class Outage:
    """The state of one loop's connection: up, or down since when (thread-safe)."""

    def __init__(
        self,
        role: str,
        log: logging.Logger,
        first: float = FIRST,
        cap: float = CAP,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.role, self.log, self.first, self.cap, self.clock = role, log, first, cap, clock
        self.since: float | None = None
        self.delay = first
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, e: BaseException) -> float:
        """Record a failed try; the seconds to wait before the next one."""
        with self._lock:
            if self.since is None:
                self.since, self.delay = self.clock(), self.first
                self.log.warning(
                    "%s: Redis connection lost (%s); retrying with backoff up to %g s", self.role, describe(e), self.cap
                )
            wait, self.delay = self.delay, min(self.cap, self.delay * 2)
            return wait

    def ok(self) -> None:
        """Record a successful try (logs the end of an outage, once)."""
        if self.since is None:  # the common case: no lock
            return
        with self._lock:
            if self.since is not None:
                self.log.info("%s: Redis connection back after %.1f s", self.role, self.clock() - self.since)
                self.since = None

    def watch(self, ping: Callable[[], bool]) -> None:
        """While down, retry ``ping`` (True when Redis answers) in a daemon thread until it
        answers, then ``ok()``; at most one such thread per outage."""
        with self._lock:
            if self.since is None or self._watcher is not None:
                return
            self._watcher = threading.Thread(target=self._recover, args=(ping,), daemon=True, name="redis-watch")
            self._watcher.start()

    def _recover(self, ping: Callable[[], bool]) -> None:
        delay = self.first
        while self.down and not _answers(ping):
            time.sleep(delay)
            delay = min(self.cap, delay * 2)
        with self._lock:
            self._watcher = None
        self.ok()


def _answers(ping: Callable[[], bool]) -> bool:
    try:
        return bool(ping())
    except redis.RedisError:
        return False


def client_options(timeout: float) -> dict[str, Any]:
    """redis-py options: ``timeout`` for connecting and for each reply; one retry, only on a
    connection error (a restart closed the pooled socket), none on a timeout (a hung server)."""
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": min(timeout, 2.0),
        "retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
    }
