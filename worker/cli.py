"""``cronplane worker`` and ``cronplane history``: build settings and clients, then run.

The worker is a plain RQ worker (``rq info`` and rq-dashboard see it) with RQ's scheduler
enabled, which starts scheduled retries within a second of their due time.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

import redis
from rq import Worker

from worker.contract import DEFAULT_QUEUE
from worker.redis_url import RedisUrlError, redis_from_url
from worker.settings import WorkerSettings
from worker.store import history_page

CAMEL = {
    "job": "job",
    "invocation_id": "invocationId",
    "expected_execution_time": "expectedExecutionTime",
    "start_time": "startTime",
    "end_time": "endTime",
    "action_name": "actionName",
    "status": "status",
    "retry_count": "retryCount",
    "repeat_count": "repeatCount",
    "message": "message",
    "git_sha": "gitSha",
    "generation": "generation",
}


class CliError(Exception):
    """A user mistake or an unreachable Redis: one line, exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def connect(url: str) -> redis.Redis:
    try:
        client = redis_from_url(url)
    except RedisUrlError as e:
        raise CliError(f"--redis-url: {e}", 2) from None
    try:
        client.ping()
    except redis.RedisError as e:
        raise CliError(f"cannot reach Redis at {url}: {e.__class__.__name__}") from None
    return client


def run_worker(redis_url: str | None, queues: list[str] | None, burst: bool, name: str | None = None) -> int:
    settings = WorkerSettings.from_env(redis_url=redis_url)
    connection = connect(settings.redis_url)
    preload(settings)
    # The worker blocks on the queue for worker_ttl - 15 s and runs maintenance (which requeues the
    # invocations of dead workers) only between waits, so the two intervals are tied together.
    worker = Worker(
        queues or [DEFAULT_QUEUE],
        connection=connection,
        name=name,
        maintenance_interval=settings.maintenance_interval,
        worker_ttl=max(20, settings.maintenance_interval + 15),
    )
    worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
    return 0


def preload(settings: WorkerSettings) -> None:
    """Import the task and every target, and load the trust store, once in the parent: RQ forks a
    work horse per invocation, and each would otherwise pay for these imports again."""
    import importlib

    from worker.targets import TARGETS
    from worker.targets.http_auth import default_context

    importlib.import_module("worker.tasks")
    for spec in set(TARGETS.values()):
        try:
            importlib.import_module(spec.partition(":")[0])
        except ImportError:  # an optional SDK missing: the target reports it per invocation
            pass
    import httpx

    # httpx imports its transport (httpcore, h11, idna) when the first client is built: do it here.
    httpx.Client(verify=default_context(settings.ca_bundle)).close()


def show_history(
    redis_url: str | None, name: str, collection: str | None, top: int, skip: int, status: str | None, output: str
) -> int:
    if not 1 <= top <= 100:
        raise CliError("--top must be between 1 and 100 (as Azure's $top)", 2)
    if skip < 0:
        raise CliError("--skip must be 0 or more", 2)
    settings = WorkerSettings.from_env(redis_url=redis_url)
    job = name if "/" in name else f"{collection or 'default'}/{name}"
    entries = history_page(
        connect(settings.redis_url),
        settings.keys,
        job,
        top=top,
        skip=skip,
        status=status,
        max_age_seconds=settings.history_max_age_seconds,
        now_ms=int(time.time() * 1000),
    )
    if output == "json":
        print(json.dumps([{CAMEL[k]: v for k, v in asdict(e).items()} for e in entries], indent=2))
        return 0
    if not entries:
        print(f"no history for {job}")
    for e in entries:
        first = e.message.splitlines()[0] if e.message else ""
        print(
            f"{e.start_time[:19]}Z  {e.status:9}  {e.action_name:11}  #{e.repeat_count} retry {e.retry_count}  "
            f"due {e.expected_execution_time}  {first}"
        )
    return 0


def history_args(parser: Any) -> None:
    parser.add_argument("name", metavar="NAME", help="job name, or collection/name")
    parser.add_argument("--collection", help="collection (default: default)")
    parser.add_argument("--top", type=int, default=20, help="entries to show, 1..100 (default 20)")
    parser.add_argument("--skip", type=int, default=0, help="newest entries to skip")
    parser.add_argument("--status", choices=("completed", "failed", "missed", "skipped"))
    parser.add_argument("--output", choices=("text", "json"), default="text")
