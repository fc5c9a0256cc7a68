"""Group commit for Redis: the writes that concurrent invocations queue during one turn of the
event loop (and while the previous batch is in flight) go to Redis as one atomic Lua call.

Writers queue commands on a ``Recorder`` (the subset of redis-py's pipeline API the worker uses,
plus two guarded writes); the batch is sent as one JSON argument and run by ``_APPLY``, so a
batch costs one command, one round trip and one reply however many jobs it holds (redis-py's
pipelines pay a packed command and a parsed reply per command, which is most of a job's cost).
Binary values travel as extra arguments, referenced from the JSON by index.

Outages (with a ``RedisLink``): a batch that fails transiently (connection lost, timeout, a
failover) is *held* and sent again, with backoff, until Redis answers; its writers keep waiting,
so a finished attempt is never lost. A failure can be ambiguous (the script ran, the reply was
lost), so each batch carries a token: the script first does ``SET {prefix}:batch:<token> NX EX
300`` and applies nothing if the token exists, so a batch sent twice is applied once (counters
are not doubled).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from worker.health import RedisLink

_APPLY = """
if ARGV[2] ~= '' and not redis.call('set', ARGV[2], '1', 'NX', 'EX', 300) then return -1 end
local ops = cjson.decode(ARGV[1])
for _, op in ipairs(ops) do
  for i, a in ipairs(op) do
    if type(a) == 'table' then op[i] = ARGV[a[1]] end
  end
  local name = op[1]
  if name == 'delifeq' then
    if redis.call('get', op[2]) == op[3] then redis.call('del', op[2]) end
  elseif name == 'createifnew' then
    if redis.call('exists', op[2]) == 0 then
      redis.call('zadd', op[3], op[4], op[5])
      redis.call('hset', op[2], unpack(op, 6))
    end
  else
    redis.call(unpack(op))
  end
end
return #ops
"""

Value = str | bytes | int | float


class Recorder:
    """Collects commands; ``payload`` is what ``_APPLY`` runs."""

    def __init__(self) -> None:
        self.ops: list[list[Any]] = []
        self.blobs: list[bytes] = []

    def _op(self, *parts: Value) -> None:
        self.ops.append([self._arg(p) for p in parts])

    def _arg(self, value: Value) -> Any:
        if isinstance(value, bytes):
            self.blobs.append(value)
            return [len(self.blobs) + 2]  # ARGV index: ARGV[1] is the JSON, ARGV[2] the token
        return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)

    def hset(
        self, key: str, field: str | None = None, value: Value | None = None, mapping: Mapping[str, Value] | None = None
    ) -> None:
        pairs: list[Value] = [] if field is None or value is None else [field, value]
        for k, v in (mapping or {}).items():
            pairs += [k, v]
        self._op("hset", key, *pairs)

    def hincrby(self, key: str, field: str, amount: int = 1) -> None:
        self._op("hincrby", key, field, int(amount))

    def hincrbyfloat(self, key: str, field: str, amount: float) -> None:
        self._op("hincrbyfloat", key, field, float(amount))

    def zadd(self, key: str, mapping: Mapping[str, float], xx: bool = False) -> None:
        flags: list[Value] = ["XX"] if xx else []
        pairs: list[Value] = [part for member, score in mapping.items() for part in (score, member)]
        self._op("zadd", key, *flags, *pairs)

    def zrem(self, key: str, *members: str) -> None:
        self._op("zrem", key, *members)

    def zremrangebyrank(self, key: str, start: int, end: int) -> None:
        self._op("zremrangebyrank", key, start, end)

    def zremrangebyscore(self, key: str, low: Value, high: Value) -> None:
        self._op("zremrangebyscore", key, low, high)

    def expire(self, key: str, seconds: int) -> None:
        self._op("expire", key, int(seconds))

    def sadd(self, key: str, *members: str) -> None:
        self._op("sadd", key, *members)

    def srem(self, key: str, *members: str) -> None:
        self._op("srem", key, *members)

    def delete(self, *keys: str) -> None:
        self._op("del", *keys)

    def set(self, key: str, value: Value, ex: int | None = None) -> None:
        self._op("set", key, value, *(["EX", str(int(ex))] if ex else []))

    def xadd(self, key: str, fields: Mapping[str, Value], maxlen: int | None = None) -> None:
        trim: list[Value] = ["MAXLEN", "~", maxlen] if maxlen else []
        pairs: list[Value] = [part for kv in fields.items() for part in kv]
        self._op("xadd", key, *trim, "*", *pairs)

    def delete_if_equal(self, key: str, value: str) -> None:
        """DEL ``key`` only while it still holds ``value`` (a marker another writer may own now)."""
        self._op("delifeq", key, value)

    def create_if_new(self, key: str, mapping: Mapping[str, Value], zset: str, score: float, member: str) -> None:
        """HSET ``mapping`` into a new hash and ZADD ``member`` to ``zset``; nothing if ``key``
        exists (a replayed attempt finds its retry already scheduled)."""
        fields: list[Value] = [part for kv in mapping.items() for part in kv]
        self._op("createifnew", key, zset, score, member, *fields)

    def payload(self, token_key: str = "") -> list[Any]:
        return [json.dumps(self.ops, separators=(",", ":")), token_key, *self.blobs]


Commands = Callable[[Recorder], None]


class Batcher:
    def __init__(self, redis: Any, max_batch: int = 500, link: RedisLink | None = None, token_prefix: str = "cp"):
        self.r, self.max_batch, self.link = redis, max_batch, link
        self.token_prefix = f"{token_prefix}:batch:"
        self.held = 0  # batches waiting for Redis to come back
        self.give_up = False  # set at shutdown: stop holding batches while Redis is away
        self.apply = redis.register_script(_APPLY)
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
            await asyncio.sleep(0)  # let the other writers of this turn join the batch
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                await self._execute(batch)
        finally:
            self._flusher = None

    async def _execute(self, batch: list[tuple[Commands, asyncio.Future[None]]]) -> None:
        recorder = Recorder()
        try:
            for commands, _ in batch:
                commands(recorder)
            if self.link is None:
                await self.apply(keys=[], args=recorder.payload())
            else:
                args = recorder.payload(self.token_prefix + uuid.uuid4().hex)
                self.held += 1
                try:
                    await self.link.call(lambda: self.apply(keys=[], args=args), stop=lambda: self.give_up)
                finally:
                    self.held -= 1
        except Exception as e:  # every writer of the batch learns that its write failed
            for _, future in batch:
                if not future.done():
                    future.set_exception(e)
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)
