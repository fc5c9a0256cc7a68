"""Wiring for the long-running controller: clients, the lease keeper, sync and dispatch loops.

Two processes, so that sync work never holds the dispatch loop's GIL (design §3, "nothing
starves the lease"): the controller process runs the lease keeper and the dispatch loop (two
threads sharing one stop Event; SIGTERM/SIGINT set it) and supervises a *sync process* that
runs the sync loop with its own Redis connection and file watcher; a sync process that dies is
started again (after a second). The lease keeper renews every ``lease_renew_every`` seconds; the
dispatcher checks ``lease.held()`` before every batch and every commit is fenced by the lease
token, so a leader that cannot renew stops dispatching at once, and one that was paused past
its lease cannot write. Every controller runs the sync loop (writes are idempotent and per-job
atomic); only the lease holder dispatches.

Faults (``controller.reconnect``): every loop survives Redis going away — refused, reset, hung
or restarting — with backoff (0.1 s doubling to 1 s), one warning when its connection is lost
and one info line when it is back, and no traceback. The lease keeper has its own connection
with a short timeout (``LEASE_TIMEOUT``), so a hung server cannot hold it past a renewal.
Shutdown (SIGTERM, SIGINT): the dispatch thread is woken from its BLPOP (a ``stop`` poke), the
sync process is sent SIGTERM, the lease is released once dispatch has stopped, and one line
says so; all within ``SHUTDOWN_GRACE`` (the sync process is SIGKILLed past it: its writes are
per-job atomic).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import redis
from rq import Queue

from controller.dispatch import Dispatcher
from controller.errors import TemporaryError, UsageError
from controller.lease import Lease
from controller.reconnect import Outage, client_options
from controller.settings import ControllerSettings
from controller.sources.base import Source
from controller.state.desired import DesiredStore
from controller.state.schedule import Fence, ScheduleStore
from controller.sync import SyncLoop
from worker.redis_url import RedisUrlError, redis_from_url

log = logging.getLogger("cronplane.controller")
LEASE_TIMEOUT = 2.0  # seconds: the lease keeper's connection gives up on a reply this late
SHUTDOWN_GRACE = 0.8  # seconds from SIGTERM until the lease is released and the process exits


def connect(settings: ControllerSettings, timeout: float | None = None, check: bool = True) -> redis.Redis:
    """A connection (``timeout``: per reply; default a little above the dispatch loop's longest
    BLPOP). With ``check``, a ping first: an unreachable server is a temporary error, one line.
    A malformed URL is always a usage error."""
    options = client_options(timeout or settings.max_sleep + 5)
    try:
        client = redis_from_url(settings.redis_url, health_check_interval=30, **options)
    except RedisUrlError as e:
        raise UsageError(f"--redis-url: {e}") from None
    if check:
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
    lease_client: redis.Redis | None = None  # the lease keeper's own connection (default: ``client``)

    def __post_init__(self) -> None:
        self.owner = self.owner or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        queue = Queue(self.settings.queue, connection=self.client)
        self.sync = SyncLoop(self.source, DesiredStore(self.client, self.settings.keys, remember=True), self.settings)
        lease_client = self.lease_client or self.client
        self.lease = Lease(lease_client, self.settings.keys.lease(), self.owner, self.settings.lease_ttl)
        fence = Fence(self.settings.keys.lease(), self.owner)
        store = ScheduleStore(
            self.client, self.settings.keys, queue, self.settings.fired_ttl, self.settings.bounds, fence
        )
        self.dispatcher = Dispatcher(store, self.settings, self.lease)

    def once(self, now: datetime) -> tuple[Any, int]:
        """One sync pass and one dispatch pass as of ``now`` (scripts, tests)."""
        report = self.sync.run_pass(now)
        enqueued = self.dispatcher.run_pass(now) if self.lease.acquire_or_renew() else 0
        self.lease.release()
        return report, enqueued

    def run(self, watch_paths: tuple[str, ...] = (), poll: float | None = None) -> None:
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        settings = self.settings if not poll else replace(self.settings, resync_interval=poll)
        threads = [
            threading.Thread(target=self._keep_lease, args=(stop,), daemon=True, name="lease"),
            threading.Thread(target=self.dispatcher.run_forever, args=(stop,), daemon=True, name="dispatch"),
        ]
        for t in threads:
            t.start()
        log.info("controller %s running", self.owner)
        child = self._supervise_sync(stop, settings, watch_paths)
        self._shut_down(threads, child)

    def _supervise_sync(self, stop: threading.Event, settings: ControllerSettings, watch: tuple[str, ...]) -> Any:
        """Keep one sync process running until ``stop``; returns it (still running) for shutdown."""
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited sockets or threads
        child: Any = None
        while not stop.is_set():
            if child is None or not child.is_alive():
                if child is not None:
                    log.warning("sync process exited (code %s); starting it again", child.exitcode)
                    if stop.wait(1.0):
                        break
                child = context.Process(
                    target=sync_process, args=(settings, self.source, watch), name="cronplane-sync", daemon=True
                )
                child.start()
            stop.wait(0.5)
        return child

    def _shut_down(self, threads: list[threading.Thread], child: Any) -> None:
        """Stop everything within ``SHUTDOWN_GRACE``: wake dispatch, SIGTERM the sync process,
        release the lease once dispatch has stopped (its commits are fenced meanwhile)."""
        deadline = time.monotonic() + SHUTDOWN_GRACE
        if child is not None and child.is_alive():
            child.terminate()
        if self.lease.valid:
            self._poke("stop")  # the dispatch thread may sit in a BLPOP of up to max_sleep
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        released = self.lease.release()
        if child is not None:
            child.join(timeout=max(0.05, deadline - time.monotonic()))
            if child.is_alive():
                child.kill()
                child.join()
            _stop_resource_tracker()
        what = "lease released" if released else "it held no lease"
        log.info("controller %s stopped; %s", self.owner, what)

    def _poke(self, why: str) -> None:
        """Wake the dispatch loop (a best effort: it wakes within max_sleep anyway)."""
        try:
            self.lease.r.lpush(self.settings.keys.poke(), why)
        except redis.RedisError:
            pass

    def _keep_lease(self, stop: threading.Event) -> None:
        """Renew every ``lease_renew_every``; while Redis is unreachable, retry with backoff so
        that one controller holds the lease again within a second of Redis answering."""
        leader, outage = False, Outage("lease", log)
        while not stop.is_set():
            wait = self.settings.lease_renew_every
            try:
                now_leader = self.lease.renew()
            except redis.RedisError as e:  # unreachable, or refusing writes: this term is over
                now_leader, wait = False, outage.failed(e)
            else:
                outage.ok()
            if now_leader != leader:
                log.info("controller %s %s the dispatch lease", self.owner, "holds" if now_leader else "lost")
                leader = now_leader
                if now_leader:
                    self._poke("lease")
            stop.wait(wait)


def sync_process(settings: ControllerSettings, source: Source, watch_paths: tuple[str, ...]) -> None:
    """The sync process: the sync loop, its watcher and its memories, until SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop, poke = threading.Event(), threading.Event()

    def stopping(*_: Any) -> None:
        stop.set()
        poke.set()  # the loop sleeps on the poke: wake it now

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stopping)
    parent = os.getppid()
    threading.Thread(target=_orphaned, args=(parent, stop, poke), daemon=True).start()
    observer, changes = None, None
    if watch_paths:
        from controller.sources.watch import Changes, watch

        changes = Changes()
        observer = watch(watch_paths, poke, changes)
        # Events drive the passes; the full re-read only catches lost events (idle is idle).
        settings = replace(settings, resync_interval=max(settings.resync_interval, settings.watched_resync))
    # No ping: a Redis that is down now is an outage for the loop to wait out, not a crash.
    client = connect(settings, timeout=settings.max_sleep + 10, check=False)
    sync = SyncLoop(source, DesiredStore(client, settings.keys, remember=True), settings)
    sync.after_pass = _freeze  # the memories are long-lived: keep them out of every collection
    try:
        sync.run_forever(stop, poke, changes=changes)
    finally:
        if observer is not None:
            observer.stop()


def _stop_resource_tracker() -> None:
    """Stop (and reap) the helper process that starting the sync process started, rather than
    leave it to exit after us and wait for whoever inherits it."""
    try:
        from multiprocessing import resource_tracker

        resource_tracker._resource_tracker._stop()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ChildProcessError):  # no such helper in this Python: nothing to do
        pass


def _freeze() -> None:
    """Collect the pass's garbage, then move what survives out of the collector's sight: the
    memories of 100,000 jobs would otherwise be traversed by every full collection."""
    gc.collect()
    gc.freeze()


def _orphaned(parent: int, stop: threading.Event, poke: threading.Event) -> None:
    """Stop the sync process when the controller process is gone (even SIGKILLed)."""
    while not stop.wait(1.0):
        if os.getppid() != parent:
            stop.set()
            poke.set()


def utcnow() -> datetime:
    return datetime.now(UTC)
