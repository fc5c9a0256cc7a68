"""Which paths a watched event asks the next pass to re-read (no observer: the events as
watchdog delivers them on Linux)."""

from __future__ import annotations

import threading

from watchdog.events import DirCreatedEvent, DirModifiedEvent, DirMovedEvent, FileModifiedEvent, FileMovedEvent

from controller.sources.watch import Changes, _Poke


def test_a_file_write_names_the_file_and_its_directorys_event_adds_nothing() -> None:
    changes, poke = Changes(), threading.Event()
    handler = _Poke(poke, None, changes)
    handler.dispatch(FileModifiedEvent("/m/a.yaml"))
    handler.dispatch(DirModifiedEvent("/m"))
    assert poke.is_set() and changes.take() == {"/m/a.yaml"}
    handler.dispatch(FileMovedEvent("/m/.a.yaml.tmp", "/m/a.yaml"))  # an editor's atomic save
    assert changes.take() == {"/m/.a.yaml.tmp", "/m/a.yaml"}


def test_a_directory_created_or_moved_asks_for_a_full_read() -> None:
    for event in (DirCreatedEvent("/m/new"), DirMovedEvent("/m/old", "/m/new")):
        changes = Changes()
        _Poke(threading.Event(), None, changes).dispatch(event)
        assert changes.take() is None
