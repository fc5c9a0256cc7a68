"""The dispatch lease on a real Redis, concurrency policies through the store, and an idle
dispatcher's cost (Redis commands over an idle period with many jobs, not wall clock)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import redis
from rq import Queue

from controller.cli import main
from controller.dispatch import Dispatcher
from controller.lease import Lease
from controller.settings import ControllerSettings
from controller.state.schedule import ScheduleStore


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_lease_acquire_renew_expire_and_takeover(redis_client: redis.Redis) -> None:
    clock = Clock()
    a = Lease(redis_client, "cp:lease", "a", ttl=0.5, clock=clock)
    b = Lease(redis_client, "cp:lease", "b", ttl=0.5, clock=clock)
    assert a.acquire_or_renew() and a.held()
    assert not b.acquire_or_renew() and not b.held()
    assert a.acquire_or_renew()  # renewal by the holder
    clock.t = 0.6
    assert not a.held(), "a leader that could not renew in time stops at once"
    redis_client.pexpire("cp:lease", 1)  # the key lapses in Redis too (a dead leader)
    threading.Event().wait(0.05)
    assert b.acquire_or_renew() and b.held()
    assert not a.acquire_or_renew()
    b.release()
    assert redis_client.get("cp:lease") is None


def test_leader_without_redis_stops_dispatching(redis_url: str) -> None:
    lease = Lease(redis.Redis(port=1), "cp:lease", "a", ttl=5)
    assert not lease.acquire_or_renew() and not lease.held()


def write_jobs(root: Path, n: int, extra: str = "") -> None:
    docs = "apiVersion: cronplane/v1\nkind: JobCollection\nmetadata: {name: big}\nspec: {plan: p20premium}\n"
    docs += "".join(
        f"---\napiVersion: cronplane/v1\nkind: Job\nmetadata: {{name: j{i}, collection: big}}\nspec:\n"
        f"  startTime: '2026-01-01T00:00:00Z'\n  recurrence: {{frequency: hour}}\n{extra}"
        "  action: {type: http, request: {method: GET, uri: 'http://127.0.0.1:9/'}}\n"
        for i in range(n)
    )
    (root / "jobs.yaml").write_text(docs)


def test_forbid_skips_while_running_and_records_it(redis_url: str, tmp_path: Path) -> None:
    write_jobs(tmp_path, 1, "  concurrencyPolicy: forbid\n")
    assert main(["apply", str(tmp_path), "--redis-url", redis_url, "--now", "2026-01-01T00:30:00Z"]) == 0
    r = redis.Redis.from_url(redis_url)
    r.set("cp:running:big/j0", "big_j0-1767225600", ex=60)  # the previous invocation still runs
    settings = ControllerSettings(redis_url=redis_url)
    store = ScheduleStore(r, settings.keys, Queue("cronplane", connection=r), settings.fired_ttl)
    Dispatcher(store, settings).run_pass(datetime(2026, 1, 1, 1, 0, 1, tzinfo=UTC))
    assert Queue("cronplane", connection=r).job_ids == []
    assert r.hget("cp:status:big/j0", "skippedCount") == b"1"
    assert b'"status": "skipped"' in r.zrange("cp:history:big/j0", 0, -1)[0]
    r.delete("cp:running:big/j0")
    Dispatcher(store, settings).run_pass(datetime(2026, 1, 1, 2, 0, 1, tzinfo=UTC))
    assert Queue("cronplane", connection=r).job_ids == ["big_j0-1767232800"]


def test_idle_dispatcher_costs_almost_nothing(redis_url: str, tmp_path: Path) -> None:
    write_jobs(tmp_path, 1000)
    assert main(["apply", str(tmp_path), "--redis-url", redis_url, "--now", "2026-01-01T00:30:00Z"]) == 0
    r = redis.Redis.from_url(redis_url)
    settings = ControllerSettings(redis_url=redis_url, max_sleep=0.5)
    store = ScheduleStore(r, settings.keys, Queue("cronplane", connection=r), settings.fired_ttl)
    dispatcher = Dispatcher(store, settings)
    stop = threading.Event()
    r.config_resetstat()
    thread = threading.Thread(
        target=dispatcher.run_forever, args=(stop, lambda: datetime(2026, 1, 1, 0, 31, tzinfo=UTC))
    )
    thread.start()
    stop.wait(3.0)  # nothing is due for another 29 minutes
    stop.set()
    thread.join(5)
    calls = sum(v["calls"] for k, v in r.info("commandstats").items() if not k.endswith(("info", "config")))
    # About 10 commands per idle turn (a turn per max_sleep); a cost per job would be >= 1,000.
    # The bound leaves room for the extra turns a loaded machine makes (71 were seen once).
    assert calls < 150, f"{calls} Redis commands in 3 s of idling with 1,000 jobs"
    assert Queue("cronplane", connection=r).job_ids == []
