"""``cronplane worker`` and ``cronplane history``: build settings and clients, then run.

``cronplane worker`` runs one RQ worker per process (``worker.engine.CronplaneWorker``: ``rq info``
and rq-dashboard see each), one process per core by default (``worker.pool``).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import asdict
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from worker.contract import DEFAULT_QUEUE
from worker.engine import CronplaneWorker
from worker.health import RedisLink, wait_for
from worker.pool import run_pool
from worker.redis_url import RedisUrlError, redis_from_url
from worker.settings import SettingsError, WorkerSettings
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
    "trigger": "trigger",
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


def run_worker(
    redis_url: str | None,
    queues: list[str] | None,
    burst: bool,
    name: str | None = None,
    processes: int | None = None,
    concurrency: int | None = None,
    log_level: str = "INFO",
    grace: float | None = None,
) -> int:
    """``processes`` (default: one per core) RQ workers, each running up to ``concurrency``
    invocations at once; in-process when there is one. ``grace``: seconds a stopping worker lets
    its invocations finish before it hands them back."""
    if grace is not None and not 0 <= grace <= 86400:
        raise CliError("--grace must be between 0 and 86400 seconds", 2)
    try:
        settings = WorkerSettings.from_env(redis_url=redis_url, concurrency=concurrency, grace=grace)
    except SettingsError as e:
        raise CliError(str(e), 2) from None
    if processes is not None and processes < 1:
        raise CliError("--processes must be 1 or more", 2)
    if settings.concurrency < 1:
        raise CliError("--concurrency must be 1 or more", 2)
    connect(settings.redis_url).close()
    setup_logging(log_level)
    preload()
    count = processes or os.cpu_count() or 1
    base = name or uuid.uuid4().hex[:12]

    def start(index: int) -> int:
        worker_name = base if count == 1 else f"{base}-{index}"
        # redis-py's own retries (10, with backoff) would delay the command thread's
        # resubscription after an outage; the worker's loops do the waiting (worker.health).
        client = redis_from_url(
            settings.redis_url, socket_connect_timeout=2.0, retry=Retry(NoBackoff(), 1, (redis.ConnectionError,))
        )
        wait_for(client.ping, RedisLink(worker_name, logging.getLogger("cronplane.worker")))
        worker = CronplaneWorker(
            list(queues or [DEFAULT_QUEUE]), connection=client, settings=settings, name=worker_name
        )
        try:
            worker.work(burst=burst, logging_level=log_level)
        except ValueError as e:  # RQ: a live worker has this name
            logging.getLogger("cronplane.worker").error("Worker %s: %s", worker_name, e)
            return 1
        return 0

    if count == 1:
        return start(0)
    return run_pool(count, start, burst)


def setup_logging(level: str) -> None:
    """One handler for cronplane's per-attempt lines and RQ's worker messages."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    for name in ("cronplane", "rq.worker"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def preload() -> None:
    """Import every target once in the parent, so that each worker process inherits them."""
    import importlib

    from worker.targets import TARGETS

    for spec in set(TARGETS.values()):
        try:
            importlib.import_module(spec.partition(":")[0])
        except ImportError:  # an optional SDK missing: the target reports it per invocation
            pass


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
    parser.add_argument("--status", choices=("completed", "failed", "missed", "skipped", "abandoned", "interrupted"))
    parser.add_argument("--output", choices=("text", "json"), default="text")
