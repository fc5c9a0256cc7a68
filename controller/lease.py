"""The dispatch lease: only its holder dispatches (``SET key owner NX PX``, renewed by compare-and-set).

``held()`` is true only until the moment the lease could have expired as seen from this
process (renewal time + TTL, on the monotonic clock), so a leader that cannot renew — Redis
down, a long pause — stops dispatching at once, before any standby can take over.
``renew()`` raises Redis errors (the lease keeper backs off and logs the outage);
``acquire_or_renew()`` turns them into False (one-shot callers).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class Lease:
    def __init__(
        self, client: redis.Redis, key: str, owner: str, ttl: float, clock: Callable[[], float] = time.monotonic
    ):
        self.r, self.key, self.owner, self.ttl_ms, self.clock = client, key, owner, int(ttl * 1000), clock
        self.valid_until = 0.0

    def acquire_or_renew(self) -> bool:
        try:
            return self.renew()
        except redis.RedisError:
            return False

    def renew(self) -> bool:
        """Renew the lease if it is ours, else take it if it is free; a Redis error stops
        dispatching at once (``held()`` is false) and is raised."""
        start = self.clock()
        try:
            ok = bool(self.r.eval(_RENEW, 1, self.key, self.owner, self.ttl_ms)) or bool(
                self.r.set(self.key, self.owner, nx=True, px=self.ttl_ms)
            )
        except redis.RedisError:
            self.valid_until = 0.0
            raise
        self.valid_until = start + self.ttl_ms / 1000 if ok else 0.0
        return ok

    @property
    def valid(self) -> bool:
        """Whether the last renewal succeeded and nothing since said otherwise (not the clock)."""
        return self.valid_until > 0.0

    def held(self) -> bool:
        return self.clock() < self.valid_until

    def lost(self) -> None:
        """A fenced write found the lease another's: stop dispatching until a renewal succeeds."""
        self.valid_until = 0.0

    def release(self) -> bool:
        """Give the lease up if it is ours; whether a lease of ours was deleted."""
        self.valid_until = 0.0
        try:
            return bool(self.r.eval(_RELEASE, 1, self.key, self.owner))
        except redis.RedisError:
            return False  # Redis is down: the lease lapses on its own after its TTL
