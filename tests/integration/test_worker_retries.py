"""Retries against a real worker: a deleted, disabled or changed job stops its pending retries and
its error action; one log line per attempt; per-host concurrency limits make calls wait."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from pytest_httpserver import HTTPServer
from rq.job import Job
from werkzeug import Request, Response

from tests.integration.test_worker_http import KEYS, enqueue, history, http, invocation, write_desired
from tests.peers.rq_worker import burst, running_worker, wait_until
from worker.attempts import retry_job_id
from worker.contract import RetryPolicy

RETRY = RetryPolicy("fixed", 1.0, 1)


def test_deleted_disabled_and_changed_jobs_stop_their_retries_and_error_action(
    redis_url: str, redis_client: redis.Redis, httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/fail").respond_with_data("boom", status=500)
    httpserver.expect_request("/error").respond_with_data("noted")
    action = http(httpserver.url_for("/fail"))
    action["errorAction"] = http(httpserver.url_for("/error"))
    r = redis.Redis.from_url(redis_url)
    invs = {name: invocation(action, name=name, retry=RETRY) for name in ("gone", "off", "moved", "kept")}
    invs["gone-now"] = invocation(action, name="gone-now", retry=RetryPolicy("none", 1, 0))
    for inv in invs.values():
        enqueue(redis_url, inv)
    # The first attempts were dispatched; then a sync pass changed the desired state.
    r.delete(KEYS.job("c1/gone"), KEYS.job("c1/gone-now"))
    write_desired(r, "c1/off", active=False)
    write_desired(r, "c1/moved", generation=2)
    log = tmp_path / "worker.log"
    with running_worker(redis_url, log=log):
        wait_until(lambda: len(history(redis_client, "c1/kept")) >= 3, timeout=60)
        stopped = [retry_job_id(invs[n].next_attempt()) for n in ("gone", "off", "moved")]
        wait_until(lambda: all(Job.fetch(j, connection=r).get_status() == "finished" for j in stopped), timeout=30)
    for name in ("gone", "off", "moved", "gone-now"):
        assert [(e.action_name, e.retry_count) for e in history(redis_client, f"c1/{name}")] == [("MainAction", 0)]
    results = {j: Job.fetch(j, connection=r).return_value() for j in stopped}
    assert results == {
        stopped[0]: "stopped: the job was deleted",
        stopped[1]: "stopped: the job is disabled",
        stopped[2]: "stopped: the job changed (generation 2, this occurrence has 1)",
    }
    assert Job.fetch(invs["gone-now"].id, connection=r).return_value() == "stopped: the job was deleted"
    error_calls = [req for req, _ in httpserver.log if req.path == "/error"]
    assert [req.headers["Idempotency-Key"] for req in error_calls] == ["c1_kept-1700000000-error"]
    lines = log.read_text().splitlines()
    attempts = [line for line in lines if " c1/" in line]
    assert len([a for a in attempts if "c1/kept" in a]) == 3  # main#0, main#1, error#0: one line each
    assert any("c1/kept c1_kept-1700000000 error#0 ok" in a for a in attempts)
    assert any("main#1 stopped: the job was deleted" in a for a in attempts)
    assert not any("Job OK" in line for line in lines)


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_per_host_limit_makes_calls_wait_not_fail(
    redis_url: str, redis_client: redis.Redis, threaded_server: HTTPServer
) -> None:
    httpserver = threaded_server
    lock = threading.Lock()
    active, peak = [0], [0]

    def slow(request: Request) -> Response:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.2)
        with lock:
            active[0] -= 1
        return Response("ok")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    for i in range(12):
        enqueue(redis_url, invocation(http(httpserver.url_for("/slow")), expected=1000 + i))
    burst(redis_url, {"CRONPLANE_HOST_CONCURRENCY": "2"}, processes=1)
    entries = history(redis_client)
    assert len(entries) == 12 and {e.status for e in entries} == {"completed"}
    assert peak[0] == 2  # twelve invocations ready at once, never more than two calls to the host
