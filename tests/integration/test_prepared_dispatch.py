"""Prepared dispatches on a real redis-server: an occurrence decided ahead of its due time has its
RQ job record written (staged, where RQ does not look) and, at the due time, one Lua step moves
it into the queue with its marker and cursor. What an edit, a delete, a suspension or a lost
lease does to a prepared occurrence: it is withdrawn (the staged record is deleted) and the
occurrence is decided again from what Redis holds — never the old payload, never twice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from rq import Queue
from rq.job import Job

from controller.cli import main
from controller.dispatch import Dispatcher
from controller.lease import Lease
from controller.settings import ControllerSettings
from controller.state.overrides import OverrideStore
from controller.state.schedule import Dispatch, Fence, ScheduleStore
from worker.records import CursorRecord

JOB = """apiVersion: cronplane/v1
kind: Job
metadata: {{name: {name}}}
spec:
  startTime: '2026-01-01T00:10:00Z'
  recurrence: {{frequency: minute, interval: 5}}
  action: {{type: http, request: {{method: GET, uri: 'http://127.0.0.1:9/{uri}'}}}}
"""
DUE = datetime(2026, 1, 1, 0, 10, tzinfo=UTC)
BEFORE = DUE - timedelta(seconds=5)
AT = DUE + timedelta(seconds=1)


def apply(tmp_path: Path, redis_url: str, now: datetime, *extra: str) -> None:
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert main(["apply", str(tmp_path), "--redis-url", redis_url, "--now", stamp, *extra]) == 0


def setup(
    redis_url: str, tmp_path: Path, names: Sequence[str] = ("a",), cls: type[ScheduleStore] = ScheduleStore
) -> tuple[redis.Redis, ControllerSettings, Any, Dispatcher]:
    for name in names:
        (tmp_path / f"{name}.yaml").write_text(JOB.format(name=name, uri="old"))
    apply(tmp_path, redis_url, DUE - timedelta(minutes=5))
    r = redis.Redis.from_url(redis_url)
    settings = ControllerSettings(redis_url=redis_url)
    lease = Lease(r, settings.keys.lease(), "me", ttl=60)
    assert lease.acquire_or_renew()
    queue = Queue(settings.queue, connection=r)
    fence = Fence(settings.keys.lease(), "me")
    store = cls(r, settings.keys, queue, settings.fired_ttl, settings.bounds, fence)
    dispatcher = Dispatcher(store, settings, lease)
    assert dispatcher.prepare(BEFORE, stop_at=float("inf")) == len(names)
    for name in names:
        assert r.exists(staged(settings, name)), "the RQ job record is written ahead"
    assert Queue(settings.queue, connection=r).job_ids == [], "but not queued"
    return r, settings, store, dispatcher


def staged(settings: ControllerSettings, name: str) -> str:
    return settings.keys.staged("me", f"default_{name}-{int(DUE.timestamp())}")


def uri_of(r: redis.Redis, job_id: str) -> str:
    return str(Job.fetch(job_id, connection=r).args[0]["action"]["request"]["uri"])


def test_a_prepared_occurrence_is_released_into_the_queue_as_a_normal_rq_job(redis_url: str, tmp_path: Path) -> None:
    r, settings, _, dispatcher = setup(redis_url, tmp_path)
    assert dispatcher.run_pass(AT) == 1
    job_id = f"default_a-{int(DUE.timestamp())}"
    assert Queue(settings.queue, connection=r).job_ids == [job_id]
    job = Job.fetch(job_id, connection=r)
    assert (job.get_status(), job.origin, job.description) == ("queued", settings.queue, job_id)
    assert job.enqueued_at is not None and r.ttl(job.key) == -1  # no TTL while queued (RQ's own)
    assert not r.exists(staged(settings, "a")) and r.exists(settings.keys.fired(job_id))
    cursor = CursorRecord.from_redis(r.hgetall(settings.keys.cursor("default/a")))
    assert cursor is not None and cursor.next_at == int(DUE.timestamp()) + 300
    assert r.zscore(settings.keys.due(), "default/a") == cursor.next_at
    assert dispatcher.run_pass(AT) == 0  # a replay of the same instant
    assert len(Queue(settings.queue, connection=r).job_ids) == 1


def test_an_edit_withdraws_the_prepared_occurrence(redis_url: str, tmp_path: Path) -> None:
    r, settings, _, dispatcher = setup(redis_url, tmp_path)
    (tmp_path / "a.yaml").write_text(JOB.format(name="a", uri="new"))
    apply(tmp_path, redis_url, BEFORE + timedelta(seconds=1))
    assert dispatcher.run_pass(AT) == 1
    [job_id] = Queue(settings.queue, connection=r).job_ids
    assert uri_of(r, job_id) == "http://127.0.0.1:9/new"  # decided again from the new spec
    assert not r.exists(staged(settings, "a"))


def test_a_delete_withdraws_the_prepared_occurrence(redis_url: str, tmp_path: Path) -> None:
    r, settings, _, dispatcher = setup(redis_url, tmp_path, ("a", "b", "c", "d"))
    (tmp_path / "a.yaml").unlink()
    apply(tmp_path, redis_url, BEFORE + timedelta(seconds=1), "--prune")
    assert dispatcher.run_pass(AT) == 3
    assert sorted(Queue(settings.queue, connection=r).job_ids) == [f"default_{n}-{int(DUE.timestamp())}" for n in "bcd"]
    assert not r.exists(staged(settings, "a"))


def test_a_suspension_withdraws_the_prepared_occurrence(redis_url: str, tmp_path: Path) -> None:
    r, settings, _, dispatcher = setup(redis_url, tmp_path)
    OverrideStore(r, settings.keys).suspend("job", "default/a", timedelta(hours=1), "maintenance", "ops", BEFORE)
    assert dispatcher.run_pass(AT) == 0
    assert Queue(settings.queue, connection=r).job_ids == []
    assert not r.exists(staged(settings, "a"))
    cursor = CursorRecord.from_redis(r.hgetall(settings.keys.cursor("default/a")))
    assert cursor is not None and cursor.next_at == int(DUE.timestamp()) + 300  # skipped, moved on


def test_a_deposed_leader_cannot_release(redis_url: str, tmp_path: Path) -> None:
    r, settings, _, dispatcher = setup(redis_url, tmp_path)
    r.set(settings.keys.lease(), "another", px=30_000)  # the lease passed while we were paused
    assert dispatcher.run_pass(AT) == 0
    assert Queue(settings.queue, connection=r).job_ids == [] and r.keys("cp:fired:*") == []
    assert r.zscore(settings.keys.due(), "default/a") == int(DUE.timestamp())
    assert not r.exists(staged(settings, "a")) and dispatcher.prepared == {}


class RacingStore(ScheduleStore):
    """Runs ``race`` just before the first release, as a sync pass landing at that moment would."""

    race: Any = None

    def release(self, batch: Sequence[Dispatch], rev: int) -> tuple[int, list[Dispatch]] | None:
        if self.race is not None:
            race, self.race = self.race, None
            race()
        return super().release(batch, rev)


def test_an_edit_landing_at_the_release_withdraws_only_what_it_touched(redis_url: str, tmp_path: Path) -> None:
    r, settings, store, dispatcher = setup(redis_url, tmp_path, ("a", "b"), RacingStore)

    def edit() -> None:
        (tmp_path / "a.yaml").write_text(JOB.format(name="a", uri="new"))
        apply(tmp_path, redis_url, BEFORE + timedelta(seconds=2))

    store.race = edit
    assert dispatcher.run_pass(AT) == 2
    ids = sorted(Queue(settings.queue, connection=r).job_ids)
    assert ids == [f"default_{n}-{int(DUE.timestamp())}" for n in "ab"]
    assert [uri_of(r, i) for i in ids] == ["http://127.0.0.1:9/new", "http://127.0.0.1:9/old"]
    assert not r.exists(staged(settings, "a")) and not r.exists(staged(settings, "b"))
    assert dispatcher.run_pass(AT) == 0


class NoStaging(ScheduleStore):
    """An RQ without the queue preparation step: prepared dispatches are committed, not staged."""

    def stage(self, batch: Sequence[Dispatch], ttl: float) -> int:
        return 0


def test_without_staging_a_prepared_occurrence_is_committed_and_an_edit_withdraws_it(
    redis_url: str, tmp_path: Path
) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text(JOB.format(name=name, uri="old"))
    apply(tmp_path, redis_url, DUE - timedelta(minutes=5))
    r = redis.Redis.from_url(redis_url)
    settings = ControllerSettings(redis_url=redis_url)
    store = NoStaging(r, settings.keys, Queue(settings.queue, connection=r), settings.fired_ttl, settings.bounds)
    dispatcher = Dispatcher(store, settings)
    assert dispatcher.prepare(BEFORE, stop_at=float("inf")) == 2 and r.keys("cp:staged:*") == []
    (tmp_path / "a.yaml").write_text(JOB.format(name="a", uri="new"))
    apply(tmp_path, redis_url, BEFORE + timedelta(seconds=1))
    assert dispatcher.run_pass(AT) == 2
    ids = sorted(Queue(settings.queue, connection=r).job_ids)
    assert [uri_of(r, i) for i in ids] == ["http://127.0.0.1:9/new", "http://127.0.0.1:9/old"]
    assert dispatcher.run_pass(AT) == 0
