"""The dispatch lease: only its holder dispatches (``SET key owner NX PX``, renewed by compare-and-set).

``held()`` is true only until the moment the lease could have expired as seen from this
process (renewal time + TTL, on the monotonic clock), so a leader that cannot renew — Redis
down, a long pause — stops dispatching at once, before any standby can take over.
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
        start = self.clock()
        try:
            ok = bool(self.r.eval(_RENEW, 1, self.key, self.owner, self.ttl_ms)) or bool(
                self.r.set(self.key, self.owner, nx=True, px=self.ttl_ms)
            )
        except redis.RedisError:
            ok = False
        self.valid_until = start + self.ttl_ms / 1000 if ok else 0.0
        return ok

    def held(self) -> bool:
        return self.clock() < self.valid_until

    def lost(self) -> None:
        """A fenced write found the lease another's: stop dispatching until a renewal succeeds."""
        self.valid_until = 0.0

    def release(self) -> None:
        self.valid_until = 0.0
        try:
            self.r.eval(_RELEASE, 1, self.key, self.owner)
        except redis.RedisError:
            pass
