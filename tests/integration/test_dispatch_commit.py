"""The exactly-once commit's fallback path on a real Redis: a sync pass re-creates a job's cursor
between the dispatcher's load and its commit. The batch commit must fail, the one-job path must
enqueue the occurrence once, and the sync's new cursor must be kept (not overwritten)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import redis
from rq import Queue

from controller.cli import main
from controller.dispatch import Dispatcher
from controller.settings import ControllerSettings
from controller.state.schedule import DueJob, ScheduleStore
from worker.records import CursorRecord

JOB = """apiVersion: cronplane/v1
kind: Job
metadata: {{name: a}}
spec:
  startTime: '2026-01-01T00:00:00Z'
  cron: '{cron}'
  action: {{type: http, request: {{method: GET, uri: 'http://127.0.0.1:9/'}}}}
"""


class RacingStore(ScheduleStore):
    """Runs ``race`` right after loading, as a concurrent sync pass would."""

    race = None

    def load(self, names: Sequence[str]) -> list[DueJob | str]:
        loaded = super().load(names)
        if self.race is not None:
            race, self.race = self.race, None
            race()
        return loaded


def test_a_cursor_reset_between_load_and_commit_keeps_the_new_cursor(redis_url: str, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(JOB.format(cron="*/10 * * * *"))
    url = ["--redis-url", redis_url]
    assert main(["apply", str(tmp_path), *url, "--now", "2026-01-01T00:05:00Z"]) == 0
    r = redis.Redis.from_url(redis_url)
    settings = ControllerSettings(redis_url=redis_url)
    store = RacingStore(r, settings.keys, Queue("cronplane", connection=r), settings.fired_ttl)
    # the timing edit lands while the dispatcher holds the 00:10 occurrence in memory
    (tmp_path / "a.yaml").write_text(JOB.format(cron="*/15 * * * *"))
    store.race = lambda: main(["apply", str(tmp_path), *url, "--now", "2026-01-01T00:10:01Z"])  # type: ignore[assignment]
    enqueued = Dispatcher(store, settings).run_pass(datetime(2026, 1, 1, 0, 10, 2, tzinfo=UTC))
    assert enqueued == 1
    assert Queue("cronplane", connection=r).job_ids == ["default_a-1767226200"]  # 00:10, once
    cursor = CursorRecord.from_redis(r.hgetall(settings.keys.cursor("default/a")))
    assert cursor is not None and cursor.generation == 2  # the sync's cursor, not the dispatcher's
    assert cursor.next_at == int(datetime(2026, 1, 1, 0, 15, tzinfo=UTC).timestamp())
    assert r.zscore(settings.keys.due(), "default/a") == cursor.next_at
    # a second pass at the same instant (a replay) enqueues nothing more
    assert Dispatcher(store, settings).run_pass(datetime(2026, 1, 1, 0, 10, 2, tzinfo=UTC)) == 0
    assert len(Queue("cronplane", connection=r).job_ids) == 1
