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
    def __init__(self, poke: threading.Event):
        self.poke = poke

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type != "opened" and event.event_type != "closed_no_write":
            self.poke.set()


def watch(paths: tuple[str, ...], poke: threading.Event) -> Any:
    """Start an observer (stop it with ``.stop()``); watches each path's directory recursively."""
    observer = Observer()
    for p in paths:
        root = Path(p)
        observer.schedule(_Poke(poke), str(root if root.is_dir() else root.parent), recursive=True)
    observer.daemon = True
    observer.start()
    return observer
