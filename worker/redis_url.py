"""Redis URLs: the one parser every process uses (controller, workers, API server, CLI).

Accepted forms:

    redis://[user:password@]host[:port][/db]      rediss://... (TLS)      unix:///path.sock?db=N
    redis+sentinel://[password@]host:port[,host:port...]/master-name[/db]

A Sentinel URL gives a client that asks the sentinels for the current master, so after a
failover the next command goes to the new master (redis-py's ``Sentinel.master_for``). A URL
that is neither is a ``RedisUrlError`` whose text is one line for people.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"
SCHEMES = ("redis://", "rediss://", "unix://", f"{SENTINEL_SCHEME}://")


class RedisUrlError(ValueError):
    """Not a Redis URL we can use; ``str()`` is one line naming the accepted forms."""


def redis_from_url(url: str, **kwargs: Any) -> redis.Redis:
    """A client for ``url``; ``kwargs`` are redis-py connection options (timeouts...)."""
    if url.startswith(f"{SENTINEL_SCHEME}://"):
        hosts, master, db, password = parse_sentinel_url(url)
        sentinel = Sentinel(hosts, sentinel_kwargs={"socket_timeout": kwargs.get("socket_connect_timeout", 2.0)})
        return sentinel.master_for(master, db=db, password=password, **kwargs)
    if not url.startswith(SCHEMES):
        raise RedisUrlError(f"{url!r} is not a Redis URL (use {', '.join(SCHEMES)})")
    try:
        return redis.Redis.from_url(url, **kwargs)
    except ValueError as e:
        raise RedisUrlError(f"{url!r} is not a Redis URL ({e})") from None


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
