"""Redis URLs, Sentinel included: parsing (pure) and a client that follows a real failover."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.peers.sentinel import SentinelDeployment
from worker.redis_url import RedisUrlError, parse_sentinel_url, redis_from_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis+sentinel://127.0.0.1:26379/main", ([("127.0.0.1", 26379)], "main", 0, None)),
        ("redis+sentinel://a:1,b:2,c:3/m/4", ([("a", 1), ("b", 2), ("c", 3)], "m", 4, None)),
        ("redis+sentinel://:s%40cret@a:1/m", ([("a", 1)], "m", 0, "s@cret")),
    ],
)
def test_sentinel_urls(url: str, expected: tuple[object, ...]) -> None:
    assert parse_sentinel_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://a:1",  # no master name
        "redis+sentinel://a/m",  # no port
        "redis+sentinel://a:1/m/x",  # db not a number
        "redis+sentinel:///m",  # no sentinel
        "http://127.0.0.1:6379/0",
        "nonsense",
    ],
)
def test_bad_urls_are_one_line(url: str) -> None:
    with pytest.raises(RedisUrlError) as e:
        redis_from_url(url)
    assert "\n" not in str(e.value) and url in str(e.value)


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelDeployment]:
    deployment = SentinelDeployment(tmp_path).start()
    yield deployment
    deployment.stop()


def test_a_sentinel_client_follows_a_failover(sentinels: SentinelDeployment) -> None:
    client = redis_from_url(sentinels.url, socket_timeout=2, socket_connect_timeout=2)
    client.set("before", "1")
    assert client.execute_command("WAIT", 1, 5000) == 1  # replicated before the switch
    first = sentinels.master_port()
    assert sentinels.failover() != first
    old = redis.Redis(host="127.0.0.1", port=first, decode_responses=True)
    deadline = time.monotonic() + 20
    while old.info("replication")["role"] != "slave":  # writes before the demotion may be lost (async replication)
        assert time.monotonic() < deadline
        time.sleep(0.1)
    while True:  # the first commands after the switch may meet the old, now read-only, master
        try:
            client.set("after", "1")
            break
        except (redis.ConnectionError, redis.ReadOnlyError):
            assert time.monotonic() < deadline, "the client never reached the new master"
            time.sleep(0.2)
    assert client.get("before") == b"1" and client.get("after") == b"1"
    new_master = redis.Redis(host="127.0.0.1", port=sentinels.master_port())
    assert new_master.get("after") == b"1"
