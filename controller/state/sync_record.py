"""The sync record ``{p}:sync``: what the last sync pass saw. One codec; the sync loop writes it.

It carries every problem of the pass (file-level, schema, rule, quota) with file:line, the prune
decision and the source's state, so ``cronplane status`` and the API can show jobs that were
never valid and files that cannot be parsed, which have no job record of their own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from worker.records import decode_hash

OK, PROBLEMS, ERROR = "ok", "problems", "error"


@dataclass(frozen=True)
class SyncProblem:
    text: str  # path:line:column: field: message
    path: str
    line: int
    job: str | None = None
    collection: str | None = None
    rejected: bool = False


@dataclass(frozen=True)
class SyncRecord:
    at: str  # ISO instant of the pass
    result: str  # ok | problems | error
    revision: str = ""
    error: str = ""  # the source could not be read
    prune: str = ""  # the prune decision (Prune name), "" when nothing was to delete
    prune_message: str = ""
    problems: tuple[SyncProblem, ...] = field(default_factory=tuple)

    def to_redis(self) -> dict[str, str]:
        return {
            "at": self.at,
            "result": self.result,
            "revision": self.revision,
            "error": self.error,
            "prune": self.prune,
            "pruneMessage": self.prune_message,
            "problems": json.dumps([p.__dict__ for p in self.problems]),
        }

    @classmethod
    def from_redis(cls, row: Mapping[Any, Any]) -> SyncRecord | None:
        h = decode_hash(row)
        if "at" not in h:
            return None
        problems = tuple(SyncProblem(**p) for p in json.loads(h.get("problems") or "[]"))
        return cls(
            h["at"],
            h.get("result", OK),
            h.get("revision", ""),
            h.get("error", ""),
            h.get("prune", ""),
            h.get("pruneMessage", ""),
            problems,
        )
