"""Git mode: the controller keeps its own checkout of a repository and follows one branch.

``GitSource(repo, branch, workdir, subdir)`` fetches on every read (the caller polls) and resets
its checkout to ``origin/<branch>``; the snapshot's revision is the commit SHA, recorded on every
job it produces. A failed clone or fetch is a ``SourceError``: the pass deletes nothing.
``files_at(repo, ref, subdir)`` reads manifests at any revision without a checkout (plan
--base-ref). ``checkout_dir(given)`` is where the checkout lives: under ``given`` (kept), or in
a temporary directory that is removed when the context ends (normal exit, SIGTERM and SIGINT
end it through the controller's shutdown, an error through the exception).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from controller.sources.base import Snapshot, SourceError
from controller.sources.directory import SUFFIXES, FileCache, read_tree


def git(*args: str, cwd: str | Path | None = None) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SourceError(f"git {args[0]}: {e}") from None
    if out.returncode != 0:
        lines = (out.stderr or out.stdout).strip().splitlines()
        raise SourceError(f"git {args[0]} failed: {lines[-1] if lines else f'exit code {out.returncode}'}")
    return out.stdout


class GitSource:
    def __init__(self, repo: str, branch: str, workdir: Path, subdir: str = "."):
        self.repo, self.branch, self.workdir, self.subdir = repo, branch, workdir, subdir
        self.cache = FileCache()  # git reset rewrites only the files that changed

    def read(self) -> Snapshot:
        if not (self.workdir / ".git").exists():
            self.workdir.parent.mkdir(parents=True, exist_ok=True)
            git("clone", "--quiet", "--branch", self.branch, self.repo, str(self.workdir))
        git("fetch", "--quiet", "origin", self.branch, cwd=self.workdir)
        git("reset", "--quiet", "--hard", f"origin/{self.branch}", cwd=self.workdir)
        sha = git("rev-parse", "HEAD", cwd=self.workdir).strip()
        root = self.workdir / self.subdir
        files, problems = read_tree([str(root)], self.cache)
        rel = {str(Path(p).relative_to(self.workdir)): data for p, data in files.items()}
        return Snapshot(rel, sha, problems)


@contextmanager
def checkout_dir(given: str | None) -> Iterator[Path]:
    """The checkout's path: ``<given>/checkout`` (kept), or one in a temporary directory (removed)."""
    if given:
        yield Path(given) / "checkout"
        return
    top = Path(tempfile.mkdtemp(prefix="cronplane-git-"))
    try:
        yield top / "checkout"
    finally:
        shutil.rmtree(top, ignore_errors=True)


def files_at(ref: str, subdir: str, cwd: str = ".") -> dict[str, bytes]:
    """Manifests under ``subdir`` at git revision ``ref`` (paths relative to the repository root)."""
    top = git("rev-parse", "--show-toplevel", cwd=cwd).strip()
    prefix = str(Path(subdir).resolve().relative_to(top)) if Path(subdir).exists() else subdir
    names = git("ls-tree", "-r", "--name-only", ref, "--", prefix, cwd=top).splitlines()
    out = {}
    for name in names:
        if name.endswith(SUFFIXES):
            data = subprocess.run(["git", "show", f"{ref}:{name}"], cwd=top, capture_output=True, timeout=60)
            if data.returncode == 0:
                out[name] = data.stdout
    return out
