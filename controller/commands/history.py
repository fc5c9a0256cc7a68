"""``cronplane history NAME``: a job's history, newest first (see ``worker.cli``)."""

from __future__ import annotations

import argparse
from typing import Any

from controller.commands.common import redis_url, redis_url_arg
from controller.core.model import DEFAULT_COLLECTION
from controller.errors import CronplaneError, PermanentError, UsageError
from controller.runtime import connect
from controller.settings import ControllerSettings
from worker.cli import CliError, history_args, show_history


def register(sub: Any) -> None:
    p = sub.add_parser("history", help="show a job's execution history, newest first")
    history_args(p)
    redis_url_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = ControllerSettings.from_env(redis_url=redis_url(args))
    client = connect(settings)
    job = args.name if "/" in args.name else f"{args.collection or DEFAULT_COLLECTION}/{args.name}"
    known = client.sismember(settings.keys.jobs(), job) or client.exists(settings.keys.history(job))
    if not known:
        raise PermanentError(f"no such job: {job} (and no history kept for it)")
    try:
        return show_history(redis_url(args), args.name, args.collection, args.top, args.skip, args.status, args.output)
    except CliError as e:
        raise (UsageError(str(e)) if e.code == 2 else CronplaneError(str(e))) from None
