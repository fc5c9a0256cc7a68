"""A worker SIGKILLed mid-invocation loses nothing: RQ requeues the abandoned invocation under the
same id, another worker performs it, and the target sees the same Idempotency-Key twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import redis
from pytest_httpserver import HTTPServer
from rq import Queue, Retry
from werkzeug import Request, Response

from tests.integration.test_worker_http import history, http, invocation
from tests.peers.rq_worker import ROOT, running_worker, wait_until, worker_env
from worker.contract import TASK


def descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout.split()
    pairs = [(int(out[i]), int(out[i + 1])) for i in range(0, len(out), 2)]
    children = [c for c, parent in pairs if parent == pid]
    return [d for c in children for d in (*descendants(c), c)]


def test_sigkilled_worker_loses_nothing(redis_url: str, redis_client: redis.Redis, httpserver: HTTPServer) -> None:
    keys: list[str] = []

    def slow(request: Request) -> Response:
        keys.append(request.headers["Idempotency-Key"])
        if len(keys) == 1:
            time.sleep(3)  # the first worker is killed while it waits here
        return Response("done")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    inv = invocation(http(httpserver.url_for("/slow")))
    Queue("cronplane", connection=redis.Redis.from_url(redis_url)).enqueue(
        TASK, inv.to_dict(), job_id=inv.id, unique=True, job_timeout=10, retry=Retry(max=3)
    )
    a = subprocess.Popen(
        [sys.executable, "-m", "controller.cli", "worker", "--redis-url", redis_url],
        cwd=ROOT,
        env=worker_env(redis_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: keys, timeout=30)
        for pid in [*descendants(a.pid), a.pid]:  # the worker and its work horse die mid-request
            os.kill(pid, signal.SIGKILL)
        a.wait()
    finally:
        if a.poll() is None:
            a.kill()
    assert history(redis_client) == []
    with running_worker(redis_url):  # its maintenance requeues the abandoned invocation
        wait_until(lambda: history(redis_client), timeout=150, every=0.5)
    [entry] = history(redis_client)
    assert entry.status == "completed" and entry.invocation_id == inv.id
    assert keys == [inv.id, inv.id]
