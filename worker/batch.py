"""Group commit for Redis: the commands that concurrent invocations queue during one turn of the
event loop (and while the previous batch is in flight) go to Redis as one MULTI pipeline.

This is what turns per-job round trips into per-batch round trips without changing the shape of
the code that writes: each caller says what to write and awaits its own completion.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

Commands = Callable[[Any], None]  # queues commands on a pipeline


class Batcher:
    def __init__(self, redis: Any, max_batch: int = 500):
        self.r, self.max_batch = redis, max_batch
        self._pending: list[tuple[Commands, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def submit(self, commands: Commands) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((commands, future))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return future

    async def drain(self) -> None:
        while self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # let the other callers of this turn join the batch
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                await self._execute(batch)
        finally:
            self._flusher = None

    async def _execute(self, batch: list[tuple[Commands, asyncio.Future[None]]]) -> None:
        try:
            async with self.r.pipeline(transaction=True) as pipe:
                for commands, _ in batch:
                    commands(pipe)
                await pipe.execute()
        except Exception as e:  # every writer of the batch learns that its write failed
            for _, future in batch:
                if not future.done():
                    future.set_exception(e)
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)
