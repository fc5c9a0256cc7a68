"""Real ``cronplane worker`` processes against a Redis that goes away: restarted on the same port
and AOF data, refusing connections for longer than a heartbeat TTL, or hung (SIGSTOP). The worker
never dies, logs one line when Redis is lost and one when it is back (no traceback), resumes within
about a second of Redis answering (claims, and the retries that fell due meanwhile), and loses or
doubles nothing: an attempt that ends during the outage is recorded once when Redis is back, and
a call in flight across the outage is not taken by another worker. And a worker on a
``redis+sentinel://`` URL keeps working across ``SENTINEL FAILOVER``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from rq import Queue
from rq.command import send_shutdown_command
from rq.worker import SimpleWorker

from tests.integration.test_worker_http import history, http, invocation, write_desired
from tests.integration.worker_procs import ended, enqueue, start_worker, stop
from tests.peers.recording_http import RecordingTarget
from tests.peers.redis_server import RedisServer
from tests.peers.rq_worker import wait_until
from tests.peers.sentinel import SentinelDeployment
from worker.batch import Batcher, Recorder
from worker.contract import TASK, Keys, RetryPolicy
from worker.health import RedisLink
from worker.redis_url import redis_from_url

KEYS = Keys()
RESUME_GOAL = 2.0  # seconds from Redis answering to the work going on
RESUME_LIMIT = 5.0  # the goal plus a tolerance for a loaded 2-core machine
OUTAGE = float(os.environ.get("CRONPLANE_TEST_OUTAGE", "10"))  # > the heartbeat TTL (8 s); 30 for the outage


@pytest.fixture
def target() -> Iterator[RecordingTarget]:
    peer = RecordingTarget().start()
    yield peer
    peer.stop()


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    yield server
    server.resume()
    server.stop()


def client_of(server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url, decode_responses=True)


def assert_one_outage(log: Path) -> None:
    text = log.read_text()
    assert "Traceback" not in text, text
    assert text.count("lost Redis") == 1, text
    assert text.count("Redis is back") == 1, text


def test_a_restart_on_the_same_data_loses_nothing_and_retries_resume(
    aof_redis: RedisServer, target: RecordingTarget, tmp_path: Path
) -> None:
    url, log = aof_redis.url, tmp_path / "w.log"
    worker = start_worker(url, "out-a", log, "--processes", "1")
    try:
        wait_until(lambda: client_of(aof_redis).scard("rq:workers") >= 1, timeout=30)
        flaky = invocation(http(target.url("/fail-once")), name="flaky", retry=RetryPolicy("fixed", 2.0, 1))
        slow = invocation(http(target.url("/first-slow/3")), name="slow")
        enqueue(url, flaky)
        enqueue(url, slow)
        wait_until(lambda: len(target.requests) >= 2 and history(client_of(aof_redis), flaky.job), timeout=30)
        aof_redis.outage_stop()  # the slow call is in flight; the flaky retry falls due meanwhile
        time.sleep(4)
        assert worker.poll() is None
        aof_redis.outage_start()
        back = time.time()
        wait_until(lambda: len([r for r in target.requests if r.key == flaky.id]) >= 2, timeout=30, every=0.05)
        retried = [r for r in target.requests if r.key == flaky.id][1].at - back
        after = invocation(http(target.url("/ok")), name="after")
        enqueue(url, after)
        c = client_of(aof_redis)
        wait_until(lambda: history(c, after.job) and len(history(c, flaky.job)) >= 2 and history(c, slow.job))
        # RQ's command thread survived too: it resubscribed, and a command reaches the worker
        wait_until(lambda: c.pubsub_numsub("rq:pubsub:out-a")[0][1] >= 1, timeout=RESUME_LIMIT)
        send_shutdown_command(redis.Redis.from_url(url), "out-a")
        assert ended(worker, 15) == 0
    finally:
        stop(worker)
    print(f"\nRedis restarted -> the due retry ran {retried:.2f} s later (goal {RESUME_GOAL:.0f} s)")
    assert retried < RESUME_LIMIT
    c = client_of(aof_redis)
    assert [e.status for e in history(c, slow.job)] == ["completed"]  # ended during the outage: held, then written
    assert c.hget(KEYS.status(slow.job), "executionCount") == "1"
    assert [r.key for r in target.requests].count(slow.id) == 1
    assert sorted(e.status for e in history(c, flaky.job)) == ["completed", "failed"]
    assert_one_outage(log)


def test_an_outage_longer_than_a_heartbeat_ttl_takes_no_call_in_flight(
    aof_redis: RedisServer, target: RecordingTarget, tmp_path: Path
) -> None:
    """Two workers; one has a call in flight across a refused-connection outage longer than the
    heartbeat TTL. Once Redis is back, its owner heartbeats it at once and the other worker (which
    waits a TTL after an outage before judging jobs abandoned) leaves it alone."""
    url = aof_redis.url
    a = start_worker(url, "out-b", tmp_path / "a.log", "--processes", "1")
    b = start_worker(url, "out-c", tmp_path / "b.log", "--processes", "1")
    try:
        wait_until(lambda: client_of(aof_redis).scard("rq:workers") >= 2, timeout=30)
        time.sleep(9)  # both settled: their abandoned checks run
        slow = invocation(http(target.url(f"/first-slow/{OUTAGE + 4:g}")), name="slow")
        enqueue(url, slow)
        wait_until(lambda: target.requests, timeout=30)
        aof_redis.outage_stop()
        time.sleep(OUTAGE)
        assert a.poll() is None and b.poll() is None
        aof_redis.outage_start()
        wait_until(lambda: history(client_of(aof_redis), slow.job), timeout=60)
        time.sleep(3)
        after = invocation(http(target.url("/ok")), name="after")
        enqueue(url, after)
        wait_until(lambda: history(client_of(aof_redis), after.job), timeout=10)
    finally:
        stop(a)
        stop(b)
    assert [e.status for e in history(client_of(aof_redis), slow.job)] == ["completed"]
    assert target.keys().count(slow.id) == 1
    for log in (tmp_path / "a.log", tmp_path / "b.log"):
        assert_one_outage(log)


def test_a_hung_redis_is_waited_for_and_nothing_is_doubled(
    aof_redis: RedisServer, target: RecordingTarget, tmp_path: Path
) -> None:
    """SIGSTOP: connections open but nothing answers. Commands time out (5 s), the batch of a call
    that ended meanwhile is sent again, and its token keeps the first copy (which the server
    still runs when it resumes) from being applied twice."""
    url, log = aof_redis.url, tmp_path / "w.log"
    worker = start_worker(url, "hung", log, "--processes", "1")
    try:
        wait_until(lambda: client_of(aof_redis).scard("rq:workers") >= 1, timeout=30)
        slow = invocation(http(target.url("/first-slow/1")), name="slow")
        enqueue(url, slow)
        wait_until(lambda: target.requests, timeout=30)
        aof_redis.pause()
        time.sleep(8)
        assert worker.poll() is None
        aof_redis.resume()
        back = time.time()
        after = invocation(http(target.url("/ok")), name="after")
        enqueue(url, after)
        wait_until(lambda: [r for r in target.requests if r.key == after.id], timeout=30, every=0.05)
        resumed = next(r for r in target.requests if r.key == after.id).at - back
        wait_until(lambda: history(client_of(aof_redis), after.job) and history(client_of(aof_redis), slow.job))
    finally:
        aof_redis.resume()
        stop(worker)
    print(f"\nRedis resumed (SIGCONT) -> a new invocation called {resumed:.2f} s later")
    assert resumed < RESUME_LIMIT
    c = client_of(aof_redis)
    assert [e.status for e in history(c, slow.job)] == ["completed"]
    assert c.hget(KEYS.status(slow.job), "executionCount") == "1"  # not doubled
    assert_one_outage(log)


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelDeployment]:
    deployment = SentinelDeployment(tmp_path / "sentinel").start()
    yield deployment
    deployment.stop()


def master_client(sentinels: SentinelDeployment) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=sentinels.master_port(), decode_responses=True)


def enqueue_on_master(
    sentinels: SentinelDeployment, names: list[str], target: RecordingTarget, replicated: bool = False
) -> list[str]:
    c = master_client(sentinels)
    ids = []
    for name in names:
        inv = invocation(http(target.url("/ok")), name=name)
        write_desired(c, inv.job)
        Queue("cronplane", connection=c).enqueue(TASK, inv.to_dict(), job_id=inv.id, unique=True)
        ids.append(inv.id)
    if replicated:  # on the replica too before a failover (replication is asynchronous)
        assert c.execute_command("WAIT", 1, 30000) == 1
    return ids


def test_a_worker_follows_a_sentinel_failover(
    sentinels: SentinelDeployment, target: RecordingTarget, tmp_path: Path
) -> None:
    log = tmp_path / "w.log"
    worker = start_worker(sentinels.url, "sentinel", log, "--processes", "1")
    try:
        before = enqueue_on_master(sentinels, [f"before{i}" for i in range(20)], target, replicated=True)
        wait_until(lambda: set(before) <= set(target.keys()), timeout=30)
        old = sentinels.master_port()
        assert sentinels.failover() != old
        wait_until(lambda: redis.Redis(port=old).info("replication")["role"] == "slave", timeout=30)
        after = enqueue_on_master(sentinels, [f"after{i}" for i in range(20)], target)
        wait_until(lambda: set(after) <= set(target.keys()), timeout=30)
        c = master_client(sentinels)
        wait_until(lambda: all(history(c, f"c1/after{i}") for i in range(20)), timeout=30)
        assert worker.poll() is None
    finally:
        stop(worker)
    keys = target.keys()
    assert sorted(keys) == sorted(before + after)  # every invocation once, none twice
    assert "Traceback" not in log.read_text()
    assert worker.returncode == 0
    # A plain RQ worker on the same URL (worker.tasks): its asyncio client follows the master too.
    [plain] = enqueue_on_master(sentinels, ["plain"], target)
    SimpleWorker(["cronplane"], connection=redis_from_url(sentinels.url)).work(burst=True)
    assert target.keys().count(plain) == 1
    assert [e.status for e in history(master_client(sentinels), "c1/plain")] == ["completed"]


def test_a_worker_stopped_during_an_outage_exits_and_its_job_is_recovered(
    aof_redis: RedisServer, target: RecordingTarget, tmp_path: Path
) -> None:
    """The choice for writes that cannot be made before the worker exits: they are held for a few
    seconds, then dropped; the job stays started, and once Redis is back another worker requeues
    it as abandoned (the target sees the same Idempotency-Key again)."""
    url, log = aof_redis.url, tmp_path / "a.log"
    a = start_worker(url, "out-d", log, "--processes", "1", "--grace", "2")
    try:
        wait_until(lambda: client_of(aof_redis).scard("rq:workers") >= 1, timeout=30)
        slow = invocation(http(target.url("/first-slow/1")), name="slow")
        enqueue(url, slow)
        wait_until(lambda: target.requests, timeout=30)
        aof_redis.outage_stop()
        time.sleep(2)  # the call ends; its record waits for Redis
        a.send_signal(signal.SIGTERM)
        assert ended(a, 40) == 0
    finally:
        stop(a)
    text = log.read_text()
    assert "Traceback" not in text and "left started for recovery by another worker" in text, text
    aof_redis.outage_start()
    b = start_worker(url, "out-e", tmp_path / "b.log", "--processes", "1")
    try:
        wait_until(lambda: len(history(client_of(aof_redis), slow.job)) >= 2, timeout=60, every=0.2)
    finally:
        stop(b)
    entries = sorted(history(client_of(aof_redis), slow.job), key=lambda e: e.start_time)
    assert [e.status for e in entries] == ["abandoned", "completed"]
    assert target.keys() == [slow.id, slow.id]


def test_a_batch_sent_twice_is_applied_once(redis_url: str, redis_client: redis.Redis) -> None:
    """The token of a held batch: when the first send ran but its reply was lost, the second send
    of the same batch applies nothing (counters are not doubled); another batch applies."""

    async def main() -> None:
        r = aioredis.Redis.from_url(redis_url)
        batcher = Batcher(r, link=RedisLink("t", logging.getLogger("test")), token_prefix="cp")
        rec = Recorder()
        rec.hincrby("cp:status:c1/j", "executionCount", 1)
        args = rec.payload("cp:batch:same-token")
        assert await batcher.apply(keys=[], args=args) == 1
        assert await batcher.apply(keys=[], args=args) == -1  # the replay: nothing applied
        await batcher.submit(lambda pipe: pipe.hincrby("cp:status:c1/j", "executionCount", 1))
        await r.aclose()

    asyncio.run(main())
    assert redis_client.hget("cp:status:c1/j", "executionCount") == "2"
    assert 0 < redis_client.ttl("cp:batch:same-token") <= 300
