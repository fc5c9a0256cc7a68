"""``cronplane worker``: start an RQ worker that runs invocations (see ``worker.cli``)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from controller.errors import CronplaneError, UsageError
from worker.cli import CliError, run_worker


def register(sub: Any) -> None:
    p = sub.add_parser("worker", help="run a worker (an RQ worker) that performs invocations")
    p.add_argument("--queues", nargs="+", help="queues to listen on (default: cronplane)")
    p.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL"), help="default: $REDIS_URL")
    p.add_argument("--name", help="worker name (default: RQ's)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        return run_worker(args.redis_url, args.queues, args.burst, args.name)
    except CliError as e:
        raise (UsageError(str(e)) if e.code == 2 else CronplaneError(str(e))) from None
