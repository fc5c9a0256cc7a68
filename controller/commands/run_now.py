"""``cronplane run-now NAME [--reason TEXT]``: one extra invocation, through RQ, a worker and history;
the schedule and ``count`` do not move (reference §7.4)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from controller.commands.common import add_output, emit, existing_job, reads, redis_url_arg, who
from controller.state.overrides import OverrideStore


def register(sub: Any) -> None:
    p = sub.add_parser("run-now", help="run a job once now, outside its schedule")
    p.add_argument("name", metavar="NAME", help="collection/name, or a name in the default collection")
    p.add_argument("--reason", default="", help="why (recorded in the history entry)")
    add_output(p)
    redis_url_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    r = reads(args)
    key = existing_job(r, args.name)
    reason = args.reason.strip() or "run now from the command line"
    req = OverrideStore(r.r, r.keys).request_run(key, reason, who(), datetime.now(UTC))
    data = {"job": key, "requestId": req.id, "reason": reason, "by": req.by, "requestedAt": req.at}
    if not emit(data, args.output):
        print(f"run-now of {key} requested ({req.id}); the controller enqueues it at once")
    return 0
