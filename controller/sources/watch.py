"""Directory watching: any file event under the manifest paths pokes the sync loop.

Events only poke; the sync pass re-reads everything (level-triggered), so an editor's atomic
rename (write temp, rename over) is one debounced pass, and a lost event is caught by the
periodic resync.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer


class _Poke(FileSystemEventHandler):
    """Pokes on every change; with ``only`` set, on changes of that one file (an editor's atomic
    rename shows up as a move onto it)."""

    def __init__(self, poke: threading.Event, only: str | None = None):
        self.poke, self.only = poke, only

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if self.only is not None:
            touched = {_abs(event.src_path), _abs(getattr(event, "dest_path", "") or "")}
            if self.only not in touched:
                return
        self.poke.set()


def _abs(path: str | bytes) -> str:
    text = path.decode() if isinstance(path, bytes) else path
    return str(Path(text).absolute()) if text else ""


def watch(paths: tuple[str, ...], poke: threading.Event) -> Any:
    """Start an observer (stop it with ``.stop()``): a directory is watched recursively, a file
    alone (its directory without recursion, events filtered to the file). The paths must exist:
    the controller checks that at start."""
    observer = Observer()
    for p in paths:
        root = Path(p)
        if root.is_dir():
            observer.schedule(_Poke(poke), str(root), recursive=True)
        else:
            observer.schedule(_Poke(poke, _abs(str(root))), str(root.absolute().parent), recursive=False)
    observer.daemon = True
    observer.start()
    return observer
