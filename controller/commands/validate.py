"""``cronplane validate PATH...``: check manifests; one line per problem, exit 0 or 1.

Warnings (``path:line:col: field: warning: message``) are printed too but never change the
exit code.
"""

from __future__ import annotations

import argparse
from typing import Any

from controller.sources.directory import load_paths


def register(sub: Any) -> None:
    p = sub.add_parser("validate", help="validate manifests (files or directories)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--quiet", "-q", action="store_true", help="print problems and warnings only")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = load_paths(args.paths)
    warnings = result.warnings
    for problem in [*result.problems, *warnings]:
        print(problem)
    if result.problems:
        return 1
    if not result.files:
        print(f"{', '.join(args.paths)}: no manifests here (*.yaml or *.yml files)")
        return 1
    if not args.quiet:
        noted = f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''})" if warnings else ""
        print(
            f"{len(result.files)} file(s), {len(result.jobs)} job(s), {len(result.collections)} collection(s): "
            f"valid{noted}"
        )
    return 0
