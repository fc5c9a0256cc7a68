"""How far one Redis goes: the Redis CPU, commands and memory that one occurrence costs end to end
(the controller dispatches it, a worker claims it, calls a local HTTP target, and records history,
counters and RQ's registries), measured on the real commands.

``python -m benchmarks.redis_capacity [--jobs N]``: N one-time jobs due in the same second, the real
``cronplane controller`` and ``cronplane worker`` (defaults) against a private redis-server;
Redis's own ``INFO`` counters are read before the due second and once every occurrence has
completed. The figures divide out to occurrences per second of one Redis core, which is the
ceiling of one deployment (see the README's "Scaling out").
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from benchmarks.proc import ROOT, start_redis, stop, wait, write_manifests
from tests.peers import processes
from tests.peers.ports import free_port, wait_for_port

HTTP_JOB = """apiVersion: cronplane/v1
kind: Job
metadata: {{name: job-{i}, collection: bench-{c}}}
spec:
  startTime: "{start}"
  action: {{type: http, request: {{method: POST, uri: "TARGET", body: "{body}"}}}}
"""


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def commands(client: redis.Redis) -> int:
    return int(client.info("stats")["total_commands_processed"])


def finished(client: redis.Redis) -> int:
    return int(client.zcard("rq:finished:cronplane"))


def measure(n: int, tmp: Path) -> dict[str, float]:
    proc, client, url = start_redis(tmp)
    port = free_port()
    target = subprocess.Popen([sys.executable, "-m", "benchmarks.http_target", str(port)], cwd=ROOT)
    children: list[processes.Child] = []
    try:
        wait_for_port(port)
        base = client.info("memory")["used_memory"]
        due = time.time() + 15 + n / 1000  # after the controller's cold apply of the n manifests
        template = HTTP_JOB.replace("TARGET", f"http://127.0.0.1:{port}/hook")
        write_manifests(tmp / "m", n, lambda i: due, template=template)
        children.append(processes.controller(url, [tmp / "m"], tmp / "controller.log").start())
        children.append(processes.worker(url, tmp / "worker.log").start())
        wait(lambda: client.zcard("cp:due") >= n, timeout=600, step=0.1)
        per_job = (client.info("memory")["used_memory"] - base) / n
        wait(lambda: time.time() >= due - 1, timeout=600, step=0.1)
        cpu0, cmd0, t0 = redis_cpu(client), commands(client), time.time()
        wait(lambda: finished(client) >= n, timeout=600, step=0.1)
        cpu1, cmd1, t1 = redis_cpu(client), commands(client), time.time()
        done = finished(client)
        return {
            "occurrences": done,
            "seconds": t1 - t0,
            "redis_cpu": cpu1 - cpu0,
            "commands": (cmd1 - cmd0) / max(1, done),
            "bytes_per_job": per_job,
        }
    finally:
        for child in children:
            child.stop()
        target.terminate()
        target.wait()
        stop(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.redis_capacity")
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cronplane-capacity-") as tmp:
        m = measure(args.jobs, Path(tmp))
    per_core = m["occurrences"] / m["redis_cpu"] if m["redis_cpu"] else float("inf")
    print(f"{int(m['occurrences'])} occurrences due at once, dispatched, called and recorded in {m['seconds']:.1f} s")
    print("| Redis CPU per occurrence | commands per occurrence | occurrences per Redis core-second | bytes per job |")
    print("|---|---|---|---|")
    print(
        f"| {m['redis_cpu'] / m['occurrences'] * 1e6:.0f} µs | {m['commands']:.1f} | {per_core:,.0f} | "
        f"{m['bytes_per_job']:,.0f} |"
    )
    return 0 if m["occurrences"] >= args.jobs else 1


if __name__ == "__main__":
    sys.exit(main())
