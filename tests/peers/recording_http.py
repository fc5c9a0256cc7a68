"""A concurrent HTTP target on 127.0.0.1 that records every request with its ``Idempotency-Key``.

For the worker fault tests (kills, shutdowns, outages): paths choose the answer,

    /ok               200 at once
    /first-slow/S     the first request of each Idempotency-Key waits S seconds, later ones answer at once
    /slow/S           every request waits S seconds (a worker kill lands in the middle of a call)
    /fail-once        the first request of each Idempotency-Key gets 500, later ones 200

``RecordingTarget().start()`` serves on an asyncio loop in a daemon thread (many requests at
once: a request cut off by a killed worker does not hold the next one); ``stop()`` ends it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from tests.peers.loop_server import LoopServer, read_head


@dataclass(frozen=True)
class Seen:
    path: str
    key: str
    at: float


@dataclass
class RecordingTarget(LoopServer):
    requests: list[Seen] = field(default_factory=list)

    def keys(self) -> list[str]:
        return [r.key for r in self.requests]

    def by_key(self) -> dict[str, list[Seen]]:
        found: dict[str, list[Seen]] = {}
        for r in list(self.requests):
            found.setdefault(r.key, []).append(r)
        return found

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                path, headers = await read_head(reader)
                if length := int(headers.get("content-length") or 0):
                    await reader.readexactly(length)
                key = headers.get("idempotency-key", "")
                first = all(r.key != key or r.path != path for r in self.requests)
                self.requests.append(Seen(path, key, time.time()))
                status = 200
                if (path.startswith("/first-slow/") and first) or path.startswith("/slow/"):
                    await asyncio.sleep(float(path.rsplit("/", 1)[1]))
                elif path == "/fail-once" and first:
                    status = 500
                body = b"ok" if status == 200 else b"boom"
                writer.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            return
        finally:
            if not writer.is_closing():
                writer.close()
