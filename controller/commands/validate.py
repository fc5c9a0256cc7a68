"""``cronplane validate PATH...``: check manifests; one line per problem, exit 0 or 1.

Warnings (``path:line:col: field: warning: message``) are printed too but never change the
exit code.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from controller.core.manifest import Problem, parse_manifest
from controller.core.quota import LoadResult
from controller.core.timingcheck import timing_warnings
from controller.sources.directory import load_paths


def register(sub: Any) -> None:
    p = sub.add_parser("validate", help="validate manifests (files or directories)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--quiet", "-q", action="store_true", help="print problems and warnings only")
    p.set_defaults(run=run)


def warnings_of(result: LoadResult) -> list[Problem]:
    """Warnings of the valid jobs, re-reading only the files that have some (positions)."""
    paths = sorted({j.source.path for j in result.jobs if j.source and timing_warnings(j.spec.timing)})
    out: list[Problem] = []
    for path in paths:
        try:
            out += parse_manifest(path, Path(path).read_bytes()).warnings
        except OSError:
            continue
    return out


def run(args: argparse.Namespace) -> int:
    result = load_paths(args.paths)
    warnings = warnings_of(result)
    for problem in [*result.problems, *warnings]:
        print(problem)
    if result.problems:
        return 1
    if not args.quiet:
        noted = f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''})" if warnings else ""
        print(
            f"{len(result.files)} file(s), {len(result.jobs)} job(s), {len(result.collections)} collection(s): "
            f"valid{noted}"
        )
    return 0
