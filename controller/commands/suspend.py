"""``cronplane suspend [job|collection] NAME --for DURATION --reason TEXT``: an override that expires by
itself; due occurrences are recorded as skipped with the reason, and it shows as drift."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from controller.commands.common import (
    add_output,
    duration,
    emit,
    existing_collection,
    existing_job,
    reads,
    redis_url_arg,
    who,
)
from controller.errors import UsageError
from controller.state.overrides import MAX_SUSPEND, OverrideStore


def target_args(p: Any) -> None:
    p.add_argument("target", nargs="+", metavar="[job|collection] NAME", help="a job (default) or a collection")
    add_output(p)
    redis_url_arg(p)


def register(sub: Any) -> None:
    p = sub.add_parser("suspend", help="suspend a job or a collection for a while (expires by itself)")
    p.add_argument("--for", dest="length", required=True, help="ISO 8601 (PT1H) or 30m, 1h, 2d")
    p.add_argument("--reason", required=True, help="why (shown as drift and in skipped history entries)")
    target_args(p)
    p.set_defaults(run=run)


def target(args: argparse.Namespace) -> tuple[str, str]:
    """(kind, name) from ``NAME``, ``job NAME`` or ``collection NAME``; checked to exist."""
    parts = list(args.target)
    kind = parts.pop(0) if len(parts) == 2 and parts[0] in ("job", "collection") else "job"
    if len(parts) != 1:
        raise UsageError("give one NAME, or 'job NAME' / 'collection NAME'")
    r = reads(args)
    name = existing_collection(r, parts[0]) if kind == "collection" else existing_job(r, parts[0])
    return kind, name


def run(args: argparse.Namespace) -> int:
    length = duration(args.length)
    if not length.total_seconds() >= 1 or length > MAX_SUSPEND:
        raise UsageError(f"--for must be between 1 second and {MAX_SUSPEND.days} days")
    if not args.reason.strip():
        raise UsageError("--reason must say why")
    kind, name = target(args)
    r = reads(args)
    s = OverrideStore(r.r, r.keys).suspend(kind, name, length, args.reason.strip(), who(), datetime.now(UTC))
    data = {"target": s.target, "reason": s.reason, "by": s.by, "since": s.since, "until": s.until}
    if not emit(data, args.output):
        print(f"{s.target} suspended until {s.until} ({s.reason})")
    return 0
