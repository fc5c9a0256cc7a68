"""Reading manifests from files and directories: the only place manifest bytes come from disk.

``read_tree`` collects ``*.yaml``/``*.yml`` files (recursively, sorted; hidden files and
directories and symlinked directories are skipped, symlinked files are read). A file named
explicitly is read whatever its suffix. A path that does not exist, is not a regular file or
directory (a FIFO would block), cannot be read or is over the size cap becomes a problem, never
an exception. Paths in problems and sources are spelled as the user gave them.

A long-lived ``DirectorySource`` keeps a ``FileCache``: a file whose mtime, size and inode are
unchanged is not read again, and a file that is read again but whose content hash is unchanged
keeps its previous bytes object, so the loader's per-file memo (``quota.Loader``) recognises it
without comparing. A resync of 100,000 unchanged files costs one ``stat`` each, and a pass poked
by the watcher (``read_changed``) re-reads only the paths its events named: the snapshot is the
last full read with those paths read again, or a full read when it cannot be that (a directory
changed, a path that had a problem, no full read yet).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from controller.core.manifest import Problem
from controller.core.quota import LoadResult, load_documents
from controller.core.yamlpos import MAX_BYTES
from controller.sources.base import Snapshot, SourceError

SUFFIXES = (".yaml", ".yml")


def manifest_files(root: Path) -> list[Path]:
    return [Path(p) for p in _manifest_paths(root)]


def _manifest_paths(root: Path) -> list[str]:
    return [str(root)] if root.is_file() else _walk(str(root))


def _walk(root: str) -> list[str]:
    """Manifest files under a directory: not hidden, not under a hidden or symlinked directory,
    ordered as sorted ``Path`` objects are (part by part)."""
    found: list[str] = []
    stack = [root]
    while stack:
        top = stack.pop()
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = entry.name if top == "." else entry.path  # spelled as Path spells it
            if entry.is_dir(follow_symlinks=False):
                stack.append(path)
            elif entry.name.endswith(SUFFIXES) and entry.is_file():
                found.append(path)
    return sorted(found, key=lambda p: p.replace(os.sep, "\0"))  # part by part: a separator sorts first


@dataclass
class FileCache:
    """What a file held when last read: (mtime_ns, size, inode) → its bytes (and their hash)."""

    entries: dict[str, tuple[tuple[int, int, int], bytes, bytes]] = field(default_factory=dict)
    reads: int = 0

    def read(self, path: str, st: os.stat_result) -> bytes:
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        hit = self.entries.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        with open(path, "rb") as f:
            data = f.read()
        self.reads += 1
        digest = hashlib.blake2b(data, digest_size=16).digest()
        if hit is not None and hit[2] == digest:
            data = hit[1]  # touched, not changed: the same object tells the loader at once
        self.entries[path] = (stamp, data, digest)
        return data

    def keep_only(self, paths: Collection[str]) -> None:
        for gone in self.entries.keys() - set(paths):
            del self.entries[gone]


def read_tree(paths: Sequence[str], cache: FileCache | None = None) -> tuple[dict[str, bytes], list[Problem]]:
    files: dict[str, bytes] = {}
    problems: list[Problem] = []
    for given in paths:
        root = Path(given)
        if not root.exists():
            problems.append(Problem(given, 1, 1, "", "no such file or directory"))
            continue
        if not (root.is_file() or root.is_dir()):
            problems.append(Problem(given, 1, 1, "", "not a regular file or directory"))
            continue
        for path in _manifest_paths(root):
            try:
                st = os.stat(path)
                if st.st_size > MAX_BYTES:
                    problems.append(Problem(path, 1, 1, "", f"file is larger than {MAX_BYTES // 1024 // 1024} MiB"))
                    continue
                files[path] = (cache or FileCache()).read(path, st)
            except OSError as e:
                problems.append(Problem(path, 1, 1, "", f"cannot read: {e.strerror or e}"))
    if cache is not None:
        cache.keep_only(files.keys())
    return files, problems


def load_paths(paths: Sequence[str], now: datetime | None = None) -> LoadResult:
    files, problems = read_tree(paths)
    result = load_documents(files, now or datetime.now(UTC))
    result.problems[:0] = problems
    return result


class _FullRead(Exception):
    pass


class DirectorySource:
    """Manifests from files/directories on disk; a missing root is a source error, not 'empty'."""

    def __init__(self, *paths: str):
        self.paths = paths
        self.cache = FileCache()
        self._last: Snapshot | None = None
        self.changed: set[str] | None = None  # after read_changed: the paths it read again or dropped

    def read(self) -> Snapshot:
        missing = [p for p in self.paths if not Path(p).exists()]
        if missing:
            self._last = None
            raise SourceError(f"{', '.join(missing)}: no such file or directory")
        files, problems = read_tree(self.paths, self.cache)
        self.changed = None
        self._last = Snapshot(files, None, problems)
        return Snapshot(dict(files), None, list(problems))

    def read_changed(self, changed: set[str]) -> Snapshot:
        """The snapshot ``read`` would give, given that only ``changed`` (absolute paths) changed."""
        last = self._last
        if last is None or last.problems:
            return self.read()
        files = dict(last.files)
        spelled_paths: set[str] = set()
        for absolute in changed:
            try:
                spelled = self._spelled(absolute)
            except _FullRead:
                return self.read()
            if spelled is None:
                continue  # not under a manifest path (the directory of a watched file)
            spelled_paths.add(spelled)
            try:
                st = os.stat(spelled)
            except FileNotFoundError:
                files.pop(spelled, None)
                self.cache.entries.pop(spelled, None)
                continue
            except OSError:
                return self.read()
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_BYTES:
                return self.read()  # a directory, a FIFO, a file too big: the full read says so
            try:
                files[spelled] = self.cache.read(spelled, st)
            except OSError:
                return self.read()
        self._last = Snapshot(files, None, [])
        self.changed = spelled_paths
        return Snapshot(dict(files), None, [])

    def _spelled(self, absolute: str) -> str | None:
        """``absolute`` as ``read`` spells it; None when ``read`` would not see it. Raises
        ``_FullRead`` when only a full read can tell (a symlinked directory on the way)."""
        for given in self.paths:
            root = Path(given)
            top = os.path.abspath(given)
            if absolute == top and root.is_file():
                return str(root)
            if not absolute.startswith(top.rstrip(os.sep) + os.sep) or root.is_file():
                continue
            rel = absolute[len(top.rstrip(os.sep)) + 1 :]
            parts = rel.split(os.sep)
            if any(p.startswith(".") for p in parts) or not parts[-1].endswith(SUFFIXES):
                return None  # read() ignores it too
            if any(os.path.islink(os.path.join(top, *parts[:i])) for i in range(1, len(parts))):
                raise _FullRead(absolute)
            return rel if str(root) == "." else os.path.join(str(root), rel)
        return None
