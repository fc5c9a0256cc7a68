"""``cronplane plan PATH``: what apply would change, with the fire-time diff; never writes."""

from __future__ import annotations

import argparse
import os
from typing import Any

from controller.commands.next import parse_now
from controller.core.plan import ObservedJob, is_active, make_plan
from controller.core.quota import load_documents
from controller.core.render import RENDERERS
from controller.runtime import connect
from controller.settings import ControllerSettings
from controller.sources.directory import DirectorySource
from controller.sources.git import files_at
from controller.state.desired import DesiredStore
from controller.state.overrides import OverrideStore


def register(sub: Any) -> None:
    p = sub.add_parser("plan", help="show what apply would change, and how fire times move")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--output", choices=tuple(RENDERERS), default="text")
    p.add_argument("--now", help="evaluate as of this ISO 8601 instant (default: now)")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 0 no changes, 2 changes, 1 errors")
    p.add_argument("--base-ref", help="compare with the manifests at this git revision instead of Redis")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL"), help="default: $REDIS_URL")
    p.set_defaults(run=run)


def observed_at(ref: str, path: str, now: Any) -> dict[str, ObservedJob]:
    base = load_documents(files_at(ref, path), now)
    states = {c.name: c.state for c in base.collections}
    from controller.core.model import DEFAULT_COLLECTION, CollectionState

    states.setdefault(DEFAULT_COLLECTION, CollectionState.ENABLED)
    return {
        str(j.key): ObservedJob(str(j.key), j.spec.raw, 1, now, str(j.source), is_active(j, states)) for j in base.jobs
    }


def run(args: argparse.Namespace) -> int:
    now = parse_now(args.now)
    snapshot = DirectorySource(args.path).read()
    desired = load_documents(snapshot.files, now)
    desired.problems[:0] = snapshot.problems
    if args.base_ref:
        observed = observed_at(args.base_ref, args.path, now)
    else:
        settings = ControllerSettings.from_env(redis_url=args.redis_url)
        client = connect(settings)
        observed = DesiredStore(client, settings.keys).observed()
    plan = make_plan(desired, observed, now, prune_cap=1.0)
    print(RENDERERS[args.output](plan))
    if not args.base_ref and args.output != "json":  # operator overrides: drift from the manifests
        for line in OverrideStore(client, settings.keys).all_active():
            print(line)
    if plan.has_errors:
        return 1
    return 2 if args.detailed_exitcode and plan.has_changes else 0
