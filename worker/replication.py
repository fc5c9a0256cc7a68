"""The replication gate (Sentinel deployments): a worker calls a target only once its claim of the
invocation has reached a replica.

Redis replicates asynchronously, so a failover can forget the master's last writes, and an
ordered failover leaves the old master writable until the sentinels demote it (up to their 10 s
``INFO`` period). An invocation claimed and called there, then forgotten, would be dispatched
and called again by the new master. After each claim that returned jobs the worker runs ``WAIT``
on the claim's own connection (WAIT counts the replicas that acknowledged *that client's*
writes; the replication stream is ordered, so the dispatch that enqueued the jobs is there too):

- acknowledged: run the jobs;
- not acknowledged: ask the sentinels for the master. If it is elsewhere, this server is a
  demoted master: drop its connections and do not run the jobs (the new master dispatches them
  again, under the same ids; if this server somehow stays master, their heartbeats lapse and the
  abandoned-job check requeues them). If it is still the master, its replicas are down: run the
  jobs, warn once, and skip the WAIT for ``DEGRADED_FOR`` seconds, so that a deployment without
  replicas keeps its throughput.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis

WAIT_MS = 1000  # how long a claim waits for a replica's acknowledgement
DEGRADED_FOR = 10.0  # seconds without WAIT after the master was confirmed to have no replica


class ReplicationGate:
    """Owns the claim connection (``conn``: one connection of ``client``'s pool, so that WAIT
    counts the acknowledgements of the claims) and decides whether claimed jobs may run."""

    def __init__(self, client: Any, replicas: int, log: logging.Logger, clock: Any = time.monotonic):
        self.client, self.replicas, self.log, self.clock = client, replicas, log, clock
        self.conn = client.client()
        self._degraded_until = 0.0
        self._warned = False

    @property
    def active(self) -> bool:
        return self.replicas > 0

    async def confirm(self, claimed: int) -> bool:
        """True when the ``claimed`` jobs may run (see the module docstring)."""
        if not self.active or claimed == 0 or self.clock() < self._degraded_until:
            return True
        try:
            acks = int(await self.conn.execute_command("WAIT", self.replicas, WAIT_MS))
        except redis.exceptions.ResponseError as e:  # "WAIT cannot be used with replica instances"
            self.log.warning("replication: %d claimed invocation(s) left on a replica (%s)", claimed, e)
            await self.reconnect()
            return False
        if acks >= self.replicas:
            if self._warned:
                self.log.info("replication: a replica acknowledges the claims again")
                self._warned = False
            return True
        here, master = await self._addresses()
        if master is not None and here is not None and here != master:
            self.log.warning(
                "replication: %d claimed invocation(s) left on %s:%s, no longer the master (now %s:%s); "
                "the new master dispatches them again",
                claimed,
                *here,
                *master,
            )
            await self.reconnect()
            return False
        if not self._warned:
            self.log.warning(
                "replication: no replica acknowledged within %d ms; running calls without replication "
                "(a failover now may repeat them, under the same Idempotency-Key)",
                WAIT_MS,
            )
            self._warned = True
        self._degraded_until = self.clock() + DEGRADED_FOR
        return True

    async def reconnect(self) -> None:
        """A new claim connection, to the master the sentinels name (a pooled single connection
        reconnects to its old address), and the pool's idle connections dropped. After any
        connection error too: the old master may have been demoted."""
        old, self.conn = self.conn, self.client.client()
        try:
            await old.aclose()
            await self.client.connection_pool.disconnect(inuse_connections=False)
        except (redis.exceptions.RedisError, OSError):
            pass

    async def _addresses(self) -> tuple[tuple[str, int] | None, tuple[str, int] | None]:
        """(this connection's server, the sentinels' master); None where unknown (not Sentinel)."""
        pool = self.conn.connection_pool
        connection = getattr(self.conn, "connection", None)
        here = (connection.host, int(connection.port)) if connection is not None else None
        if not hasattr(pool, "get_master_address"):
            return here, None
        host, port = await pool.get_master_address()
        return here, (host, int(port))


def default_replicas(redis_url: str) -> int:
    """1 for a Sentinel URL (a deployment with replicas), else 0 (no gate)."""
    return 1 if redis_url.startswith("redis+sentinel://") else 0
