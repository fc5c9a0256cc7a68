"""Directory watching: any file event under the manifest paths pokes the sync loop.

Events poke and name the paths they touched (``Changes``); the poked pass re-reads those paths
only and still plans from the whole desired state (level-triggered), so an editor's atomic
rename (write temp, rename over) is one debounced pass. A directory event asks for a full
re-read (except "modified", which only accompanies its files' own events), and a lost event is
caught by the periodic resync, which re-reads everything.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer


class Changes:
    """The absolute paths events touched since the last ``take`` (None: re-read everything)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: set[str] | None = set()

    def add(self, paths: set[str] | None) -> None:
        with self._lock:
            if paths is None or self._paths is None:
                self._paths = None
            else:
                self._paths |= paths

    def take(self) -> set[str] | None:
        with self._lock:
            paths, self._paths = self._paths, set()
        return paths


class _Poke(FileSystemEventHandler):
    """Pokes on every change; with ``only`` set, on changes of that one file (an editor's atomic
    rename shows up as a move onto it)."""

    def __init__(self, poke: threading.Event, only: str | None = None, changes: Changes | None = None):
        self.poke, self.only, self.changes = poke, only, changes

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        touched = {_abs(event.src_path), _abs(getattr(event, "dest_path", "") or "")} - {""}
        if self.only is not None and self.only not in touched:
            return
        if self.changes is not None:
            self.changes.add(_named(event, touched))
        self.poke.set()


def _named(event: FileSystemEvent, touched: set[str]) -> set[str] | None:
    """The paths a pass must re-read for ``event``; None: all of them. A directory's "modified"
    event accompanies every file created, deleted or written in it (inotify), and those files
    have events of their own: it names nothing more. Any other directory event (created, moved,
    deleted: its files may have no events of their own) asks for a full re-read."""
    if not event.is_directory:
        return touched
    return set() if event.event_type == "modified" else None


def _abs(path: str | bytes) -> str:
    text = path.decode() if isinstance(path, bytes) else path
    return str(Path(text).absolute()) if text else ""


def watch(paths: tuple[str, ...], poke: threading.Event, changes: Changes | None = None) -> Any:
    """Start an observer (stop it with ``.stop()``): a directory is watched recursively, a file
    alone (its directory without recursion, events filtered to the file). The paths must exist:
    the controller checks that at start."""
    observer = Observer()
    for p in paths:
        root = Path(p)
        if root.is_dir():
            observer.schedule(_Poke(poke, None, changes), str(root), recursive=True)
        else:
            observer.schedule(_Poke(poke, _abs(str(root)), changes), str(root.absolute().parent), recursive=False)
    observer.daemon = True
    observer.start()
    return observer
