"""``maxConcurrentCalls`` end to end: manifests → ``cronplane apply`` → ``cronplane controller
--once`` (the dispatch loop builds the payloads) → a real ``cronplane worker`` → a slow target that
counts the calls in flight. Excess invocations wait; none is dropped."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis

from tests.integration.test_worker_http import history
from tests.peers.rq_worker import ROOT, burst

DELAY = 0.4  # seconds each call takes
START = "2026-01-01T00:00:00Z"


class SlowTarget:
    """A threaded HTTP server: every call takes DELAY s; records the most calls in flight per group
    (the first path segment) and every Idempotency-Key."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inflight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.keys: list[str] = []
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                group = self.path.strip("/").split("/")[0]
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with target.lock:
                    target.inflight[group] += 1
                    target.peak[group] = max(target.peak[group], target.inflight[group])
                    target.keys.append(str(self.headers.get("Idempotency-Key")))
                time.sleep(DELAY if group != "free" else 3 * DELAY)  # long enough to overlap surely
                with target.lock:
                    target.inflight[group] -= 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target() -> Iterator[SlowTarget]:
    t = SlowTarget()
    yield t
    t.close()


def job(name: str, uri: str, limit: int | None) -> str:
    own = f"  maxConcurrentCalls: {limit}\n" if limit else ""
    return f"""---
apiVersion: cronplane/v1
kind: Job
metadata: {{name: {name}, collection: herd}}
spec:
  startTime: "{START}"
  rrule: FREQ=SECONDLY
  startingDeadline: PT1H
{own}  action:
    type: http
    request: {{method: POST, uri: "{uri}"}}
    retryPolicy: {{retryType: none}}
"""


def cli(redis_url: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "controller.cli", *args, "--redis-url", redis_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_max_concurrent_calls_per_job_and_per_collection(
    redis_url: str, redis_client: redis.Redis, target: SlowTarget, tmp_path: Path
) -> None:
    manifests = tmp_path / "m.yaml"
    manifests.write_text(
        """apiVersion: cronplane/v1
kind: JobCollection
metadata: {name: herd}
spec:
  plan: standard
  maxConcurrentCalls: 3
  quota: {maxRecurrence: {frequency: second, interval: 1}}
"""
        + job("solo", f"{target.url}/solo", 2)  # its own limit: 2 at once
        + job("a", f"{target.url}/shared/a", None)  # a and b share the collection's 3
        + job("b", f"{target.url}/shared/b", None)
        + job("free", f"{target.url}/free", 50)  # a high limit of its own: not the collection's
    )
    cli(redis_url, "apply", str(manifests), "--now", START)
    # Ten occurrences of each job are due (00:00:00 .. 00:00:09), all within the deadline.
    cli(redis_url, "controller", "--manifests", str(manifests), "--once", "--now", "2026-01-01T00:00:09Z")
    started = time.monotonic()
    burst(redis_url, timeout=120)
    elapsed = time.monotonic() - started

    for name in ("solo", "a", "b", "free"):
        entries = history(redis_client, f"herd/{name}")
        assert len(entries) == 10 and all(e.status == "completed" for e in entries), (name, entries)
    assert len(target.keys) == 40 and len(set(target.keys)) == 40  # each occurrence once, none dropped
    assert target.peak["solo"] == 2
    assert target.peak["shared"] == 3
    assert target.peak["free"] > 3  # not held to the collection's limit (the worker runs 100 at once)
    assert elapsed >= 5 * DELAY  # ten calls two at a time took at least five rounds
