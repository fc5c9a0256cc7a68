"""Two real controllers on one Redis, per-second jobs, the leader SIGKILLed mid-run: every
occurrence in the window is enqueued exactly once (no duplicate RQ job, none missing)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import redis
from rq import Queue

from tests.peers import processes
from tests.peers.processes import Child
from tests.peers.rq_worker import wait_until

MANIFEST = """apiVersion: cronplane/v1
kind: JobCollection
metadata: {name: tick}
spec: {quota: {maxRecurrence: {frequency: second, interval: 1}}}
"""
JOB = """---
apiVersion: cronplane/v1
kind: Job
metadata: {{name: {name}, collection: tick}}
spec:
  rrule: FREQ=SECONDLY;INTERVAL=1
  startingDeadline: PT60S
  missedRunPolicy: all
  action: {{type: http, request: {{method: GET, uri: 'http://127.0.0.1:9/'}}}}
"""


def controller(url: str, manifests: Path, ident: str, log: Path) -> Child:
    return processes.controller(url, [manifests], log, ident=ident, lease_ttl=2).start()


def test_failover_enqueues_every_occurrence_exactly_once(redis_url: str, tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "tick.yaml").write_text(MANIFEST + "".join(JOB.format(name=f"j{i}") for i in range(3)))
    r = redis.Redis.from_url(redis_url)
    a = controller(redis_url, tmp_path / "m", "a", tmp_path / "a.log")
    wait_until(lambda: r.get("cp:lease") == b"a", timeout=20)
    b = controller(redis_url, tmp_path / "m", "b", tmp_path / "b.log")
    try:
        start = time.time()
        time.sleep(4)
        a.kill()  # the leader dies mid-run (its whole process tree), lease still held
        wait_until(lambda: r.get("cp:lease") == b"b", timeout=10)
        time.sleep(4)
        end = time.time() - 2  # occurrences up to here are surely due and dispatched
    finally:
        for p in (a, b):
            p.stop()
    queue = Queue("cronplane", connection=r)
    ids = queue.job_ids
    assert len(ids) == len(set(ids)), "an occurrence was enqueued twice"
    first = {}
    for job in ("j0", "j1", "j2"):
        epochs = sorted(int(i.rsplit("-", 1)[1]) for i in ids if i.startswith(f"tick_{job}-"))
        first[job] = epochs[0]
        window = [e for e in range(epochs[0], int(end) + 1)]
        assert set(window) <= set(epochs), f"{job}: missing {sorted(set(window) - set(epochs))}"
        assert epochs == list(range(epochs[0], epochs[-1] + 1)), f"{job}: gap or duplicate in {epochs}"
    assert int(end) - min(first.values()) >= 5, "the window spans the failover"
    assert all(r.exists(f"cp:fired:{i}") for i in ids), "every enqueued occurrence is marked"
    assert datetime.fromtimestamp(int(end), UTC) > datetime.fromtimestamp(start, UTC)
