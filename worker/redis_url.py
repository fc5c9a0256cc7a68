"""Redis URLs: the one parser every process uses (controller, workers, API server, CLI).

Accepted forms:

    redis://[user:password@]host[:port][/db]      rediss://... (TLS)      unix:///path.sock?db=N
    redis+sentinel://[password@]host:port[,host:port...]/master-name[/db]

A Sentinel URL gives a client that asks the sentinels for the current master, so after a
failover the next command goes to the new master (redis-py's ``Sentinel.master_for``; a
connection still open to the demoted master fails with ``ConnectionError`` on its first write
and the next one asks the sentinels again). ``redis_from_url`` builds the synchronous client,
``async_redis_from_url`` the asyncio one (the worker's engine), from the same parse. A URL that
is neither is a ``RedisUrlError`` whose text is one line for people.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"
SCHEMES = ("redis://", "rediss://", "unix://", f"{SENTINEL_SCHEME}://")


class RedisUrlError(ValueError):
    """Not a Redis URL we can use; ``str()`` is one line naming the accepted forms."""


def redis_from_url(url: str, **kwargs: Any) -> redis.Redis:
    """A client for ``url``; ``kwargs`` are redis-py connection options (timeouts...)."""
    if is_sentinel(url):
        hosts, master, db, password = parse_sentinel_url(url)
        sentinel = Sentinel(hosts, sentinel_kwargs=_sentinel_kwargs(kwargs))
        return sentinel.master_for(master, db=db, password=password, **kwargs)
    _check_scheme(url)
    try:
        return redis.Redis.from_url(url, **kwargs)
    except ValueError as e:
        raise RedisUrlError(f"{url!r} is not a Redis URL ({e})") from None


def async_redis_from_url(url: str, **kwargs: Any) -> aioredis.Redis:
    """The asyncio client for ``url`` (same forms, same options as ``redis_from_url``)."""
    if is_sentinel(url):
        hosts, master, db, password = parse_sentinel_url(url)
        sentinel = AsyncSentinel(hosts, sentinel_kwargs=_sentinel_kwargs(kwargs))
        client: aioredis.Redis = sentinel.master_for(master, db=db, password=password, **kwargs)
        return client
    _check_scheme(url)
    try:
        return aioredis.Redis.from_url(url, **kwargs)
    except ValueError as e:
        raise RedisUrlError(f"{url!r} is not a Redis URL ({e})") from None


def is_sentinel(url: str) -> bool:
    return url.startswith(f"{SENTINEL_SCHEME}://")


def _check_scheme(url: str) -> None:
    if not url.startswith(SCHEMES):
        raise RedisUrlError(f"{url!r} is not a Redis URL (use {', '.join(SCHEMES)})")


def _sentinel_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Timeouts for talking to the sentinels themselves: short, so a dead sentinel is skipped."""
    timeout = kwargs.get("socket_connect_timeout", 2.0)
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout}


def parse_sentinel_url(url: str) -> tuple[list[tuple[str, int]], str, int, str | None]:
    """``redis+sentinel://[password@]h1:p1,h2:p2/master[/db]`` → (sentinels, master, db, password)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    password = None
    if "@" in netloc:
        auth, netloc = netloc.rsplit("@", 1)
        password = unquote(auth.split(":", 1)[-1]) or None
    hosts = []
    for item in filter(None, netloc.split(",")):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise RedisUrlError(f"{url!r}: sentinel address {item!r} is not host:port")
        hosts.append((host.strip("[]"), int(port)))
    path = [p for p in parts.path.split("/") if p]
    if not hosts or not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise RedisUrlError(
            f"{url!r} is not a Sentinel URL (use {SENTINEL_SCHEME}://host:port[,host:port]/master[/db])"
        )
    return hosts, path[0], int(path[1]) if len(path) == 2 else 0, password


def async_twin(client: redis.Redis) -> aioredis.Redis:
    """An asyncio client to the same Redis as the synchronous ``client`` (a plain RQ worker's
    connection: TCP, unix socket, or a Sentinel master)."""
    pool: Any = client.connection_pool
    kwargs = pool.connection_kwargs
    common = {"db": kwargs.get("db", 0), "username": kwargs.get("username"), "password": kwargs.get("password")}
    manager = getattr(pool, "sentinel_manager", None)
    if manager is not None:
        addresses = [s.connection_pool.connection_kwargs for s in manager.sentinels]
        hosts = [(a["host"], a["port"]) for a in addresses]
        master: aioredis.Redis = AsyncSentinel(hosts, sentinel_kwargs=manager.sentinel_kwargs).master_for(
            str(pool.service_name), **common
        )
        return master
    if kwargs.get("path"):
        return aioredis.Redis(unix_socket_path=kwargs["path"], **common)
    return aioredis.Redis(host=kwargs.get("host", "localhost"), port=kwargs.get("port", 6379), **common)
