"""``cronplane status [NAME]``: each job's condition, next and last runs, counters, source."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from controller.runtime import connect
from controller.settings import ControllerSettings
from controller.state.overrides import OverrideStore

FIELDS = (
    "condition",
    "reason",
    "nextExecutionTime",
    "lastExecutionTime",
    "lastScheduleTime",
    "executionCount",
    "failureCount",
    "faultedCount",
    "missedCount",
    "skippedCount",
    "observedGeneration",
    "source",
    "gitSha",
    "nextRuns",
)


def register(sub: Any) -> None:
    p = sub.add_parser("status", help="show jobs' conditions, next/last runs and counters")
    p.add_argument("name", nargs="?", help="one job (name or collection/name)")
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.add_argument("--allow-prune", action="store_true", help="let the controller's next pass prune above the cap")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL"), help="default: $REDIS_URL")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = ControllerSettings.from_env(redis_url=args.redis_url)
    r, keys = connect(settings), settings.keys
    if args.allow_prune:
        r.set(keys.prune_allowed(), "1", ex=3600)
        print("the next sync pass may prune above the cap")
    names = sorted(m.decode() for m in r.smembers(keys.jobs()))  # type: ignore[union-attr]
    if args.name:
        names = [n for n in names if args.name in (n, n.split("/", 1)[1])]
    rows = {}
    for n in names:
        h = {k.decode(): v.decode() for k, v in r.hgetall(keys.status(n)).items()}  # type: ignore[union-attr]
        row: dict[str, Any] = {f: h[f] for f in FIELDS if f in h}
        if "nextRuns" in row:
            row["nextRuns"] = json.loads(row["nextRuns"])
        rows[n] = row
    sync = {k.decode(): v.decode() for k, v in r.hgetall(keys.sync()).items()}  # type: ignore[union-attr]
    overrides = OverrideStore(r, keys).all_active()  # operator overrides: drift from the manifests
    if args.output == "json":
        print(json.dumps({"jobs": rows, "sync": sync, "overrides": overrides}, indent=2))
        return 0
    for n, row in rows.items():
        print(f"{n}: {row.get('condition', '?')} {row.get('reason', '')}".rstrip())
        print(
            f"    next {row.get('nextExecutionTime', '-')}  last {row.get('lastExecutionTime', '-')}  "
            f"runs {row.get('executionCount', 0)}  failures {row.get('failureCount', 0)}  "
            f"faulted {row.get('faultedCount', 0)}  missed {row.get('missedCount', 0)}  "
            f"source {row.get('source', '-')}  sha {row.get('gitSha') or '-'}"
        )
    for line in overrides:
        print(line)
    if sync.get("pruneBlocked"):
        print(f"prune blocked: {sync['pruneBlocked']}")
    if not rows:
        print("no jobs")
    return 0
