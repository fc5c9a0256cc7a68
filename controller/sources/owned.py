"""The API-owned manifests directory: the only place the API (and ``cronplane delete``) writes.

Desired state keeps one way in: a PUT, PATCH or DELETE through the API writes or removes a
manifest file here, and the controller, which watches this directory next to its other sources,
sees API jobs exactly like the others (plan, review, status). Layout, one file per resource:

    <dir>/<collection>/_collection.yaml     a JobCollection ('_' cannot start a name)
    <dir>/<collection>/<name>.yaml          a Job

Writes are atomic: the document goes to a hidden temporary file in the same directory (hidden
files are never read as manifests), is fsynced, then renamed over the target. One process owns
the directory; a lock serializes its writers so a read-modify-write (PATCH) sees its own writes.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from controller.core.model import JobKey
from controller.sources.directory import read_tree

HEADER = b"# Written by the cronplane API (cronplane serve); edit it through the API.\n"


class OwnedDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.lock = threading.RLock()

    def job_path(self, key: JobKey) -> Path:
        return self.root / key.collection / f"{key.name}.yaml"

    def collection_path(self, name: str) -> Path:
        return self.root / name / "_collection.yaml"

    def owns(self, path: str) -> bool:
        """Whether a manifest path (as a source reference spells it) is in this directory."""
        try:
            Path(path.rsplit(":", 1)[0] if ":" in path else path).resolve().relative_to(self.root.resolve())
        except ValueError:
            return False
        return True

    def files(self) -> dict[str, bytes]:
        if not self.root.exists():
            return {}
        files, _ = read_tree([str(self.root)])
        return files

    def read(self, path: Path) -> dict[str, Any] | None:
        try:
            doc = yaml.safe_load(path.read_bytes())
        except (OSError, yaml.YAMLError):
            return None
        return doc if isinstance(doc, dict) else None

    @staticmethod
    def render(doc: Mapping[str, Any]) -> bytes:
        return HEADER + yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True).encode()

    def write(self, path: Path, doc: Mapping[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self.render(doc))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def remove(self, path: Path) -> bool:
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        try:
            path.parent.rmdir()  # the collection directory, once empty
        except OSError:
            pass
        return True
