"""Worker benchmark: invocations per second of one ``cronplane worker`` calling a local HTTP
endpoint, against a bare RQ worker (same class, ``rq worker``) running a no-op function on the
same payloads, in the same run (target: at least half of the bare worker's rate).

``python -m benchmarks.worker_bench [N]`` (default 1,000 jobs; ``CRONPLANE_BENCH_INVOCATIONS``).
Both workers run in burst mode as processes; each round uses a fresh database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rq import Queue

from benchmarks.controller_bench import median, start_redis
from worker.contract import TASK, Invocation, RetryPolicy, invocation_id

ROOT = Path(__file__).resolve().parents[1]


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        return


def payloads(n: int, uri: str) -> list[dict[str, Any]]:
    action = {"type": "http", "request": {"method": "POST", "uri": uri, "body": "x"}}
    return [
        Invocation(
            invocation_id("bench", "w", 1_000_000 + i),
            "bench",
            "w",
            1_000_000 + i,
            1,
            action,
            RetryPolicy("none", 0, 0),
            RetryPolicy("none", 0, 0),
        ).to_dict()
        for i in range(n)
    ]


def timed_burst(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else int(os.environ.get("CRONPLANE_BENCH_INVOCATIONS", "1000"))
    rounds = int(os.environ.get("CRONPLANE_BENCH_ROUNDS", "3"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{server.server_address[1]}/hook"
    bare, ours = [], []
    with tempfile.TemporaryDirectory(prefix="cronplane-wbench-") as tmp:
        proc, client = start_redis(Path(tmp))
        url = f"redis://127.0.0.1:{client.connection_pool.connection_kwargs['port']}/0"
        env = {**os.environ, "REDIS_URL": url, "PYTHONPATH": str(ROOT)}
        rq_bin = str(Path(sys.executable).with_name("rq"))
        try:
            for _ in range(rounds):
                client.flushall()
                Queue("bare", connection=client).enqueue_many(
                    [Queue.prepare_data("benchmarks.noop.noop", (p,), job_id=p["id"]) for p in payloads(n, uri)]
                )
                bare.append(timed_burst([rq_bin, "worker", "--burst", "--url", url, "bare"], env))
                client.flushall()
                Queue("cronplane", connection=client).enqueue_many(
                    [Queue.prepare_data(TASK, (p,), job_id=p["id"]) for p in payloads(n, uri)]
                )
                ours.append(timed_burst([sys.executable, "-m", "controller.cli", "worker", "--burst"], env))
                done = client.zcard("cp:history:bench/w")
                assert done == n, f"{done} of {n} invocations recorded"
        finally:
            proc.terminate()
            proc.wait()
            server.shutdown()
    b, o = median(bare), median(ours)
    print(f"invocations: {n}; rounds: {rounds} (medians)")
    print(f"{'worker':<52}{'seconds':>10}{'per second':>14}")
    print(f"{'bare RQ worker, no-op function (baseline)':<52}{b:>10.2f}{n / b:>14.1f}")
    print(f"{'cronplane worker, HTTP POST to a local endpoint':<52}{o:>10.2f}{n / o:>14.1f}")
    print(f"cronplane rate / bare RQ rate: {b / o:.2f} (target >= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
