"""``cronplane worker``: run the workers that perform invocations (see ``worker.cli``)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from controller.errors import CronplaneError, UsageError
from worker.cli import CliError, run_worker

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def register(sub: Any) -> None:
    p = sub.add_parser("worker", help="run workers (RQ workers) that perform invocations, many at once")
    p.add_argument("--queues", nargs="+", help="queues to listen on (default: cronplane)")
    p.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL"), help="default: $REDIS_URL")
    p.add_argument("--name", help="worker name (default: random; <name>-<n> per process)")
    p.add_argument("--processes", type=int, help="worker processes (default: one per core)")
    p.add_argument(
        "--concurrency", type=int, help="invocations in flight per process (default 100; $CRONPLANE_WORKER_CONCURRENCY)"
    )
    p.add_argument(
        "--log-level", type=str.upper, choices=LEVELS, default="INFO", help="default INFO: a line per attempt"
    )
    p.add_argument("--quiet", action="store_true", help="only failures and warnings (--log-level WARNING)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    level = "WARNING" if args.quiet else args.log_level
    try:
        return run_worker(args.redis_url, args.queues, args.burst, args.name, args.processes, args.concurrency, level)
    except CliError as e:
        raise (UsageError if e.code == 2 else CronplaneError)(str(e)) from None
