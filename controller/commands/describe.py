"""``cronplane describe job NAME``: spec (secrets redacted), condition, next runs, history, source,
git SHA and active overrides (kubectl describe)."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from controller.api.reads import Reads
from controller.api.service import describe_schedule, upcoming
from controller.api.shapes import redact
from controller.commands.common import add_output, emit, existing_collection, existing_job, reads, redis_url_arg


def register(sub: Any) -> None:
    p = sub.add_parser("describe", help="show one job (or collection) in full")
    p.add_argument("kind", choices=("job", "collection"))
    p.add_argument("name", metavar="NAME", help="collection/name, or a name in the default collection")
    add_output(p)
    redis_url_arg(p)
    p.set_defaults(run=run)


def job_facts(r: Reads, key: str, now: datetime) -> dict[str, Any]:
    v = r.job(key)
    assert v is not None
    zone = str(v.spec.get("timeZone") or "UTC")
    runs = upcoming(v, 10, now) if v.active else []
    return {
        "job": key,
        "condition": v.condition,
        "reason": v.status.get("reason", ""),
        "schedule": describe_schedule(v.spec),
        "timeZone": zone,
        "source": v.source,
        "gitSha": v.git_sha or None,
        "labels": dict(v.labels),
        "overrides": [v.suspension.describe()] if v.suspension else [],
        "counters": {
            k: int(v.status.get(k, 0) or 0)
            for k in ("executionCount", "failureCount", "faultedCount", "missedCount", "skippedCount")
        },
        "nextRuns": [{"utc": t, "local": _local(t, zone)} for t in runs],
        "history": [
            {
                "startTime": e.start_time,
                "status": e.status,
                "action": e.action_name,
                "repeatCount": e.repeat_count,
                "retryCount": e.retry_count,
                "trigger": dict(e.trigger) if e.trigger else None,
                "message": e.message.splitlines()[0] if e.message else "",
            }
            for e in r.history(key, top=10, now=now.timestamp())
        ],
        "spec": redact(v.spec),
    }


def _local(iso: str, zone: str) -> str:
    return (
        datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")
    )


def print_job(f: dict[str, Any]) -> None:
    print(f"Job:          {f['job']}")
    print(f"Condition:    {f['condition']}" + (f" ({f['reason']})" if f["reason"] else ""))
    print(f"Schedule:     {f['schedule']}")
    print(f"Source:       {f['source'] or '-'}   git SHA: {f['gitSha'] or '-'}")
    c = f["counters"]
    print(
        f"Counters:     runs {c['executionCount']}  failures {c['failureCount']}  faulted {c['faultedCount']}  "
        f"missed {c['missedCount']}  skipped {c['skippedCount']}"
    )
    print("Overrides:    " + ("; ".join(f["overrides"]) if f["overrides"] else "none (matches the manifests)"))
    print(f"Next runs (UTC / {f['timeZone']}):")
    for run in f["nextRuns"] or [{"utc": "none", "local": ""}]:
        print(f"  {run['utc']}   {run['local']}")
    print("Last history entries:")
    if not f["history"]:
        print("  none")
    for e in f["history"]:
        manual = f"  manual by {e['trigger'].get('by')}: {e['trigger'].get('reason')}" if e["trigger"] else ""
        where = f"#{e['repeatCount']} retry {e['retryCount']}"
        print(f"  {e['startTime'][:19]}  {e['status']:9} {e['action']:11} {where}  {e['message'][:60]}{manual}")
    print("Spec (secrets are never shown):")
    for line in yaml.safe_dump(f["spec"], sort_keys=False).splitlines():
        print(f"  {line}")


def run(args: argparse.Namespace) -> int:
    r = reads(args)
    now = datetime.fromtimestamp(time.time(), UTC)
    if args.kind == "collection":
        name = existing_collection(r, args.name)
        jobs = [v.key for v in r.jobs() if v.collection == name]
        s = r.collection_suspensions([name]).get(name)
        facts = {"collection": name, "jobs": jobs, "overrides": [s.describe()] if s else []}
        if not emit(facts, args.output):
            print(f"Collection:   {name}\nJobs:         {', '.join(jobs) or 'none'}")
            print("Overrides:    " + ("; ".join(facts["overrides"]) or "none (matches the manifests)"))
        return 0
    facts = job_facts(r, existing_job(r, args.name), now)
    if not emit(facts, args.output):
        print_job(facts)
    return 0
