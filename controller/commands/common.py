"""Arguments and checks that several commands share (one spelling, one message each)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from controller.errors import PermanentError
from controller.sources.directory import manifest_files


def redis_url_arg(parser: Any) -> None:
    parser.add_argument(
        "--redis-url", default=None, help="Redis URL (default: $REDIS_URL, else redis://127.0.0.1:6379/0)"
    )


def redis_url(args: Any) -> str | None:
    return args.redis_url or os.environ.get("REDIS_URL")


def require_manifests(path: str) -> None:
    """A one-shot command on a path with nothing to read is a mistake, not "no jobs"."""
    root = Path(path)
    if not root.exists():
        raise PermanentError(f"{path}: no such file or directory")
    if not (root.is_file() or root.is_dir()):
        raise PermanentError(f"{path}: not a regular file or directory")
    if root.is_dir() and not manifest_files(root):
        raise PermanentError(f"{path}: no manifests here (*.yaml or *.yml files)")
