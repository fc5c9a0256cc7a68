"""The replication gate's decisions with a fake connection and a fake clock (the real thing runs
against a Sentinel deployment in the chaos suite's failover scenario)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import redis

from worker.replication import DEGRADED_FOR, ReplicationGate, default_replicas


@dataclass
class FakeConnection:
    host: str = "127.0.0.1"
    port: int = 7000


@dataclass
class FakePool:
    master: tuple[str, int] = ("127.0.0.1", 7000)
    disconnects: int = 0

    async def get_master_address(self) -> tuple[str, int]:
        return self.master

    async def disconnect(self, inuse_connections: bool = True) -> None:
        self.disconnects += 1


@dataclass
class FakeClient:
    """Both the pool client and the single-connection clients made from it."""

    pool: FakePool
    acks: list[Any]  # what each WAIT answers (an exception is raised)
    waits: list[tuple[Any, ...]] = field(default_factory=list)
    made: int = 0
    closed: int = 0

    @property
    def connection_pool(self) -> FakePool:
        return self.pool

    @property
    def connection(self) -> FakeConnection:
        return FakeConnection()

    def client(self) -> FakeClient:
        self.made += 1
        return self

    async def execute_command(self, *args: Any) -> int:
        self.waits.append(args)
        answer = self.acks.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return int(answer)

    async def aclose(self) -> None:
        self.closed += 1


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def gate(acks: list[Any], master: tuple[str, int] = ("127.0.0.1", 7000)) -> tuple[ReplicationGate, FakeClient, Clock]:
    client, clock = FakeClient(FakePool(master), acks), Clock()
    return ReplicationGate(client, 1, logging.getLogger("test"), clock=clock), client, clock


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_acknowledged_claims_run_and_nothing_is_asked_of_an_empty_claim() -> None:
    g, client, _ = gate([1])
    assert run(g.confirm(0)) is True
    assert client.waits == []
    assert run(g.confirm(3)) is True
    assert client.waits == [("WAIT", 1, 1000)]


def test_claims_on_a_demoted_master_do_not_run_and_the_claim_connection_is_replaced() -> None:
    g, client, _ = gate([0], master=("127.0.0.1", 7001))
    assert run(g.confirm(2)) is False
    assert client.closed == 1 and client.made == 2 and client.pool.disconnects == 1


def test_a_replica_connection_is_left_too() -> None:
    g, client, _ = gate([redis.exceptions.ResponseError("WAIT cannot be used with replica instances")])
    assert run(g.confirm(1)) is False
    assert client.made == 2


def test_a_master_without_replicas_keeps_running_and_waits_no_more_for_a_while() -> None:
    g, client, clock = gate([0, 1])
    assert run(g.confirm(1)) is True  # the sentinels confirm this is the master: degraded, not stuck
    assert run(g.confirm(1)) is True
    assert len(client.waits) == 1, "no WAIT while degraded"
    clock.now += DEGRADED_FOR + 0.1
    assert run(g.confirm(1)) is True
    assert len(client.waits) == 2


def test_the_gate_is_on_for_sentinel_urls_only() -> None:
    assert default_replicas("redis+sentinel://127.0.0.1:26379/m") == 1
    assert default_replicas("redis://127.0.0.1:6379/0") == 0
    g, client, _ = gate([])
    g.replicas = 0
    assert run(g.confirm(5)) is True and client.waits == []
