"""Wiring for the long-running controller: clients, the lease keeper, sync and dispatch loops.

Threads share one stop Event; SIGTERM/SIGINT set it. The lease keeper renews every
``lease_renew_every`` seconds; the dispatcher checks ``lease.held()`` before every enqueue, so a
leader that cannot renew stops dispatching at once. Every controller runs the sync loop (writes
are idempotent and per-job atomic); only the lease holder dispatches.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from rq import Queue

from controller.dispatch import Dispatcher
from controller.errors import TemporaryError, UsageError
from controller.lease import Lease
from controller.settings import ControllerSettings
from controller.sources.base import Source
from controller.state.desired import DesiredStore
from controller.state.schedule import ScheduleStore
from controller.sync import SyncLoop

log = logging.getLogger("cronplane.controller")


def connect(settings: ControllerSettings) -> redis.Redis:
    """A checked connection: a malformed URL is a usage error, an unreachable server a temporary one."""
    try:
        client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=settings.max_sleep + 10, health_check_interval=30
        )
    except ValueError as e:
        raise UsageError(f"--redis-url: {settings.redis_url!r} is not a Redis URL ({e})") from None
    try:
        client.ping()
    except redis.RedisError as e:
        raise TemporaryError(f"cannot reach Redis at {settings.redis_url}: {e.__class__.__name__}") from None
    return client


@dataclass
class Controller:
    settings: ControllerSettings
    client: redis.Redis
    source: Source
    owner: str = ""

    def __post_init__(self) -> None:
        self.owner = self.owner or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        queue = Queue(self.settings.queue, connection=self.client)
        self.sync = SyncLoop(self.source, DesiredStore(self.client, self.settings.keys, remember=True), self.settings)
        self.lease = Lease(self.client, self.settings.keys.lease(), self.owner, self.settings.lease_ttl)
        store = ScheduleStore(self.client, self.settings.keys, queue, self.settings.fired_ttl, self.settings.bounds)
        self.dispatcher = Dispatcher(store, self.settings, self.lease)

    def once(self, now: datetime) -> tuple[Any, int]:
        """One sync pass and one dispatch pass as of ``now`` (scripts, tests)."""
        report = self.sync.run_pass(now)
        enqueued = self.dispatcher.run_pass(now) if self.lease.acquire_or_renew() else 0
        self.lease.release()
        return report, enqueued

    def run(self, watch_paths: tuple[str, ...] = (), poll: float | None = None) -> None:
        stop, poke = threading.Event(), threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        observer = None
        if watch_paths:
            from controller.sources.watch import watch

            observer = watch(watch_paths, poke)
        settings = self.settings
        if poll:
            from dataclasses import replace

            self.sync.settings = replace(settings, resync_interval=poll)
        threads = [
            threading.Thread(target=self.sync.run_forever, args=(stop, poke), daemon=True),
            threading.Thread(target=self._keep_lease, args=(stop,), daemon=True),
            threading.Thread(target=self.dispatcher.run_forever, args=(stop,), daemon=True),
        ]
        for t in threads:
            t.start()
        log.info("controller %s running", self.owner)
        while not stop.is_set():
            stop.wait(0.5)
        if observer is not None:
            observer.stop()
        self.lease.release()
        for t in threads:
            t.join(timeout=settings.max_sleep + 2)

    def _keep_lease(self, stop: threading.Event) -> None:
        leader = False
        while not stop.is_set():
            now_leader = self.lease.acquire_or_renew()
            if now_leader != leader:
                log.info("controller %s %s the dispatch lease", self.owner, "holds" if now_leader else "lost")
                leader = now_leader
                if now_leader:
                    self.client.lpush(self.settings.keys.poke(), "lease")
            stop.wait(self.settings.lease_renew_every)


def utcnow() -> datetime:
    return datetime.now(UTC)
