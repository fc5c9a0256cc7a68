"""The benchmark's HTTP target: a minimal keep-alive HTTP/1.1 server on asyncio, in its own process.

``python -m benchmarks.http_target PORT``. Answers every request with ``200 ok``, except paths
starting with ``/fail-once``: the first request of each ``Idempotency-Key`` gets ``500`` (so the
worker schedules a retry), later ones ``200``. Its own capacity is measured by the benchmark
(``capacity``), so the table shows that the target is not the bottleneck.
"""

from __future__ import annotations

import asyncio
import sys
import time

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
FAIL = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nContent-Type: text/plain\r\n\r\nboom"
SEEN: set[bytes] = set()


class _Http(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end]
            length, key = 0, b""
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                lowered = name.strip().lower()
                if lowered == b"content-length":
                    length = int(value)
                elif lowered == b"idempotency-key":
                    key = value.strip()
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(self._answer(head, key))

    @staticmethod
    def _answer(head: bytes, key: bytes) -> bytes:
        if b" /fail-once" in head[:64] and key not in SEEN:
            SEEN.add(key)
            return FAIL
        return OK


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Http, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


async def _blast(url: str, n: int, concurrency: int) -> float:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate, session.post(url, data=b"x") as answer:
                await answer.read()

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return n / (time.perf_counter() - start)


def capacity(url: str, n: int = 20_000, concurrency: int = 100) -> float:
    """Requests per second the target answers to one aiohttp client process."""
    return asyncio.run(_blast(url, n, concurrency))


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
