"""The herd in the real process: N one-time jobs due in the same second, due → last job in the
RQ queue, for the real ``cronplane controller --manifests DIR`` process (its sync process, lease
keeper and dispatch loop running, as users run it), against, in the same run:

- raw RQ ``Queue.enqueue_many`` of the very same RQ jobs (payload, ids, timeouts, retry), built
  in advance: the floor (target: cronplane within 1.5x of it);
- RQ's own scheduler (``Queue.enqueue_at`` + an ``RQScheduler`` process, interval 1 s) and
  rq-scheduler (``Scheduler.enqueue_at`` + ``rqscheduler -i 1``) (target: cronplane 5x faster).

cronplane is measured twice: due clear of any sync, and due *during* a sync pass (the
controller resyncs every second, and at the due second every manifest is touched and one is
edited, so a pass re-reads and re-hashes every file while the herd is dispatched).

``python -m benchmarks.controller_bench [N]`` (default 10,000; ``CRONPLANE_BENCH_JOBS``;
rounds ``CRONPLANE_BENCH_ROUNDS``, default 3, medians).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis
from rq import Queue, Retry

from benchmarks.proc import (
    controller,
    median,
    start_redis,  # the worker benchmark imports it from here too
    stop,
    synced_after,
    wait,
    write_manifests,
)
from controller.core.invocation import build_invocation
from controller.core.model import JobKey
from controller.core.recurrence import Occurrence
from worker.contract import TASK
from worker.records import Bounds

QUEUE = "cronplane"


def payloads(n: int, due: float) -> list[tuple[str, dict[str, object]]]:
    from datetime import UTC, datetime

    action = {"type": "http", "request": {"method": "POST", "uri": "http://127.0.0.1:9/0", "body": "x"}}
    out = []
    for i in range(n):
        inv = build_invocation(
            JobKey(f"bench-{i // 1000}", f"job-{i}"),
            {"action": action},
            Occurrence(datetime.fromtimestamp(int(due), UTC), 1),
            generation=1,
            git_sha=None,
            final=True,
            region="local",
        )
        out.append((inv.id, inv.to_dict()))
    return out


def raw_rq(client: redis.Redis, n: int) -> float:
    client.flushall()
    bounds = Bounds()
    data = [
        Queue.prepare_data(
            TASK,
            (payload,),
            job_id=job_id,
            description=job_id,
            timeout=bounds.job_timeout,
            result_ttl=bounds.result_ttl,
            failure_ttl=bounds.failure_ttl,
            retry=Retry(max=bounds.abandoned_retries),
        )
        for job_id, payload in payloads(n, time.time())
    ]
    gc.collect()
    start = time.perf_counter()
    Queue("raw", connection=client).enqueue_many(data)
    return time.perf_counter() - start


def until_enqueued(client: redis.Redis, queue: str, n: int, due: float, timeout: float = 120) -> float:
    """Seconds from ``due`` until the queue holds ``n`` jobs (polled every 5 ms)."""
    key = f"rq:queue:{queue}"
    wait(lambda: time.time() >= due, timeout, step=0.001)
    wait(lambda: client.llen(key) >= n, timeout, step=0.005)
    return time.time() - due


def scheduler_round(client: redis.Redis, url: str, n: int, kind: str, tmp: Path) -> float:
    """RQ's scheduler or rq-scheduler: schedule ``n`` jobs a few seconds ahead, start the
    scheduler process, measure due → last enqueued."""
    client.flushall()
    jobs = payloads(n, time.time())
    due = float(int(time.time()) + 8)
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(due, UTC)
    if kind == "rq":
        q = Queue("base", connection=client)
        with client.pipeline() as pipe:
            for job_id, payload in jobs:
                q.enqueue_at(at, TASK, payload, job_id=job_id, pipeline=pipe)
            pipe.execute()
        code = (
            "import sys, time, redis\nfrom rq.scheduler import RQScheduler\n"
            "r = redis.Redis.from_url(sys.argv[1])\ns = RQScheduler(['base'], connection=r, interval=1)\n"
            "s.acquire_locks()\nwhile True:\n    s.enqueue_scheduled_jobs()\n    time.sleep(1)\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.DEVNULL)
    else:
        from rq_scheduler import Scheduler  # type: ignore[import-untyped]

        scheduler = Scheduler(queue_name="base", connection=client)
        for job_id, payload in jobs:
            scheduler.enqueue_at(at, TASK, payload, job_id=job_id)
        rqs = Path(sys.executable).parent / "rqscheduler"
        proc = subprocess.Popen(
            [str(rqs), "--url", url, "-i", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    try:
        if time.time() > due - 1:
            print(f"  ({kind}: scheduling {n} jobs took past the due time; round discarded)")
            return float("nan")
        return until_enqueued(client, "base", n, due)
    finally:
        stop(proc)


def cronplane_round(client: redis.Redis, url: str, n: int, tmp: Path, during_sync: bool, lead: float) -> float:
    """A fresh database and a fresh controller; N one-time jobs due ``lead`` seconds after start."""
    client.flushall()
    root = tmp / f"m-{time.monotonic_ns()}"
    due = float(int(time.time() + lead))
    write_manifests(root, n, lambda i: due)
    extra = ("--poll", "1") if during_sync else ()
    started = time.time()
    proc = controller(url, root, tmp / "controller.log", *extra)
    try:
        if not wait(lambda: client.scard("cp:jobs") >= n and synced_after(client, started), lead + 60, step=0.1):
            raise RuntimeError("the controller did not apply the manifests")
        if time.time() > due - 1:
            print(f"  (cold apply took {time.time() - started:.1f} s, past the due time; round discarded)")
            return float("nan")
        if during_sync:
            wait(lambda: time.time() >= due - 0.15, lead, step=0.005)
            _touch_all(root, n)
        return until_enqueued(client, QUEUE, n, due)
    finally:
        stop(proc)


def _touch_all(root: Path, n: int) -> None:
    """Every manifest's mtime changes (a pass re-reads and hashes them all), one is edited."""
    stamp = time.time_ns()
    for path in root.iterdir():
        os.utime(path, ns=(stamp, stamp))
    edited = root / f"job-{n - 1:06d}.yaml"
    edited.write_text(edited.read_text() + "  # edited at the due second\n")


def run(n: int, rounds: int, lead: float) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {k: [] for k in ("raw", "rq", "rqs", "clear", "sync")}
    with tempfile.TemporaryDirectory(prefix="cronplane-herd-") as tmp_s:
        tmp = Path(tmp_s)
        proc, client, url = start_redis(tmp)
        steps: list[tuple[str, Callable[[], float]]] = [
            ("raw", lambda: raw_rq(client, n)),
            ("clear", lambda: cronplane_round(client, url, n, tmp, False, lead)),
            ("sync", lambda: cronplane_round(client, url, n, tmp, True, lead)),
        ]
        try:
            for _ in range(rounds):
                for name, step in steps:
                    results[name].append(step())
            for name in ("rq", "rqs"):
                for _ in range(max(1, rounds - 1)):
                    results[name].append(scheduler_round(client, url, n, "rq" if name == "rq" else "rqs", tmp))
        finally:
            stop(proc)
    return results


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else int(os.environ.get("CRONPLANE_BENCH_JOBS", "10000"))
    rounds = int(os.environ.get("CRONPLANE_BENCH_ROUNDS", "3"))
    lead = max(12.0, n / 800)  # the controller's cold apply of N fits before the due second
    r = run(n, rounds, lead)
    raw = median(r["raw"])
    print(f"herd: {n} one-time jobs due in the same second, due -> last in the RQ queue; medians of {rounds} rounds")
    print(f"{'system':<58}{'seconds':>9}{'x raw':>8}")
    rows = [
        ("raw RQ Queue.enqueue_many, same jobs (the floor)", "raw"),
        ("RQ's scheduler (enqueue_at + RQScheduler, interval 1 s)", "rq"),
        ("rq-scheduler (Scheduler.enqueue_at + rqscheduler -i 1)", "rqs"),
        ("cronplane controller process, due clear of a sync", "clear"),
        ("cronplane controller process, due during a sync pass", "sync"),
    ]
    for label, key in rows:
        value = median(r[key])
        print(f"{label:<58}{value:>9.2f}{value / raw:>8.2f}  (rounds: {', '.join(f'{v:.2f}' for v in r[key])})")
    worst = max(median(r["clear"]), median(r["sync"]))
    fastest_baseline = min(median(r["rq"]), median(r["rqs"]))
    print(f"cronplane / raw: {worst / raw:.2f} (target <= 1.5, with or without a sync pass)")
    print(f"RQ schedulers / cronplane: {fastest_baseline / worst:.1f}x (target >= 5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
