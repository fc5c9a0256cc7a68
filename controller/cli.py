"""The ``cronplane`` command line: parse arguments, hand over to a command module, print errors.

No logic lives here. Each subcommand is a module in ``controller.commands`` exposing
``register(subparsers)``, which adds its parser and sets ``run=<function(args) -> exit code>``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import redis

from controller.errors import CronplaneError, TemporaryError

COMMANDS = (
    "validate",
    "next",
    "plan",
    "apply",
    "controller",
    "worker",
    "history",
    "status",
    "serve",
    "get",
    "describe",
    "run-now",
    "suspend",
    "resume",
    "delete",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cronplane", description="Declarative, GitOps-style job scheduler (Azure Scheduler semantics)."
    )
    parser.add_argument("--version", action="version", version=f"cronplane {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"controller.commands.{name.replace('-', '_')}")
        module.register(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cronplane")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # `cronplane` alone: the help, as a usage error
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.run(args))
    except CronplaneError as e:
        print(f"cronplane: {e}", file=sys.stderr)
        return e.exit_code
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
        # Redis went away after the command's first check: whatever it wrote is atomic per record
        print(f"cronplane: lost the connection to Redis ({e.__class__.__name__}); try again", file=sys.stderr)
        return TemporaryError.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
