"""Controller settings: built once from flags and environment, then passed down (frozen)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from controller.state.keys import ControllerKeys
from worker.contract import DEFAULT_QUEUE
from worker.records import Bounds

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class ControllerSettings:
    redis_url: str = DEFAULT_REDIS_URL
    keys: ControllerKeys = field(default_factory=ControllerKeys)
    queue: str = DEFAULT_QUEUE
    region: str = "local"
    lease_ttl: float = 10.0  # seconds; a standby takes over within this after the leader dies
    lease_renew_every: float = 2.5  # renew well before expiry: a gap stays under a third of the TTL
    resync_interval: float = 30.0  # periodic full sync pass (git poll, no watcher)
    watched_resync: float = 300.0  # with a file watcher: its events drive passes; this catches lost ones
    debounce: float = 0.1  # coalesce bursts of file events (editors' atomic renames)
    git_poll: float = 15.0
    prune_cap: float = 0.25  # refuse a pass that would delete more than this share of all jobs
    max_sleep: float = 5.0  # dispatch loop wakes at least this often (bounded sleep)
    max_catch_up: int = 100  # missedRunPolicy all: at most this many missed occurrences run
    fired_ttl: int = 7 * 24 * 3600  # dedup markers outlive every replay window
    next_runs_shown: int = 5
    max_dispatch_batch: int = 1000  # due jobs claimed per round trip
    bounds: Bounds = field(default_factory=Bounds)  # shared with workers (timeouts, TTLs, history)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ControllerSettings:
        env = os.environ if env is None else env
        base = cls(
            redis_url=env.get("REDIS_URL", DEFAULT_REDIS_URL),
            keys=ControllerKeys(env.get("CRONPLANE_KEY_PREFIX", "cp")),
            region=env.get("CRONPLANE_REGION", "local"),
            bounds=Bounds.from_env(env),
        )
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})
