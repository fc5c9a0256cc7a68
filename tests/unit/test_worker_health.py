"""``worker.health``: the backoff, one line per outage whatever the number of failing callers, and
``call`` waiting through transient errors (fake operations, fake clock: no Redis, no sleeping)."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
import redis

from worker.health import BACKOFF_CAP, Backoff, RedisLink, Unreachable


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    b = Backoff()
    delays = [b.next() for _ in range(8)]
    assert delays[:5] == [0.05, 0.1, 0.2, 0.4, 0.8] and set(delays[5:]) == {BACKOFF_CAP}
    b.reset()
    assert b.next() == 0.05


def test_one_line_when_lost_and_one_when_back(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    link = RedisLink("w1", logging.getLogger("test.health"), clock=lambda: now[0])
    caplog.set_level(logging.WARNING, "test.health")
    threads = [threading.Thread(target=link.lost, args=(redis.ConnectionError("refused"),)) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    link.lost(redis.TimeoutError("Timeout reading from socket"))
    assert not link.up and not link.settled(0)
    now[0] = 130.5
    for _ in range(5):
        link.ok()
    assert [r.getMessage() for r in caplog.records] == [
        "Worker w1: lost Redis (ConnectionError: refused); retrying, no work is lost",
        "Worker w1: Redis is back (its calls failed for 30.5 s)",
    ]
    assert link.up and not link.settled(8)
    now[0] = 139.0
    assert link.settled(8)


def test_call_waits_through_transient_errors_and_gives_up_on_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    link = RedisLink("w2", logging.getLogger("test.health"))
    answers: list[object] = [redis.ConnectionError("x"), redis.TimeoutError("y"), redis.BusyLoadingError("z"), "ok"]

    async def op() -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert asyncio.run(link.call(op)) == "ok"
    assert slept == [0.05, 0.1, 0.2] and link.up

    async def refused() -> None:
        raise redis.ConnectionError("refused")

    with pytest.raises(Unreachable):
        asyncio.run(link.call(refused, stop=lambda: True))

    async def bug() -> None:
        raise ValueError("not an outage")

    with pytest.raises(ValueError):
        asyncio.run(link.call(bug))
