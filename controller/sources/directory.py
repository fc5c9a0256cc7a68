"""Reading manifests from files and directories: the only place manifest bytes come from disk.

``read_tree`` collects ``*.yaml``/``*.yml`` files (recursively, sorted; hidden files and
directories and symlinked directories are skipped, symlinked files are read). A file named
explicitly is read whatever its suffix. A path that does not exist, is not a regular file or
directory (a FIFO would block), cannot be read or is over the size cap becomes a problem, never
an exception. Paths in problems and sources are spelled as the user gave them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from controller.core.manifest import Problem
from controller.core.quota import LoadResult, load_documents
from controller.core.yamlpos import MAX_BYTES
from controller.sources.base import Snapshot, SourceError

SUFFIXES = (".yaml", ".yml")


def manifest_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix in SUFFIXES and p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def read_tree(paths: Sequence[str]) -> tuple[dict[str, bytes], list[Problem]]:
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
        for path in manifest_files(root):
            try:
                if path.stat().st_size > MAX_BYTES:
                    problems.append(
                        Problem(str(path), 1, 1, "", f"file is larger than {MAX_BYTES // 1024 // 1024} MiB")
                    )
                    continue
                files[str(path)] = path.read_bytes()
            except OSError as e:
                problems.append(Problem(str(path), 1, 1, "", f"cannot read: {e.strerror or e}"))
    return files, problems


def load_paths(paths: Sequence[str], now: datetime | None = None) -> LoadResult:
    files, problems = read_tree(paths)
    result = load_documents(files, now or datetime.now(UTC))
    result.problems[:0] = problems
    return result


class DirectorySource:
    """Manifests from files/directories on disk; a missing root is a source error, not 'empty'."""

    def __init__(self, *paths: str):
        self.paths = paths

    def read(self) -> Snapshot:
        missing = [p for p in self.paths if not Path(p).exists()]
        if missing:
            raise SourceError(f"{', '.join(missing)}: no such file or directory")
        files, problems = read_tree(self.paths)
        return Snapshot(files, None, problems)
