"""HTTP(S) actions through real RQ workers against real local servers: headers, retries, error
action, history, counters, auth, link-local refusal, and no secret anywhere."""

from __future__ import annotations

import itertools
import time
import zlib
from datetime import datetime
from typing import Any

import redis
from pytest_httpserver import HTTPServer
from rq import Queue
from werkzeug import Request, Response

from tests.peers.rq_worker import burst, running_worker, wait_until
from worker.contract import TASK, HistoryEntry, Invocation, Keys, RetryPolicy, invocation_id
from worker.records import W_FAULTED_GENERATION, W_FAULTED_REASON, JobRecord

KEYS = Keys()
SECRET = "s3cr3t-do-not-leak"
RETRY_TOLERANCE = 1.5  # seconds late a retry may start on a loaded machine (the benchmark measures it)


def invocation(
    action: dict[str, Any],
    *,
    name: str = "j",
    retry: RetryPolicy | None = None,
    final: bool = False,
    expected: int = 1_700_000_000,
) -> Invocation:
    return Invocation(
        id=invocation_id("c1", name, expected),
        collection="c1",
        name=name,
        expected=expected,
        repeat=7,
        action=action,
        retry=retry or RetryPolicy("none", 1, 0),
        error_retry=retry or RetryPolicy("none", 1, 0),
        git_sha="abc123",
        final=final,
    )


def enqueue(url: str, inv: Invocation, *, desired: bool = True) -> None:
    """Enqueue as the dispatcher does; ``desired`` also writes the job's desired state (what a sync
    pass keeps), without which retries and error actions stop as for a deleted job."""
    client = redis.Redis.from_url(url)
    if desired:
        write_desired(client, inv.job, generation=inv.generation)
    Queue("cronplane", connection=client).enqueue(TASK, inv.to_dict(), job_id=inv.id, unique=True)


def write_desired(client: redis.Redis, job: str, *, generation: int = 1, active: bool = True) -> None:
    """The job record a sync pass writes (through its codec), reduced to what workers read."""
    record = JobRecord(job, {}, "", generation, 0.0, active, job.partition("/")[0])
    client.hset(KEYS.job(job), mapping=record.to_redis())  # type: ignore[arg-type]


def history(client: redis.Redis, job: str = "c1/j") -> list[HistoryEntry]:
    return [HistoryEntry.from_json(r) for r in client.zrange(KEYS.history(job), 0, -1)]


def assert_retried_then_error_action(entries: list[HistoryEntry], retries: int, interval: float) -> None:
    """Main attempts 0..retries failed, each starting ``interval`` after the previous one ended,
    never before, and (goal: 0.5 s; tolerance for a loaded 2-core machine: 1.5 s) not much later,
    then one completed error action."""
    entries = sorted(entries, key=lambda e: e.start_time)
    expected = [("MainAction", "failed", n) for n in range(retries + 1)] + [("ErrorAction", "completed", 0)]
    assert [(e.action_name, e.status, e.retry_count) for e in entries] == expected
    main = entries[: retries + 1]
    for before, after in itertools.pairwise(main):
        gap = _instant(after.start_time) - _instant(before.end_time)
        assert interval - 0.001 <= gap < interval + RETRY_TOLERANCE, (before, after)


def _instant(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def http(uri: str, method: str = "POST", **request: Any) -> dict[str, Any]:
    return {"type": "http", "request": {"method": method, "uri": uri, **request}}


def test_success_sends_body_and_scheduler_headers(
    redis_url: str, redis_client: redis.Redis, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("thanks", status=202)
    inv = invocation(http(httpserver.url_for("/hook"), headers={"X-Team": "billing"}, body='{"a": 1}'))
    enqueue(redis_url, inv)
    burst(redis_url)
    req = httpserver.log[0][0]
    assert req.data == b'{"a": 1}' and req.headers["X-Team"] == "billing"
    assert req.headers["Idempotency-Key"] == "c1_j-1700000000"
    assert req.headers["x-ms-scheduler-jobid"] == "j" and req.headers["x-ms-scheduler-jobcollectionid"] == "c1"
    assert req.headers["x-ms-scheduler-expected-execution-time"] == "2023-11-14T22:13:20Z"
    assert len(req.headers["x-ms-scheduler-execution-tag"]) == 32 and req.headers["x-ms-client-request-id"]
    [entry] = history(redis_client)
    assert (entry.status, entry.action_name, entry.retry_count, entry.repeat_count) == ("completed", "MainAction", 0, 7)
    assert entry.message.startswith("HTTP 202") and "thanks" in entry.message and entry.git_sha == "abc123"
    status = redis_client.hgetall(KEYS.status("c1/j"))
    assert status["executionCount"] == "1" and status["failureCount"] == "0" and "lastExecutionTime" in status


def test_retries_at_their_interval_then_error_action(
    redis_url: str, redis_client: redis.Redis, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/fail").respond_with_data("boom", status=500)
    httpserver.expect_request("/error").respond_with_data("noted", status=200)
    action = http(httpserver.url_for("/fail"), "GET")
    action["errorAction"] = http(httpserver.url_for("/error"))
    inv = invocation(action, retry=RetryPolicy("fixed", 1.0, 2), final=True)
    enqueue(redis_url, inv)
    with running_worker(redis_url):
        wait_until(lambda: len(history(redis_client)) >= 4, timeout=60)
    entries = history(redis_client)
    assert_retried_then_error_action(entries, retries=2, interval=1.0)
    status = redis_client.hgetall(KEYS.status("c1/j"))
    assert (status["executionCount"], status["failureCount"], status["faultedCount"]) == ("3", "3", "1")
    assert status[W_FAULTED_GENERATION] == str(inv.generation)  # the derived condition: Faulted
    assert "failed after all retries" in status[W_FAULTED_REASON]
    assert all(e.repeat_count == 7 for e in entries) and "boom" in entries[0].message


def test_client_errors_are_not_retried_and_body_is_truncated(
    redis_url: str, redis_client: redis.Redis, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/gone").respond_with_data("x" * 10_000, status=404)
    enqueue(redis_url, invocation(http(httpserver.url_for("/gone")), retry=RetryPolicy("fixed", 1.0, 3)))
    burst(redis_url)
    [entry] = history(redis_client)
    assert entry.status == "failed" and entry.message.startswith("HTTP 404")
    assert len(entry.message.encode()) <= 2048 + len("HTTP 404 NOT FOUND\n")


def test_429_honours_retry_after(redis_url: str, redis_client: redis.Redis, httpserver: HTTPServer) -> None:
    calls: list[float] = []

    def handler(request: Request) -> Response:
        calls.append(time.time())
        return Response("slow down", status=429, headers={"Retry-After": "3"}) if len(calls) == 1 else Response("ok")

    httpserver.expect_request("/busy").respond_with_handler(handler)
    enqueue(redis_url, invocation(http(httpserver.url_for("/busy")), retry=RetryPolicy("fixed", 1.0, 2)))
    with running_worker(redis_url):
        wait_until(lambda: len(calls) >= 2, timeout=30)
    assert calls[1] - calls[0] >= 2.9


def test_basic_auth_and_missing_secret(
    redis_url: str, redis_client: redis.Redis, httpserver: HTTPServer, tmp_path: Any
) -> None:
    httpserver.expect_request("/basic").respond_with_data("ok")
    auth = {"type": "basic", "username": "u", "password": {"valueFrom": {"env": "CP_TEST_PASSWORD"}}}
    enqueue(redis_url, invocation(http(httpserver.url_for("/basic"), authentication=auth)))
    missing = {"type": "basic", "username": "u", "password": {"valueFrom": {"env": "CP_NOT_SET"}}}
    enqueue(redis_url, invocation(http(httpserver.url_for("/basic"), authentication=missing), name="m"))
    logs = burst(redis_url, {"CP_TEST_PASSWORD": SECRET})
    assert httpserver.log[0][0].authorization.password == SECRET
    [failed] = history(redis_client, "c1/m")
    assert failed.status == "failed" and "CP_NOT_SET is not set" in failed.message
    assert SECRET not in logs
    assert_no_secret_in_redis(redis_client)


def test_link_local_targets_are_refused(redis_url: str, redis_client: redis.Redis) -> None:
    enqueue(redis_url, invocation(http("http://169.254.169.254/latest/meta-data/")))
    burst(redis_url)
    [entry] = history(redis_client)
    assert entry.status == "failed" and "link-local" in entry.message


def assert_no_secret_in_redis(client: redis.Redis, secret: str = SECRET) -> None:
    """Scan every key and every value of every type; RQ's job payloads are zlib-compressed pickles."""
    raw = redis.Redis(
        connection_pool=redis.ConnectionPool(**{**client.connection_pool.connection_kwargs, "decode_responses": False})
    )
    needle = secret.encode()
    for key in raw.scan_iter(b"*"):
        kind = raw.type(key)
        if kind == b"string":
            values = [raw.get(key)]
        elif kind == b"hash":
            values = list(raw.hgetall(key).values())
        elif kind == b"zset":
            values = list(raw.zrange(key, 0, -1))
        elif kind == b"list":
            values = list(raw.lrange(key, 0, -1))
        elif kind == b"set":
            values = list(raw.smembers(key))
        else:
            values = []
        for value in values:
            assert needle not in (value or b""), key
            try:
                assert needle not in zlib.decompress(value or b""), key
            except zlib.error:
                pass
