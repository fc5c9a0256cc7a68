"""Helpers for the worker fault tests: real ``cronplane worker`` processes, enqueueing as the
dispatcher does, finding the process that runs a job."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import redis
from rq import Queue, Retry

from tests.integration.test_worker_http import write_desired
from tests.peers.ports import stop_process
from tests.peers.rq_worker import ROOT, worker_env
from worker.contract import TASK, Invocation


def start_worker(redis_url: str, name: str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "controller.cli", "worker", "--redis-url", redis_url, "--name", name, *extra]
    return subprocess.Popen(args, cwd=ROOT, env=worker_env(redis_url), stdout=log.open("wb"), stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    stop_process(proc, timeout=20)


def enqueue(redis_url: str, inv: Invocation, retries: int = 3) -> None:
    client = redis.Redis.from_url(redis_url)
    write_desired(client, inv.job)
    retry = {"retry": Retry(max=retries)} if retries else {}  # no Retry: no abandoned-work retry
    Queue("cronplane", connection=client).enqueue(
        TASK, inv.to_dict(), job_id=inv.id, unique=True, job_timeout=60, **retry
    )


def holder_pid(client: redis.Redis, job_id: str) -> int:
    """PID of the worker process that runs ``job_id`` (from RQ's job and worker records)."""
    worker = client.hget(f"rq:job:{job_id}", "worker_name")
    assert worker, "the job is not started"
    return int(client.hget(f"rq:worker:{worker}", "pid") or 0)


def ended(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """The exit code, or an assertion error (and a kill) if it runs past ``timeout``."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"the worker did not exit within {timeout} s") from None
