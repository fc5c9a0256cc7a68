"""All of the worker's Redis access: history, counters, job status and the running marker.

Each attempt's record (history entry + counters + status fields) is one MULTI, so a reader never
sees a history entry without its counters. Every key written here is bounded: history is trimmed
by count and age and expires, the running marker has a TTL.
"""

from __future__ import annotations

from collections.abc import Mapping

import redis

from worker.contract import HistoryEntry, Keys, add_history, observe_lateness
from worker.settings import WorkerSettings

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class WorkerStore:
    def __init__(self, client: redis.Redis, settings: WorkerSettings):
        self.r, self.keys, self.settings = client, settings.keys, settings

    def record(
        self,
        entry: HistoryEntry,
        *,
        score_ms: int,
        counters: Mapping[str, int],
        status: Mapping[str, str],
        lateness: float | None = None,
    ) -> None:
        with self.r.pipeline(transaction=True) as pipe:
            add_history(
                pipe,
                self.keys,
                entry,
                score_ms=score_ms,
                max_entries=self.settings.history_max_entries,
                max_age_seconds=self.settings.history_max_age_seconds,
            )
            status_key = self.keys.status(entry.job)
            for name, amount in counters.items():
                pipe.hincrby(status_key, name, amount)
            if status:
                pipe.hset(status_key, mapping=dict(status))  # type: ignore[arg-type]
            if lateness is not None:
                observe_lateness(pipe, self.keys, lateness)
            pipe.execute()

    def hold_running(self, job: str, invocation_id: str, ttl: int) -> None:
        """Mark the job's occurrence as running (concurrencyPolicy forbid/replace reads it)."""
        self.r.set(self.keys.running(job), invocation_id, ex=max(1, ttl))

    def release_running(self, job: str, invocation_id: str) -> None:
        self.r.eval(_RELEASE, 1, self.keys.running(job), invocation_id)


def history_page(
    client: redis.Redis,
    keys: Keys,
    job: str,
    *,
    top: int,
    skip: int,
    status: str | None,
    max_age_seconds: int,
    now_ms: int,
) -> list[HistoryEntry]:
    """Newest first; ``status`` filters; entries older than the age bound are not returned."""
    raw = client.zrevrangebyscore(keys.history(job), "+inf", now_ms - max_age_seconds * 1000)
    entries = (HistoryEntry.from_json(r) for r in raw)  # type: ignore[arg-type]
    selected = [e for e in entries if status is None or e.status == status]
    return selected[skip : skip + top]
