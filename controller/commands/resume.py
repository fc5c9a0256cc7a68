"""``cronplane resume [job|collection] NAME``: end a suspend before it expires."""

from __future__ import annotations

import argparse
from typing import Any

from controller.commands.common import emit, reads
from controller.commands.suspend import target, target_args
from controller.state.overrides import OverrideStore


def register(sub: Any) -> None:
    p = sub.add_parser("resume", help="end a job's or a collection's suspend")
    target_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    kind, name = target(args)
    r = reads(args)
    resumed = OverrideStore(r.r, r.keys).resume(kind, name)
    if not emit({"target": f"{kind} {name}", "resumed": resumed}, args.output):
        print(f"{kind} {name} resumed" if resumed else f"{kind} {name} was not suspended")
    return 0
