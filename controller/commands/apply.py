"""``cronplane apply PATH [--prune] [--dry-run]``: one reconcile pass of manifests into Redis.

The pass is the controller's (``SyncLoop.run_pass``) with apply's options: jobs gone from the
manifests are kept unless ``--prune``. It prints the plan it applied, then one line saying what
happened; the exit code is 1 whenever a problem or a blocked deletion remains.
"""

from __future__ import annotations

import argparse
from typing import Any

from controller.commands.common import redis_url, redis_url_arg, require_manifests
from controller.commands.next import parse_now
from controller.commands.plan import exit_code, options_for, prune_flags, sync_for
from controller.core.reconcile.render import RENDERERS
from controller.core.reconcile.rows import Action, Plan


def register(sub: Any) -> None:
    p = sub.add_parser("apply", help="reconcile manifests into Redis once")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--prune", action="store_true", help="delete jobs whose manifests are gone")
    p.add_argument("--allow-mass-delete", action="store_true", help="with --prune: delete even above the prune cap")
    p.add_argument("--dry-run", action="store_true", help="print the plan, write nothing (same as plan)")
    p.add_argument("--output", "-o", choices=tuple(RENDERERS), default="text")
    p.add_argument("--now", help=argparse.SUPPRESS)
    redis_url_arg(p)
    p.set_defaults(run=run)


def outcome(plan: Plan, written: int) -> str:
    parts = [f"{written} job(s) written"]
    for action in (Action.CREATE, Action.UPDATE, Action.DELETE, Action.KEEP, Action.BLOCKED):
        n = len(plan.of(action))
        if n:
            parts.append(f"{n} {action.value}")
    problems = len(plan.problems)
    if problems:
        parts.append(f"{problems} problem(s): fix them and apply again")
    return "Applied: " + ", ".join(parts) + "."


def run(args: argparse.Namespace) -> int:
    prune_flags(args)
    require_manifests(args.path)
    sync = sync_for(args.path, redis_url(args))
    now = parse_now(args.now)
    options = options_for(args)
    if args.dry_run:
        plan = sync.plan(now, options)
        print(RENDERERS[args.output](plan))
        return exit_code(plan, detailed=False)
    report = sync.run_pass(now, options)
    print(RENDERERS[args.output](report.plan))
    if args.output in ("text", "wide"):
        print(outcome(report.plan, len(report.written)))
    return exit_code(report.plan, detailed=False)
