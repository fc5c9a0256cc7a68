"""SIGTERM / SIGINT to real ``cronplane worker`` processes: the worker stops claiming, lets its
invocations finish within ``--grace``, hands back what still runs (requeued under the same id at
the front of the queue, an ``interrupted`` history entry: another worker takes it at once), and
exits 0 with one line. A pool forwards the signal to its processes and waits for them."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.integration.test_worker_http import history, http, invocation
from tests.integration.worker_procs import ended, enqueue, start_worker, stop
from tests.peers.recording_http import RecordingTarget
from tests.peers.rq_worker import wait_until


@pytest.fixture
def target() -> Iterator[RecordingTarget]:
    peer = RecordingTarget().start()
    yield peer
    peer.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_lets_the_invocation_in_flight_finish(
    sig: signal.Signals, redis_url: str, redis_client: redis.Redis, target: RecordingTarget, tmp_path: Path
) -> None:
    log = tmp_path / "w.log"
    worker = start_worker(redis_url, "stop-a", log, "--processes", "1", "--grace", "10")
    try:
        wait_until(lambda: redis_client.scard("rq:workers") >= 1, timeout=30)
        inv = invocation(http(target.url("/first-slow/2")))
        enqueue(redis_url, inv)
        wait_until(lambda: target.requests, timeout=30)
        worker.send_signal(sig)
        signalled = time.monotonic()
        assert ended(worker, 15) == 0
        took = time.monotonic() - signalled
    finally:
        stop(worker)
    assert took < 8, took  # the call's last ~2 s, not the whole 10 s grace
    [entry] = history(redis_client)
    assert entry.status == "completed" and target.keys() == [inv.id]
    text = log.read_text()
    assert "Traceback" not in text
    stopped = [line for line in text.splitlines() if ": stopped;" in line]
    assert len(stopped) == 1 and "1 invocations finished during the grace, none handed back" in stopped[0], text
    assert redis_client.scard("rq:workers") == 0  # registered its death


def test_past_the_grace_the_invocation_is_handed_back_and_taken_at_once(
    redis_url: str, redis_client: redis.Redis, target: RecordingTarget, tmp_path: Path
) -> None:
    a = start_worker(redis_url, "stop-b", tmp_path / "a.log", "--processes", "1", "--grace", "1")
    b = None
    try:
        wait_until(lambda: redis_client.scard("rq:workers") >= 1, timeout=30)
        inv = invocation(http(target.url("/first-slow/120")))
        enqueue(redis_url, inv)
        wait_until(lambda: target.requests, timeout=30)
        b = start_worker(redis_url, "stop-c", tmp_path / "b.log", "--processes", "1")  # idle, waiting for work
        wait_until(lambda: redis_client.scard("rq:workers") >= 2, timeout=30)
        a.send_signal(signal.SIGTERM)
        grace_over = time.time() + 1
        assert ended(a, 15) == 0
        wait_until(lambda: len(history(redis_client)) >= 2, timeout=30)
        taken = target.requests[1].at - grace_over
    finally:
        stop(a)
        if b is not None:
            stop(b)
    print(f"\nend of the grace -> called by another worker {taken:.2f} s later")
    entries = sorted(history(redis_client), key=lambda e: e.start_time)
    assert [(e.status, e.retry_count) for e in entries] == [("interrupted", 0), ("completed", 0)]
    assert "handed back" in entries[0].message and "grace 1 s" in entries[0].message
    assert target.keys() == [inv.id, inv.id]
    assert redis_client.hget(f"rq:job:{inv.id}", "retries_left") == "3"  # a hand-back uses no retry
    assert redis_client.hget(f"rq:job:{inv.id}", "worker_name") == "stop-c"
    assert taken < 5, taken  # at once (the next claim), not after a heartbeat lapse (~10 s)
    text = (tmp_path / "a.log").read_text()
    assert "Traceback" not in text and "0 invocations finished during the grace, 1 handed back" in text


def test_a_pool_forwards_the_signal_and_waits_for_its_processes(
    redis_url: str, redis_client: redis.Redis, target: RecordingTarget, tmp_path: Path
) -> None:
    log = tmp_path / "pool.log"
    pool = start_worker(redis_url, "pool", log, "--processes", "2", "--grace", "10")
    try:
        wait_until(lambda: redis_client.scard("rq:workers") >= 2, timeout=30)
        invs = [invocation(http(target.url("/first-slow/2")), name=f"j{i}") for i in range(4)]
        for inv in invs:
            enqueue(redis_url, inv)
        wait_until(lambda: len(target.requests) >= 4, timeout=30)
        pool.send_signal(signal.SIGTERM)
        assert ended(pool, 20) == 0
    finally:
        stop(pool)
    assert all(history(redis_client, inv.job)[0].status == "completed" for inv in invs)
    text = log.read_text()
    assert "Traceback" not in text
    assert len([line for line in text.splitlines() if ": stopped;" in line]) == 2, text
    assert redis_client.scard("rq:workers") == 0
