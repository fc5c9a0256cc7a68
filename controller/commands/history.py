"""``cronplane history NAME``: a job's history, newest first (see ``worker.cli``)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from controller.errors import CronplaneError, UsageError
from worker.cli import CliError, history_args, show_history


def register(sub: Any) -> None:
    p = sub.add_parser("history", help="show a job's execution history, newest first")
    history_args(p)
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL"), help="default: $REDIS_URL")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        return show_history(args.redis_url, args.name, args.collection, args.top, args.skip, args.status, args.output)
    except CliError as e:
        raise (UsageError(str(e)) if e.code == 2 else CronplaneError(str(e))) from None
