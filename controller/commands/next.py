"""``cronplane next PATH``: a job's next occurrences, as if created at ``--now``."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from controller.core.model import Job, parse_instant
from controller.core.recurrence import Schedule
from controller.errors import PermanentError, UsageError
from controller.sources.directory import load_paths


def register(sub: Any) -> None:
    p = sub.add_parser("next", help="print a job's next occurrences")
    p.add_argument("path", metavar="PATH", help="manifest file or directory")
    p.add_argument("--job", help="job name (or collection/name); needed when PATH holds several jobs")
    p.add_argument("--now", help="evaluate as if the job were created at this ISO 8601 instant (default: now)")
    p.add_argument("--count", type=int, default=10, help="how many occurrences (default 10)")
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.set_defaults(run=run)


def parse_now(text: str | None) -> datetime:
    """The --now flag (UTC when it has no offset); the clock when absent."""
    if text is None:
        return datetime.now(UTC)
    try:
        return parse_instant(text, UTC)  # type: ignore[arg-type]
    except ValueError as e:
        raise UsageError(f"--now: {text!r} is not an ISO 8601 date-time") from e


def pick_job(jobs: list[Job], wanted: str | None) -> Job:
    if wanted:
        matches = [j for j in jobs if wanted in (j.key.name, str(j.key))]
        if len(matches) == 1:
            return matches[0]
        names = ", ".join(sorted(str(j.key) for j in jobs)) or "none"
        raise PermanentError(f"job {wanted!r} {'is ambiguous' if matches else 'not found'}; jobs: {names}")
    if len(jobs) != 1:
        names = ", ".join(sorted(str(j.key) for j in jobs)) or "none"
        raise UsageError(f"{len(jobs)} jobs found; choose one with --job ({names})")
    return jobs[0]


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.count <= 10_000:
        raise UsageError("--count must be between 1 and 10000")
    now = parse_now(args.now)
    result = load_paths([args.path], now)
    if result.problems:
        for problem in result.problems:
            print(problem)
        return 1
    job = pick_job(result.jobs, args.job)
    timing = job.spec.timing
    occurrences = Schedule(timing, now).upcoming(args.count)
    if args.output == "json":
        print(
            json.dumps(
                {
                    "job": str(job.key),
                    "timeZone": timing.time_zone,
                    "occurrences": [o.at.strftime("%Y-%m-%dT%H:%M:%SZ") for o in occurrences],
                },
                indent=2,
            )
        )
        return 0
    print(f"{job.key} (time zone {timing.time_zone}), as if created at {now.strftime('%Y-%m-%dT%H:%M:%SZ')}:")
    for o in occurrences:
        local = o.at.astimezone(timing.zone)
        print(f"  #{o.number:<4} {o.at.strftime('%Y-%m-%dT%H:%M:%SZ')}   {local.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    if len(occurrences) < args.count:
        print("  (no further occurrences: the job completes)")
    return 0
