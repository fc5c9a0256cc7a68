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
import threading
import time
from dataclasses import dataclass, field

from tests.peers.ports import free_port


@dataclass(frozen=True)
class Seen:
    path: str
    key: str
    at: float


@dataclass
class RecordingTarget:
    port: int = 0
    requests: list[Seen] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def keys(self) -> list[str]:
        return [r.key for r in self.requests]

    def by_key(self) -> dict[str, list[Seen]]:
        found: dict[str, list[Seen]] = {}
        for r in list(self.requests):
            found.setdefault(r.key, []).append(r)
        return found

    def start(self) -> RecordingTarget:
        self.port = self.port or free_port()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise TimeoutError("the recording target did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        server = loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        ready.set()
        loop.run_forever()
        server.close()
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
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
