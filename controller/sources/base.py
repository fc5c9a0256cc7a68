"""What a manifest source gives the sync loop: a snapshot of file contents, or an error.

A source that cannot be read raises ``SourceError`` (the pass then changes nothing); an empty
snapshot is a real answer ("no manifests") that the plan still refuses to treat as "delete all".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from controller.core.manifest import Problem
from controller.errors import TemporaryError


class SourceError(TemporaryError):
    pass


@dataclass
class Snapshot:
    files: dict[str, bytes]
    revision: str | None = None  # git commit SHA in git mode
    problems: list[Problem] = field(default_factory=list)


class Source(Protocol):
    def read(self) -> Snapshot: ...
