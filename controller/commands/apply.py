"""``cronplane apply PATH [--prune] [--dry-run]``: one-shot reconcile of manifests into Redis."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from typing import Any

from controller.commands.next import parse_now
from controller.core.plan import DELETED
from controller.core.render import as_text
from controller.runtime import connect
from controller.settings import ControllerSettings
from controller.sources.directory import DirectorySource
from controller.state.desired import DesiredStore
from controller.sync import SyncLoop


def register(sub: Any) -> None:
    p = sub.add_parser("apply", help="reconcile manifests into Redis once")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--prune", action="store_true", help="delete jobs whose manifests are gone")
    p.add_argument("--allow-mass-delete", action="store_true", help="prune even above the prune cap (25%%)")
    p.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    p.add_argument("--now", help=argparse.SUPPRESS)
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL"), help="default: $REDIS_URL")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = ControllerSettings.from_env(redis_url=args.redis_url)
    if args.allow_mass_delete:
        settings = replace(settings, prune_cap=1.0)
    sync = SyncLoop(DirectorySource(args.path), DesiredStore(connect(settings), settings.keys), settings)
    now = parse_now(args.now)
    if args.dry_run:
        plan, _ = sync.plan(now)
        print(as_text(plan, verbose=False))
        return 1 if plan.has_errors else 0
    report = sync.run_pass(now, prune=args.prune, allow_mass_delete=args.allow_mass_delete)
    if report.error or report.plan is None:
        print(f"cronplane: {report.error}")
        return 1
    plan = report.plan
    print(as_text(plan, verbose=False))
    kept = plan.of(DELETED)
    if kept and not args.prune:
        print(f"{len(kept)} job(s) not in {args.path} were kept (use --prune to delete them)")
    return 1 if plan.has_errors else 0
