"""Fencing on a real redis-server: a deposed leader — one that still believes it holds the lease
because it was paused — can never dispatch. Its commit checks the lease token atomically (the
lease key is WATCHed with the batch), so a late write fails; and with real processes, a leader
SIGSTOPped past its lease and then SIGCONTed leaves no duplicate and no gap."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue

from controller.cli import main
from controller.dispatch import Dispatcher
from controller.lease import Lease
from controller.settings import ControllerSettings
from controller.state.schedule import Fence, LeaseLost, ScheduleStore
from tests.integration.test_exactly_once import JOB, MANIFEST, controller
from tests.peers.rq_worker import wait_until

ONE = """apiVersion: cronplane/v1
kind: Job
metadata: {name: a}
spec:
  startTime: '2026-01-01T00:10:00Z'
  action: {type: http, request: {method: GET, uri: 'http://127.0.0.1:9/'}}
"""
DUE = datetime(2026, 1, 1, 0, 10, 1, tzinfo=UTC)


def setup(redis_url: str, tmp_path: Path) -> tuple[redis.Redis, ControllerSettings, Lease]:
    (tmp_path / "a.yaml").write_text(ONE)
    assert main(["apply", str(tmp_path), "--redis-url", redis_url, "--now", "2026-01-01T00:05:00Z"]) == 0
    r = redis.Redis.from_url(redis_url)
    settings = ControllerSettings(redis_url=redis_url)
    lease = Lease(r, settings.keys.lease(), "old", ttl=30)
    assert lease.acquire_or_renew() and lease.held()
    return r, settings, lease


def store_of(r: redis.Redis, settings: ControllerSettings, cls: type[ScheduleStore] = ScheduleStore) -> Any:
    queue = Queue(settings.queue, connection=r)
    return cls(r, settings.keys, queue, settings.fired_ttl, settings.bounds, Fence(settings.keys.lease(), "old"))


def nothing_dispatched(r: redis.Redis, settings: ControllerSettings) -> None:
    assert Queue(settings.queue, connection=r).job_ids == []
    assert r.keys("cp:fired:*") == []
    assert r.zscore(settings.keys.due(), "default/a") == int(datetime(2026, 1, 1, 0, 10, tzinfo=UTC).timestamp())


def test_a_deposed_leaders_commit_is_refused(redis_url: str, tmp_path: Path) -> None:
    r, settings, lease = setup(redis_url, tmp_path)
    r.set(settings.keys.lease(), "new", px=30_000)  # the old leader's lease passed to another
    assert lease.held(), "the old leader does not know yet (it was paused)"
    store = store_of(r, settings)
    assert Dispatcher(store, settings, lease).run_pass(DUE) == 0
    assert not lease.held(), "a refused commit stops the old leader at once"
    nothing_dispatched(r, settings)
    with pytest.raises(LeaseLost):  # the one-job path is fenced too
        store.enqueue(Dispatcher(store, settings)._decide(store.load(["default/a"])[0], DUE).invocations[0])
    nothing_dispatched(r, settings)


class TakeoverBeforeExec(ScheduleStore):
    """Another controller takes the lease after the token check, before EXEC (a pause there)."""

    def _watch(self, pipe: Any, *keys: str) -> None:
        super()._watch(pipe, *keys)
        self.r.set("cp:lease", "new", px=30_000)


def test_a_takeover_between_the_check_and_exec_aborts_the_commit(redis_url: str, tmp_path: Path) -> None:
    r, settings, lease = setup(redis_url, tmp_path)
    store = store_of(r, settings, TakeoverBeforeExec)
    assert Dispatcher(store, settings, lease).run_pass(DUE) == 0
    nothing_dispatched(r, settings)
    assert r.get(settings.keys.lease()) == b"new"


@pytest.mark.slow
def test_a_leader_stopped_past_its_lease_never_dispatches_again(redis_url: str, tmp_path: Path) -> None:
    """SIGSTOP the leader of two real controllers, let the standby take over, SIGCONT it: every
    per-second occurrence in the window is enqueued exactly once."""
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "tick.yaml").write_text(MANIFEST + "".join(JOB.format(name=f"j{i}") for i in range(3)))
    r = redis.Redis.from_url(redis_url)
    a = controller(redis_url, tmp_path / "m", "a", tmp_path / "a.log")
    wait_until(lambda: r.get("cp:lease") == b"a", timeout=20)
    b = controller(redis_url, tmp_path / "m", "b", tmp_path / "b.log")
    try:
        time.sleep(3)
        a.signal(signal.SIGSTOP)  # a stop-the-world pause, lease held
        wait_until(lambda: r.get("cp:lease") == b"b", timeout=15)
        time.sleep(2)
        a.signal(signal.SIGCONT)  # the old leader wakes up believing nothing happened
        time.sleep(4)
        end = time.time() - 2
        assert r.get("cp:lease") == b"b", "the standby keeps the lease"
    finally:
        for p in (a, b):
            p.signal(signal.SIGCONT)
            p.stop()
    ids = Queue("cronplane", connection=r).job_ids
    assert len(ids) == len(set(ids)), "an occurrence was enqueued twice"
    for job in ("j0", "j1", "j2"):
        epochs = sorted(int(i.rsplit("-", 1)[1]) for i in ids if i.startswith(f"tick_{job}-"))
        assert epochs and epochs == list(range(epochs[0], epochs[-1] + 1)), f"{job}: gap or duplicate in {epochs}"
        assert epochs[-1] >= int(end), f"{job}: occurrences up to the end of the window are missing"
