"""Read-only views for people and tools (``cronplane status``, the API): jobs with their derived
status, collections and the last sync pass, all decoded by the records' own codecs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from controller.state.keys import ControllerKeys
from controller.state.sync_record import SyncRecord
from worker.records import CollectionRecord, JobStatus


class StatusReader:
    def __init__(self, client: redis.Redis, keys: ControllerKeys):
        self.r, self.keys = client, keys

    def job_names(self) -> list[str]:
        return sorted(_s(m) for m in self.r.smembers(self.keys.jobs()))

    def statuses(self, names: Sequence[str]) -> list[JobStatus]:
        with self.r.pipeline(transaction=False) as pipe:
            for n in names:
                pipe.hgetall(self.keys.job(n))
                pipe.hgetall(self.keys.cursor(n))
                pipe.hgetall(self.keys.status(n))
            rows = pipe.execute()
        return [JobStatus.from_redis(n, *rows[3 * i : 3 * i + 3]) for i, n in enumerate(names)]

    def collections(self) -> list[CollectionRecord]:
        names = sorted(_s(m) for m in self.r.smembers(self.keys.collections()))
        with self.r.pipeline(transaction=False) as pipe:
            for n in names:
                pipe.hgetall(self.keys.collection(n))
            rows = pipe.execute()
        records = (CollectionRecord.from_redis(n, row) for n, row in zip(names, rows, strict=True))
        return [c for c in records if c is not None]

    def last_sync(self) -> SyncRecord | None:
        return SyncRecord.from_redis(self.r.hgetall(self.keys.sync()))


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
