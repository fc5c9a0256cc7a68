"""Worker benchmark: the real ``cronplane worker`` command against a forking ``rq worker``, same run.

1. Throughput: N invocations (HTTP POST to a local keep-alive asyncio target, history, counters,
   status and RQ's records for each) run by ``cronplane worker --burst`` with its defaults (one
   process per core) and with 1, 2 and 4 processes, against ``rq worker --burst`` (forking, RQ's
   default class) running a no-op function on the same payloads (goal: >= 1,000/s and >= 15x).
2. Herd: 10,000 invocations enqueued at once at their due instant, running workers (1 and 4
   processes) already waiting: p50/p99 of due -> started (RQ's ``started_at``).
3. Retries on time: within the herd, ``RETRY_JOBS`` invocations fail once (HTTP 500) and retry
   after 1 s: how late each retry starts after its due time (goal: within 0.5 s, never early).

Rounds alternate baseline and subject on a fresh database; medians are printed
(``CRONPLANE_BENCH_ROUNDS``, default 3; ``CRONPLANE_BENCH_INVOCATIONS``, default 10,000;
``CRONPLANE_BENCH_BASELINE_JOBS``, default 500: the forking worker is slow).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
from rq import Queue

from benchmarks.controller_bench import median, start_redis
from benchmarks.http_target import capacity
from tests.peers.ports import free_port, wait_for_port
from worker.attempts import retry_job_id
from worker.contract import TASK, HistoryEntry, Invocation, Keys, RetryPolicy, invocation_id
from worker.records import JobRecord

ROOT = Path(__file__).resolve().parents[1]
KEYS = Keys()
HERD = int(os.environ.get("CRONPLANE_BENCH_HERD", "10000"))
RETRY_JOBS = max(1, HERD // 20)
NONE = RetryPolicy("none", 0, 0)


def payloads(n: int, uri: str, *, due: int = 1_000_000, retry: RetryPolicy = NONE, name: str = "w") -> list[Any]:
    action = {"type": "http", "request": {"method": "POST", "uri": uri, "body": "x"}}
    return [
        Invocation(invocation_id("bench", f"{name}{i}", due), "bench", f"{name}{i}", due, 1, action, retry, retry)
        for i in range(n)
    ]


def enqueue(client: redis.Redis, queue: str, func: str, invs: Sequence[Invocation]) -> None:
    data = [Queue.prepare_data(func, (inv.to_dict(),), job_id=inv.id, result_ttl=3600) for inv in invs]
    Queue(queue, connection=client).enqueue_many(data)


def cronplane(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "controller.cli", "worker", "--redis-url", url, "--quiet", *args]


def timed(cmd: list[str], env: dict[str, str], log: bool = False) -> float:
    """Seconds the command ran; with ``log``, its warnings and errors (``--quiet``) are shown."""
    start = time.perf_counter()
    sink = None if log else subprocess.DEVNULL
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=sink)
    return time.perf_counter() - start


def throughput(client: redis.Redis, url: str, env: dict[str, str], uri: str, n: int, processes: int | None) -> float:
    client.flushall()
    enqueue(client, "cronplane", TASK, payloads(n, uri))
    extra = [] if processes is None else ["--processes", str(processes)]
    seconds = timed(cronplane(url, "--burst", *extra), env, log=True)
    done = int(client.zcard("rq:finished:cronplane"))
    if done != n:
        statuses = {client.hget(f"rq:job:{inv.id}", "status") for inv in payloads(n, uri)}
        raise AssertionError(
            f"{done} of {n} invocations finished; statuses {statuses}, queue {client.llen('rq:queue:cronplane')}"
        )
    return n / seconds


def baseline(client: redis.Redis, url: str, env: dict[str, str], uri: str, n: int) -> float:
    client.flushall()
    enqueue(client, "bare", "benchmarks.noop.noop", payloads(n, uri))
    rq_bin = str(Path(sys.executable).with_name("rq"))
    return n / timed([rq_bin, "worker", "--burst", "--url", url, "bare"], env)


def herd(
    client: redis.Redis, url: str, env: dict[str, str], base: str, processes: int
) -> tuple[list[float], list[float]]:
    """Seconds from due to started for each invocation, and each retry's lateness after its due."""
    client.flushall()
    retry = RetryPolicy("fixed", 1.0, 1)
    due = int(time.time())  # fresh ids: the target fails each idempotency key only once
    flaky = payloads(RETRY_JOBS, f"{base}/fail-once", due=due, retry=retry, name="r")
    invs = payloads(HERD - RETRY_JOBS, f"{base}/hook", due=due) + flaky
    for inv in flaky:  # retries run only while their job exists and is active
        client.hset(KEYS.job(inv.job), mapping=JobRecord(inv.job, {}, "", 1, 0.0, True, "bench").to_redis())  # type: ignore[arg-type]
    # The retries' first failures log a line each (WARNING): kept out of the report, shown on failure.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            cronplane(url, "--processes", str(processes)), cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            _wait(lambda: client.scard("rq:workers") >= processes, 60)
            enqueued_at = time.time()
            enqueue(client, "cronplane", TASK, invs)
            _wait(lambda: client.zcard("rq:finished:cronplane") >= HERD + RETRY_JOBS, 300)
        except TimeoutError:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-4000:])
            raise
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    with client.pipeline(transaction=False) as pipe:
        for inv in invs:
            pipe.hget(f"rq:job:{inv.id}", "started_at")
        started = [_epoch(v) - enqueued_at for v in pipe.execute()]
    return started, _retry_lateness(client, flaky)


def _retry_lateness(client: redis.Redis, flaky: Sequence[Invocation]) -> list[float]:
    late = []
    for inv in flaky:
        entries = sorted((HistoryEntry.from_json(r) for r in client.zrange(KEYS.history(inv.job), 0, -1)), key=_start)
        assert [e.retry_count for e in entries] == [0, 1], (inv.job, entries)
        assert client.exists(f"rq:job:{retry_job_id(inv.next_attempt())}")
        late.append(_start(entries[1]) - (_iso(entries[0].end_time) + 1.0))
    return late


def _start(e: HistoryEntry) -> float:
    return _iso(e.start_time)


def _iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _epoch(raw: bytes | None) -> float:
    assert raw, "an invocation never started"
    return _iso(raw.decode())


def _wait(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark's workers did not finish in time")
        time.sleep(0.05)


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else int(os.environ.get("CRONPLANE_BENCH_INVOCATIONS", "10000"))
    n_base = int(os.environ.get("CRONPLANE_BENCH_BASELINE_JOBS", "500"))
    rounds = int(os.environ.get("CRONPLANE_BENCH_ROUNDS", "3"))
    configs: dict[str, int | None] = {"default (one per core)": None, "1": 1, "2": 2, "4": 4}
    with tempfile.TemporaryDirectory(prefix="cronplane-wbench-") as tmp:
        proc, client, url = start_redis(Path(tmp))
        env = {**os.environ, "REDIS_URL": url, "PYTHONPATH": str(ROOT)}
        target_port = free_port()
        target = subprocess.Popen([sys.executable, "-m", "benchmarks.http_target", str(target_port)], cwd=ROOT, env=env)
        base = f"http://127.0.0.1:{target_port}"
        try:
            wait_for_port(target_port)
            cap = capacity(f"{base}/hook")
            bare: list[float] = []
            ours: dict[str, list[float]] = {k: [] for k in configs}
            herds: dict[int, list[tuple[list[float], list[float]]]] = {1: [], 4: []}
            for _ in range(rounds):
                bare.append(baseline(client, url, env, f"{base}/hook", n_base))
                for label, processes in configs.items():
                    ours[label].append(throughput(client, url, env, f"{base}/hook", n, processes))
                for processes in herds:
                    herds[processes].append(herd(client, url, env, base, processes))
        finally:
            target.terminate()
            target.wait()
            proc.terminate()
            proc.wait()
    report(n, n_base, rounds, cap, bare, ours, herds)
    return 0


def report(
    n: int,
    n_base: int,
    rounds: int,
    cap: float,
    bare: list[float],
    ours: dict[str, list[float]],
    herds: dict[int, list[tuple[list[float], list[float]]]],
) -> None:
    b = median(bare)
    print(f"invocations: {n} (baseline: {n_base} no-op jobs); rounds: {rounds} (medians); target capacity {cap:,.0f}/s")
    print(f"{'worker':<58}{'per second':>12}{'vs rq worker':>14}")
    print(f"{'rq worker --burst (forking), no-op function (baseline)':<58}{b:>12,.0f}{1:>13.1f}x")
    for label, rates in ours.items():
        rate = median(rates)
        ratios = ", ".join(f"{r / x:.1f}" for r, x in zip(rates, bare, strict=True))
        print(f"{'cronplane worker --burst, processes: ' + label:<58}{rate:>12,.0f}{rate / b:>13.1f}x  ({ratios})")
    print(f"goal: >= 1,000/s and >= 15x with the defaults: {median(ours['default (one per core)']) / b:.1f}x")
    print(f"herd of {HERD:,} due at once, running workers; {RETRY_JOBS} of them retry once after 1 s")
    print(
        f"{'processes':<12}{'due->started p50':>18}{'p99':>10}{'retry late p50':>17}{'p99':>10}{'max':>10}{'min':>10}"
    )
    for processes, runs in herds.items():
        starts = [median([pct(s, 0.5) for s, _ in runs]), median([pct(s, 0.99) for s, _ in runs])]
        late = [median([f(r) for _, r in runs]) for f in (lambda r: pct(r, 0.5), lambda r: pct(r, 0.99), max, min)]
        print(f"{processes:<12}{starts[0]:>17.2f}s{starts[1]:>9.2f}s" + "".join(f"{x:>9.3f}s" for x in late))
    print("goal: every retry starts within 0.5 s after its due time, never before (min >= 0)")


if __name__ == "__main__":
    sys.exit(main())
