"""The desired-state change log: which jobs and collections sync wrote, by revision.

Every apply batch (``DesiredStore.apply``) bumps ``{p}:desired-rev`` and appends one entry to
the capped stream ``{p}:desired-log`` — its revision and the names it wrote — in the batch's own
MULTI. A reader that remembers a position (revision, stream id) asks ``changes_since`` what was
written after it; the answer is trusted only when the entries are contiguous from that revision
(none trimmed away, the counter did not go back), else it is None and the reader must read
everything again. The observing side of sync and the prepared dispatches both use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from controller.state.keys import ControllerKeys
from worker.records import decode_hash

LOG_ENTRIES = 256  # entries kept (one per apply batch); a reader further behind reads everything
LOG_REV, LOG_NAMES = "rev", "names"

# ARGV: the stream's cap, the two field names, the names joined by newlines.
APPEND = """
local rev = redis.call('incr', KEYS[1])
local id = redis.call('xadd', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', ARGV[2], rev, ARGV[3], ARGV[4])
return {rev, id}
"""


@dataclass(frozen=True)
class Changes:
    rev: int
    last_id: str
    names: frozenset[str]


def append(pipe: Any, keys: ControllerKeys, names: list[str]) -> None:
    """Queue the entry for ``names`` on ``pipe`` (inside the writer's MULTI)."""
    pipe.eval(APPEND, 2, keys.desired_rev(), keys.desired_log(), LOG_ENTRIES, LOG_REV, LOG_NAMES, "\n".join(names))


def head(client: redis.Redis, keys: ControllerKeys) -> tuple[int, str]:
    """The current position: the revision and the id of the last entry, read atomically."""
    with client.pipeline(transaction=True) as pipe:
        pipe.get(keys.desired_rev())
        pipe.xrevrange(keys.desired_log(), count=1)
        rev, last = pipe.execute()
    return int(rev or 0), _s(last[0][0]) if last else "0-0"


def changes_since(client: redis.Redis, keys: ControllerKeys, rev: int, last_id: str) -> Changes | None:
    """What was written after (``rev``, ``last_id``); None when the log cannot tell."""
    now = int(client.get(keys.desired_rev()) or 0)
    if now == rev:
        return Changes(rev, last_id, frozenset())
    if now < rev:
        return None
    entries: Any = client.xrange(keys.desired_log(), min=f"({last_id}", max="+")
    names: set[str] = set()
    expect = rev + 1
    for entry_id, entry in entries:
        fields = decode_hash(entry)
        if int(fields.get(LOG_REV, -1)) != expect:
            return None  # trimmed, or not written by an apply: nothing can be proved
        names.update(n for n in fields.get(LOG_NAMES, "").split("\n") if n)
        expect += 1
        last_id = _s(entry_id)
    if expect == rev + 1:
        return None
    return Changes(expect - 1, last_id, frozenset(names))


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
