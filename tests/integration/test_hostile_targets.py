"""Hostile HTTP targets against a real ``cronplane worker`` process (tests/peers/hostile_http.py).

One worker (one process, so its RSS is the whole worker) runs every misbehaviour at once, with a
2 s attempt timeout: a target that never answers, refuses, resets mid-answer, drips its headers
or its body byte by byte, answers 500, 429 with ``Retry-After``, a redirect, or a 1 GB body.
Each attempt follows the retry policy, history has exactly one entry per attempt with the right
status and message, no attempt outlives the attempt deadline, and the worker's memory stays
bounded while five 1 GB bodies arrive at once.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import psutil
import pytest
import redis

from tests.integration.test_worker_http import KEYS, enqueue, history, http, invocation
from tests.peers.hostile_http import HostileTarget
from tests.peers.ports import stop_process
from tests.peers.rq_worker import ROOT, wait_until, worker_env
from worker.contract import HistoryEntry, RetryPolicy

TIMEOUT = 2.0  # CRONPLANE_HTTP_TIMEOUT: the whole attempt's deadline
SLACK = 2.5  # how much later than the deadline an attempt may end on a loaded 2-core machine
RSS_BOUND = 250 * 2**20  # generous: five buffered 1 GB bodies would be 5 GiB
ONCE = RetryPolicy("fixed", 1.0, 1)  # two attempts, 1 s apart
TWICE = RetryPolicy("fixed", 1.0, 2)


@pytest.fixture
def target() -> Iterator[HostileTarget]:
    peer = HostileTarget(hold=30).start()
    yield peer
    peer.stop()


@contextmanager
def worker_process(redis_url: str, log: Path) -> Iterator[psutil.Process]:
    """A real ``cronplane worker`` with one process (so psutil sees all of its memory)."""
    env = worker_env(redis_url, {"CRONPLANE_HTTP_TIMEOUT": str(TIMEOUT)})
    args = [sys.executable, "-m", "controller.cli", "worker", "--processes", "1", "--redis-url", redis_url]
    with log.open("wb") as sink:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield psutil.Process(proc.pid)
    finally:
        stop_process(proc, timeout=20)


class PeakRss:
    """Samples a process tree's resident memory every 50 ms in a thread."""

    def __init__(self, proc: psutil.Process):
        self.proc, self.peak, self._stop = proc, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                return


def seconds(entry: HistoryEntry) -> float:
    return instant(entry.end_time) - instant(entry.start_time)


def instant(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# name → (path, retry policy, expected (status, retryCount) per attempt, message pattern)
CASES: dict[str, tuple[str | None, RetryPolicy, list[tuple[str, int]], str]] = {
    "timeout": ("/timeout", ONCE, [("failed", 0), ("failed", 1)], f"no answer within {TIMEOUT:g} s"),
    "refused": (None, ONCE, [("failed", 0), ("failed", 1)], "ClientConnectorError"),
    "reset": ("/reset", ONCE, [("failed", 0), ("failed", 1)], "Connection reset|ServerDisconnectedError"),
    "slow-body": ("/slow", ONCE, [("failed", 0), ("failed", 1)], f"no answer within {TIMEOUT:g} s"),
    "slow-head": ("/drip", ONCE, [("failed", 0), ("failed", 1)], f"no answer within {TIMEOUT:g} s"),
    "error-500": ("/status/500", TWICE, [("failed", 0), ("failed", 1), ("failed", 2)], "HTTP 500"),
    "busy-429": ("/retry-after/3", ONCE, [("failed", 0), ("failed", 1)], "HTTP 429"),
    "redirect": ("/redirect", TWICE, [("failed", 0)], "HTTP 302"),
    "not-found": ("/status/404", TWICE, [("failed", 0)], "HTTP 404"),
}
HUGE = [f"huge-{i}" for i in range(5)]


def test_hostile_targets_follow_the_retry_policy_with_exact_history_and_bounded_memory(
    redis_url: str, redis_client: redis.Redis, target: HostileTarget, tmp_path: Path
) -> None:
    for name, (path, policy, _, _) in CASES.items():
        uri = target.url(path) if path else HostileTarget.refused_url()
        enqueue(redis_url, invocation(http(uri, "GET"), name=name, retry=policy))
    for name in HUGE:
        enqueue(redis_url, invocation(http(target.url("/huge"), "GET"), name=name, retry=ONCE))
    log = tmp_path / "worker.log"
    started = time.monotonic()
    with worker_process(redis_url, log) as proc, PeakRss(proc) as rss:

        def done() -> bool:
            return all(len(history(redis_client, f"c1/{n}")) == len(c[2]) for n, c in CASES.items()) and all(
                history(redis_client, f"c1/{n}") for n in HUGE
            )

        wait_until(done, timeout=90)
        time.sleep(1.5)  # a retry scheduled in error would show up now
        assert proc.is_running()
        assert not redis_client.zrange(KEYS.prefix + ":retries:cronplane", 0, -1)  # nothing left pending
    elapsed = time.monotonic() - started
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]

    for name, (path, _, expected, fragment) in CASES.items():
        entries = sorted(history(redis_client, f"c1/{name}"), key=lambda e: e.start_time)
        assert [(e.status, e.retry_count) for e in entries] == expected, (name, entries)
        for e in entries:
            assert re.search(fragment, e.message), (name, e.message)
            assert seconds(e) < TIMEOUT + SLACK, (name, seconds(e))  # no attempt outlives its deadline
        if fragment.startswith("no answer"):
            assert all(seconds(e) >= TIMEOUT - 0.1 for e in entries), name
        if path:  # every attempt of one occurrence carries the occurrence's key
            keys = {k for k in target.keys(path) if k and k.startswith(f"c1_{name}-")}
            assert keys == {f"c1_{name}-1700000000"}, (name, target.keys(path))
    busy = sorted(history(redis_client, "c1/busy-429"), key=lambda e: e.start_time)
    assert instant(busy[1].start_time) - instant(busy[0].end_time) >= 3.0 - 0.01  # Retry-After, not 1 s
    assert "/ok" not in [r.path for r in target.requests]  # the redirect was not followed

    for name in HUGE:
        [entry] = history(redis_client, f"c1/{name}")
        assert entry.status == "completed" and entry.message.startswith("HTTP 200")
        assert len(entry.message.encode()) <= 2048 + 40
    print(f"worker peak RSS {rss.peak / 2**20:.0f} MiB, {elapsed:.1f} s")
    assert 0 < rss.peak < RSS_BOUND, rss.peak
    assert elapsed < 60, elapsed  # nothing waited for the peer's 30 s hold
