"""``cronplane status [NAME]``: each job's derived condition, next and last runs, counters, source,
plus every problem of the last sync pass (jobs that were never valid, files that cannot be read).

Everything is read through the records' codecs (``controller.state.reader``), so what is shown
is what the controller and workers wrote, with the condition derived, never a stale copy.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from controller.commands.common import redis_url, redis_url_arg
from controller.core.model import DEFAULT_COLLECTION
from controller.errors import PermanentError
from controller.runtime import connect
from controller.settings import ControllerSettings
from controller.state.overrides import OverrideStore
from controller.state.reader import StatusReader
from controller.state.sync_record import SyncProblem, SyncRecord
from worker.records import (
    D_LAST_SCHEDULE_TIME,
    D_MISSED_COUNT,
    D_SKIPPED_COUNT,
    W_EXECUTION_COUNT,
    W_FAILURE_COUNT,
    W_FAULTED_COUNT,
    W_LAST_EXECUTION_TIME,
    W_LAST_RESULT,
    JobStatus,
)

COUNTERS = (W_EXECUTION_COUNT, W_FAILURE_COUNT, W_FAULTED_COUNT, D_MISSED_COUNT, D_SKIPPED_COUNT)


def register(sub: Any) -> None:
    p = sub.add_parser("status", help="show jobs' conditions, next/last runs, counters and sync problems")
    p.add_argument("name", nargs="?", help="one job: collection/name, or a name in the default collection")
    p.add_argument("--output", "-o", choices=("text", "json"), default="text")
    p.add_argument("--allow-prune", action="store_true", help="let the controller's next pass prune above the cap")
    redis_url_arg(p)
    p.set_defaults(run=run)


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resolve(name: str, names: list[str], problems: tuple[SyncProblem, ...]) -> str:
    """``collection/name``, a bare name in the default collection, or a bare name unique across
    collections; a job known only from the sync problems counts too."""
    known = sorted(set(names) | {p.job for p in problems if p.job})
    if "/" in name:
        if name in known:
            return name
    else:
        if f"{DEFAULT_COLLECTION}/{name}" in known:
            return f"{DEFAULT_COLLECTION}/{name}"
        matches = [k for k in known if k.split("/", 1)[1] == name]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise PermanentError(f"job {name!r} is ambiguous: {', '.join(matches)}; give collection/name")
    raise PermanentError(f"no such job: {name}")


def row(s: JobStatus) -> dict[str, Any]:
    f = s.fields
    out: dict[str, Any] = {
        "condition": s.condition.value,
        "reason": s.reason,
        "nextExecutionTime": iso(s.next_runs[0]) if s.next_runs else None,
        "nextRuns": [iso(t) for t in s.next_runs],
        "lastScheduleTime": f.get(D_LAST_SCHEDULE_TIME),
        "lastExecutionTime": f.get(W_LAST_EXECUTION_TIME),
        "lastResult": f.get(W_LAST_RESULT),
        **{c: s.counter(c) for c in COUNTERS},
    }
    if s.job is not None:
        sync = s.sync
        out.update(
            generation=s.job.generation,
            observedGeneration=sync.observed_generation if sync else None,
            source=sync.source if sync else s.job.source,
            gitSha=(sync.git_sha if sync else s.job.git_sha) or None,
            labels=dict(s.job.labels),
            active=s.job.active,
        )
    return out


def never_applied(problems: tuple[SyncProblem, ...], names: set[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in problems:
        if p.job and p.job not in names:
            out.setdefault(p.job, []).append(p.text)
    return out


def run(args: argparse.Namespace) -> int:
    settings = ControllerSettings.from_env(redis_url=redis_url(args))
    client = connect(settings)
    reader = StatusReader(client, settings.keys)
    if args.allow_prune:
        client.set(settings.keys.prune_allowed(), "1", ex=3600)
        print("the controller's next sync pass may prune above the cap (for one hour)")
    names = reader.job_names()
    sync = reader.last_sync()
    problems = sync.problems if sync else ()
    if args.name:
        wanted = resolve(args.name, names, problems)
        names = [n for n in names if n == wanted]
        problems = tuple(p for p in problems if p.job == wanted)
    rows = {s.name: row(s) for s in reader.statuses(names)}
    rejected = never_applied(problems, set(names))
    other = [p.text for p in problems if not p.job] if not args.name else []
    overrides = OverrideStore(client, settings.keys).all_active()  # operator overrides: drift from the manifests
    if args.output == "json":
        body = {"jobs": rows, "neverApplied": rejected, "problems": other, "sync": _sync(sync), "overrides": overrides}
        print(json.dumps(body, indent=2))
        return 0
    _print_text(rows, rejected, other, sync, show_empty=not args.name)
    for line in overrides:
        print(line)
    return 0


def _sync(sync: SyncRecord | None) -> dict[str, Any] | None:
    if sync is None:
        return None
    return {
        "at": sync.at,
        "result": sync.result,
        "revision": sync.revision or None,
        "error": sync.error or None,
        "prune": sync.prune,
        "pruneMessage": sync.prune_message or None,
        "problemCount": len(sync.problems),
    }


def _print_text(
    rows: dict[str, dict[str, Any]],
    rejected: dict[str, list[str]],
    other: list[str],
    sync: SyncRecord | None,
    show_empty: bool,
) -> None:
    for n, r in rows.items():
        print(f"{n}: {r['condition']} {r['reason']}".rstrip())
        print(
            f"    next {r['nextExecutionTime'] or '-'}  last {r['lastExecutionTime'] or '-'} {r['lastResult'] or ''}  "
            f"runs {r[W_EXECUTION_COUNT]}  failures {r[W_FAILURE_COUNT]}  faulted {r[W_FAULTED_COUNT]}  "
            f"missed {r[D_MISSED_COUNT]}  skipped {r[D_SKIPPED_COUNT]}  "
            f"source {r.get('source') or '-'}  sha {r.get('gitSha') or '-'}"
        )
    for n, texts in rejected.items():
        print(f"{n}: not applied (the manifest was never valid, or a quota refuses it)")
        for t in texts:
            print(f"    {t}")
    if other:
        print("problems outside any job:")
        for t in other:
            print(f"    {t}")
    if sync is not None:
        print(f"last sync {sync.at}: {sync.result}" + (f" at {sync.revision[:12]}" if sync.revision else ""))
        if sync.error:
            print(f"    source: {sync.error}")
        if sync.prune_message:
            print(f"    prune: {sync.prune_message}")
    if not rows and not rejected and show_empty:
        print("no jobs")
