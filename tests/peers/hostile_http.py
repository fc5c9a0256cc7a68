"""A hostile HTTP target on 127.0.0.1 (raw asyncio, so it can misbehave at the byte level).

Paths choose the misbehaviour; every request is recorded with its ``Idempotency-Key``:

    /ok               200 "ok"
    /status/N         status N (500, 503...) with a short body
    /retry-after/S    429 with ``Retry-After: S``
    /redirect         302 to /ok
    /timeout          reads the request, never answers (until ``hold`` seconds pass)
    /slow             200, then the body one byte every 0.5 s (``hold`` seconds in all)
    /drip             the status line and headers one byte every 0.2 s (never a whole answer)
    /reset            half the status line, then a TCP reset
    /huge             200 with a 1 GB Content-Length, zeros streamed until the client hangs up

``HostileTarget().start()`` serves in a daemon thread; ``stop()`` closes the server and every
connection. ``refused_url()`` is an address where nothing listens.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from dataclasses import dataclass, field

from tests.peers.loop_server import LoopServer, read_head
from tests.peers.ports import free_port

GIGABYTE = 1 << 30


@dataclass
class Request:
    path: str
    idempotency_key: str | None
    at: float


@dataclass
class HostileTarget(LoopServer):
    hold: float = 120.0  # the longest any misbehaviour lasts (a test never hangs on the peer)
    requests: list[Request] = field(default_factory=list)

    @staticmethod
    def refused_url() -> str:
        return f"http://127.0.0.1:{free_port()}/nothing-listens"

    def keys(self, path: str | None = None) -> list[str | None]:
        return [r.idempotency_key for r in self.requests if path is None or r.path == path]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                path, headers = await read_head(reader)
                length = int(headers.get("content-length") or 0)
                if length:
                    await reader.readexactly(length)
                self.requests.append(Request(path, headers.get("idempotency-key"), time.time()))
                if not await self._answer(path, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
            return
        finally:
            if not writer.is_closing():
                writer.close()

    async def _answer(self, path: str, w: asyncio.StreamWriter) -> bool:
        """Write the answer; False when the connection must end."""
        if path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            return await _reply(w, code, b"hostile says no")
        if path.startswith("/retry-after/"):
            return await _reply(w, 429, b"slow down", {"Retry-After": path.rsplit("/", 1)[1]})
        if path == "/redirect":
            return await _reply(w, 302, b"", {"Location": "/ok"})
        if path == "/timeout":
            await asyncio.sleep(self.hold)
            return False
        if path == "/slow":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
            deadline = time.monotonic() + self.hold
            while time.monotonic() < deadline:
                w.write(b".")
                await w.drain()
                await asyncio.sleep(0.5)
            return False
        if path == "/drip":
            deadline = time.monotonic() + self.hold
            for byte in b"HTTP/1.1 200 OK\r\nX-Drip: " + b"x" * 100_000:
                if time.monotonic() >= deadline:
                    break
                w.write(bytes([byte]))
                await w.drain()
                await asyncio.sleep(0.2)
            return False
        if path == "/reset":
            w.write(b"HTTP/1.1 2")
            await w.drain()
            sock = w.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            w.transport.abort()
            return False
        if path == "/huge":
            w.write(f"HTTP/1.1 200 OK\r\nContent-Length: {GIGABYTE}\r\n\r\n".encode())
            chunk, sent = b"\0" * 65536, 0
            while sent < GIGABYTE:
                w.write(chunk)
                await w.drain()
                sent += len(chunk)
            return False
        return await _reply(w, 200, b"ok")


async def _reply(w: asyncio.StreamWriter, code: int, body: bytes, headers: dict[str, str] | None = None) -> bool:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    w.write(f"HTTP/1.1 {code} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body)
    await w.drain()
    return True
