"""``cronplane get jobs|collections [--collection C] [-w]``: what runs, at a glance (kubectl get)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from controller.api.reads import JobView, Reads
from controller.api.service import describe_schedule
from controller.commands.common import add_output, collection_name, emit, reads, redis_url_arg


def register(sub: Any) -> None:
    p = sub.add_parser("get", help="list jobs or collections with state, condition, next and last runs")
    p.add_argument("kind", choices=("jobs", "job", "collections", "collection"))
    p.add_argument("--collection", help="only this collection's jobs")
    p.add_argument("-w", "--watch", action="store_true", help="refresh every 2 seconds until Ctrl-C")
    p.add_argument("--interval", type=float, default=2.0, help=argparse.SUPPRESS)
    p.add_argument("--iterations", type=int, default=0, help=argparse.SUPPRESS)  # tests: stop after N
    add_output(p)
    redis_url_arg(p)
    p.set_defaults(run=run)


def job_row(v: JobView) -> dict[str, Any]:
    st = v.status
    return {
        "job": v.key,
        "state": str(v.spec.get("state", "enabled")),
        "condition": v.condition,
        "reason": st.get("reason", ""),
        "schedule": describe_schedule(v.spec),
        "nextRun": st.get("nextExecutionTime"),
        "lastRun": st.get("lastExecutionTime"),
        "lastResult": st.get("lastResult"),
        "executionCount": int(st.get("executionCount", 0) or 0),
        "failureCount": int(st.get("failureCount", 0) or 0),
        "faultedCount": int(st.get("faultedCount", 0) or 0),
        "missedCount": int(st.get("missedCount", 0) or 0),
        "drift": v.suspension.describe() if v.suspension else None,
    }


def rows(r: Reads, kind: str, collection: str | None) -> list[dict[str, Any]]:
    if kind.startswith("collection"):
        names = list(r.collections())
        suspended = r.collection_suspensions(names)
        counts = {n: 0 for n in names}
        for job in r.job_names():
            counts[job.split("/", 1)[0]] = counts.get(job.split("/", 1)[0], 0) + 1
        return [
            {"collection": n, "jobs": counts.get(n, 0), "drift": s.describe() if (s := suspended.get(n)) else None}
            for n in names
        ]
    views = r.jobs()
    return [job_row(v) for v in views if collection is None or v.collection == collection]


def table(kind: str, data: list[dict[str, Any]]) -> Table:
    t = Table(box=None, header_style="bold", pad_edge=False)
    if kind.startswith("collection"):
        for col in ("COLLECTION", "JOBS", "DRIFT"):
            t.add_column(col)
        for d in data:
            t.add_row(d["collection"], str(d["jobs"]), d["drift"] or "")
        return t
    for col in ("JOB", "STATE", "CONDITION", "SCHEDULE", "NEXT RUN", "LAST RUN", "RESULT", "RUNS", "FAILED", "DRIFT"):
        t.add_column(col, no_wrap=col != "SCHEDULE")
    for d in data:
        t.add_row(
            d["job"],
            d["state"],
            d["condition"],
            d["schedule"],
            d["nextRun"] or "-",
            (d["lastRun"] or "-")[:19],
            d["lastResult"] or "-",
            str(d["executionCount"]),
            str(d["failureCount"]),
            "suspended" if d["drift"] else "",
        )
    return t


def console() -> Console:
    """The terminal's width, or a wide page when the output goes to a file or a pipe."""
    return Console() if sys.stdout.isatty() else Console(width=220)


def run(args: argparse.Namespace) -> int:
    collection = collection_name(args.collection) if args.collection else None
    r = reads(args)
    data = rows(r, args.kind, collection)
    if not args.watch:
        if not emit(data, args.output):
            if data:
                console().print(table(args.kind, data))
            else:
                print("no collections" if args.kind.startswith("collection") else "no jobs")
        return 0
    count = 0
    with Live(table(args.kind, data), refresh_per_second=2, console=console()) as live:
        while not args.iterations or count < args.iterations:
            time.sleep(args.interval)
            live.update(table(args.kind, rows(r, args.kind, collection)))
            count += 1
    return 0
