"""`make demo` runs the real system: its own Redis, controller, worker, API server and HTTP target;
runs show up as they happen; however it stops (the end of ``--duration``, Ctrl-C, SIGTERM) it
stops its children in order (Redis last, so nothing it started sees Redis vanish), prints no
traceback and leaves no process or temporary directory behind. A busy port is one line and exit
1, before anything is started.

Each run gets free ports (``--port``, ``--target-port``) and its own ``TMPDIR``, so the tests
never meet another run of the demo on the machine's 8080 and 8765.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.peers.ports import free_port
from tests.peers.rq_worker import ROOT


def demo_command(*args: str) -> list[str]:
    ports = ["--port", str(free_port()), "--target-port", str(free_port())]
    return [sys.executable, "-m", "controller.cli", "demo", *ports, *args]


def demo_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return {**env, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}


def private_tmp(tmp_path: Path) -> Path:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return tmp


def leftovers(tmp: Path, redis_port: int | None) -> list[str]:
    """Processes whose command line names the demo's temporary directory or its Redis port."""
    marks = [str(tmp)] + ([f"127.0.0.1:{redis_port}"] if redis_port else [])
    ps = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout.splitlines()
    return [line for line in ps if any(m in line for m in marks) and " Z" not in line and "ps -eo" not in line]


def redis_port(text: str) -> int:
    found = re.search(r"started a local Redis at redis://127.0.0.1:(\d+)", text)
    assert found, text[-3000:]
    return int(found.group(1))


def check_clean(tmp: Path, port: int | None) -> None:
    assert list(tmp.iterdir()) == [], "the demo's temporary directory is removed"
    assert leftovers(tmp, port) == [], "nothing the demo started is still running"
    if port:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, "the demo's Redis is still running"


def test_demo_shows_runs_and_cleans_up(tmp_path: Path) -> None:
    tmp = private_tmp(tmp_path)
    out = subprocess.run(
        demo_command("--duration", "14"), cwd=ROOT, env=demo_env(tmp), capture_output=True, text=True, timeout=90
    )
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    assert re.search(r"history demo/heartbeat #1 MainAction completed", text), text[-3000:]
    assert re.search(r"history demo/heartbeat #2 MainAction completed", text)
    assert "history demo/flaky #1 ErrorAction completed" in text
    assert "Traceback" not in out.stdout + out.stderr, out.stderr[-3000:]
    check_clean(tmp, redis_port(text))


@contextmanager
def running_demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, Path]]:
    tmp = private_tmp(tmp_path)
    errors = tmp_path / "demo.err"
    with errors.open("w") as sink:
        proc = subprocess.Popen(
            demo_command(), cwd=ROOT, env=demo_env(tmp), stdout=subprocess.PIPE, stderr=sink, text=True
        )
    try:
        yield proc, tmp, errors
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def read_until(proc: subprocess.Popen[str], pattern: str, timeout: float = 60) -> str:
    assert proc.stdout is not None
    seen, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
        if re.search(pattern, line):
            return seen
    raise AssertionError(f"no {pattern!r} in the demo's output:\n{seen[-3000:]}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_demo_stops_in_order_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    with running_demo(tmp_path) as (proc, tmp, errors):
        seen = read_until(proc, r"history demo/heartbeat #1 MainAction completed")
        proc.send_signal(sig)
        rest, _ = proc.communicate(timeout=60)
    stdout, stderr = seen + rest, errors.read_text()
    assert proc.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stdout + stderr, stderr[-3000:]
    assert "stopping ..." in stdout
    # The controller stopped (and said so) before Redis did: it never saw Redis go away.
    assert re.search(r"controller \S+ stopped; lease released", stderr), stderr[-3000:]
    assert "Redis connection lost" not in stderr, stderr[-3000:]
    check_clean(tmp, redis_port(stdout))


@pytest.mark.parametrize("which", ["--target-port", "--port"])
def test_a_busy_port_is_one_line_and_leaves_nothing(tmp_path: Path, which: str) -> None:
    tmp = private_tmp(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [*demo_command(), which, str(port)], cwd=ROOT, env=demo_env(tmp), capture_output=True, text=True, timeout=60
        )
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("cronplane: "), out.stderr
    assert f"{port}" in out.stderr and "in use" in out.stderr
    assert out.stdout == ""
    check_clean(tmp, None)
