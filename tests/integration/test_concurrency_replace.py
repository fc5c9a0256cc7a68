"""concurrencyPolicy replace with a real worker: the running invocation is stopped and the new
occurrence runs."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import redis
from pytest_httpserver import HTTPServer
from rq import Queue
from rq.job import Job, JobStatus
from werkzeug import Request, Response

from controller.cli import main
from controller.dispatch import Dispatcher
from controller.settings import ControllerSettings
from controller.state.schedule import ScheduleStore
from tests.peers.rq_worker import running_worker, wait_until

MANIFEST = """apiVersion: cronplane/v1
kind: Job
metadata: {{name: r}}
spec:
  startTime: '2026-01-01T00:00:00Z'
  recurrence: {{frequency: hour}}
  concurrencyPolicy: replace
  action: {{type: http, request: {{method: GET, uri: '{uri}'}}, retryPolicy: {{retryType: none}}}}
"""


def test_replace_stops_the_running_invocation(redis_url: str, tmp_path: Path, httpserver: HTTPServer) -> None:
    keys: list[str] = []

    def handler(request: Request) -> Response:
        keys.append(request.headers["Idempotency-Key"])
        if len(keys) == 1:
            time.sleep(8)  # the first occurrence is still running when the next one is due
        return Response("ok")

    httpserver.expect_request("/slow").respond_with_handler(handler)
    (tmp_path / "r.yaml").write_text(MANIFEST.format(uri=httpserver.url_for("/slow")))
    assert main(["apply", str(tmp_path), "--redis-url", redis_url, "--now", "2026-01-01T00:30:00Z"]) == 0
    r = redis.Redis.from_url(redis_url)
    settings = ControllerSettings(redis_url=redis_url)
    dispatcher = Dispatcher(
        ScheduleStore(r, settings.keys, Queue("cronplane", connection=r), settings.fired_ttl), settings
    )
    with running_worker(redis_url):
        dispatcher.run_pass(datetime(2026, 1, 1, 1, 0, 1, tzinfo=UTC))
        wait_until(lambda: keys, timeout=30)
        assert r.get("cp:running:default/r") == b"default_r-1767229200"
        dispatcher.run_pass(datetime(2026, 1, 1, 2, 0, 1, tzinfo=UTC))
        wait_until(lambda: len(keys) >= 2, timeout=30)
        first = Job.fetch("default_r-1767229200", connection=r)
        wait_until(lambda: first.get_status(refresh=True) == JobStatus.STOPPED, timeout=10)
    assert keys == ["default_r-1767229200", "default_r-1767232800"]
