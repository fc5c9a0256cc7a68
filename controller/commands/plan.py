"""``cronplane plan PATH``: exactly what ``apply`` would write, with the fire-time diff; never writes.

It builds the plan with the same function and inputs as ``apply`` and the controller
(``SyncLoop.plan``); ``--base-ref`` swaps the observed state for the manifests at a git revision,
as if that revision had been applied (no Redis needed).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from controller.commands.common import redis_url, redis_url_arg, require_manifests
from controller.commands.next import parse_now
from controller.core.quota import load_documents
from controller.core.reconcile.plan import (
    collection_record,
    collection_states,
    desired_status,
    is_active,
    job_record,
    make_plan,
)
from controller.core.reconcile.render import RENDERERS
from controller.core.reconcile.rows import Observed, ObservedJob, Plan, PlanOptions
from controller.errors import UsageError
from controller.runtime import connect
from controller.settings import ControllerSettings
from controller.sources.directory import DirectorySource
from controller.sources.git import files_at
from controller.state.desired import DesiredStore
from controller.state.overrides import OverrideStore
from controller.sync import SyncLoop, read_desired

EXIT_CODES = "exit 0: no changes · 1: problems (invalid or rejected manifests, a blocked prune) · 2: changes"


def register(sub: Any) -> None:
    p = sub.add_parser("plan", help="show what apply would change, and how fire times move")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--prune", action="store_true", help="plan the deletions `apply --prune` would make")
    p.add_argument("--allow-mass-delete", action="store_true", help="with --prune: ignore the prune cap")
    p.add_argument("--output", "-o", choices=tuple(RENDERERS), default="text")
    p.add_argument("--now", help="evaluate as of this ISO 8601 instant (default: now)")
    p.add_argument("--detailed-exitcode", action="store_true", help=EXIT_CODES)
    p.add_argument("--base-ref", help="compare with the manifests at this git revision instead of Redis")
    redis_url_arg(p)
    p.set_defaults(run=run)


def prune_flags(args: argparse.Namespace) -> None:
    if args.allow_mass_delete and not args.prune:
        raise UsageError("--allow-mass-delete only makes sense with --prune")


def sync_for(path: str, url: str | None) -> SyncLoop:
    settings = ControllerSettings.from_env(redis_url=url)
    return SyncLoop(DirectorySource(path), DesiredStore(connect(settings), settings.keys), settings)


def options_for(args: argparse.Namespace) -> PlanOptions:
    settings = ControllerSettings.from_env()
    return PlanOptions(
        prune=args.prune,
        prune_cap=settings.prune_cap,
        allow_mass_delete=args.allow_mass_delete,
        next_runs_kept=settings.next_runs_shown,
    )


def observed_at(ref: str, path: str, now: datetime) -> Observed:
    """The store as if the manifests at ``ref`` had been applied at ``now``."""
    base = load_documents(files_at(ref, path), now)
    states = collection_states(base.collections)
    jobs = {}
    for j in base.jobs:
        record = job_record(j, generation=1, created_at=now, active=is_active(j, states), revision=None)
        jobs[str(j.key)] = ObservedJob(record, desired_status(j, 1, None))
    return Observed(jobs, {c.name: collection_record(c, None) for c in base.collections})


def exit_code(plan: Plan, detailed: bool) -> int:
    if plan.has_errors:
        return 1
    return 2 if detailed and plan.has_changes else 0


def run(args: argparse.Namespace) -> int:
    prune_flags(args)
    if args.base_ref and args.redis_url:
        raise UsageError("--base-ref compares with a git revision and does not read Redis; drop --redis-url")
    require_manifests(args.path)
    now = parse_now(args.now)
    options = options_for(args)
    if args.base_ref:
        plan = make_plan(
            read_desired(DirectorySource(args.path), now), observed_at(args.base_ref, args.path, now), now, options
        )
    else:
        sync = sync_for(args.path, redis_url(args))
        plan = sync.plan(now, options)
    print(RENDERERS[args.output](plan))
    if not args.base_ref and args.output != "json":  # operator overrides: drift from the manifests
        for line in OverrideStore(sync.store.r, sync.store.keys).all_active():
            print(line)
    return exit_code(plan, args.detailed_exitcode)
