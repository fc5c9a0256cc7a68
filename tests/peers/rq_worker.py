"""Real ``cronplane worker`` processes for tests: burst runs, or a long-running worker stopped by PID."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.peers.ports import stop_process

ROOT = Path(__file__).resolve().parents[2]


def worker_env(redis_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1", "CRONPLANE_MAINTENANCE_INTERVAL": "2"}
    env.update(extra or {})
    return env


def burst(
    redis_url: str, extra_env: Mapping[str, str] | None = None, timeout: float = 120, processes: int | None = None
) -> str:
    """Run one burst ``cronplane worker`` to completion; returns its combined output (the logs)."""
    extra = [] if processes is None else ["--processes", str(processes)]
    out = subprocess.run(
        [sys.executable, "-m", "controller.cli", "worker", "--burst", "--redis-url", redis_url, *extra],
        cwd=ROOT,
        env=worker_env(redis_url, extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


@contextmanager
def running_worker(
    redis_url: str, extra_env: Mapping[str, str] | None = None, log: Path | None = None, name: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    args = [sys.executable, "-m", "controller.cli", "worker", "--redis-url", redis_url]
    if name:
        args += ["--name", name]
    sink = log.open("wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(args, cwd=ROOT, env=worker_env(redis_url, extra_env), stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop_process(proc, timeout=15)
        if log and not isinstance(sink, int):
            sink.close()


def wait_until(condition: Callable[[], object], timeout: float = 30.0, every: float = 0.1) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")
