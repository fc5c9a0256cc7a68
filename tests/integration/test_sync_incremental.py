"""A resync costs what changed, on a real redis-server: unchanged files are neither read nor
parsed, an edit among many reaches Redis, and the remembered observation always equals a fresh
full read (the change log is trusted only when it proves nothing else changed)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import redis

from controller.settings import ControllerSettings
from controller.sources.directory import DirectorySource
from controller.state.desired import DesiredStore
from controller.sync import SyncLoop
from worker.records import JobRecord

NOW = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
SETTINGS = ControllerSettings()
COLL = "apiVersion: cronplane/v1\nkind: JobCollection\nmetadata: {name: ops}\nspec: {plan: p20premium}\n"


def job(name: str, uri: str = "http://127.0.0.1:9/x") -> str:
    return (
        f"apiVersion: cronplane/v1\nkind: Job\nmetadata: {{name: {name}, collection: ops}}\n"
        f"spec:\n  cron: '*/10 * * * *'\n  action: {{type: http, request: {{method: GET, uri: '{uri}'}}}}\n"
    )


def manifests(root: Path, n: int) -> None:
    (root / "coll.yaml").write_text(COLL)
    for i in range(n):
        (root / f"job-{i:03d}.yaml").write_text(job(f"job-{i}"))


def loop(url: str, root: Path) -> SyncLoop:
    client = redis.Redis.from_url(url)
    return SyncLoop(DirectorySource(str(root)), DesiredStore(client, SETTINGS.keys, remember=True), SETTINGS)


def fresh(url: str) -> object:
    return DesiredStore(redis.Redis.from_url(url), SETTINGS.keys).observed()


def test_an_unchanged_file_is_not_read_or_parsed_and_an_edit_among_many_is_picked_up(
    tmp_path: Path, redis_url: str
) -> None:
    manifests(tmp_path, 200)
    sync = loop(redis_url, tmp_path)
    assert len(sync.run_pass(NOW).written) == 200
    source = sync.source
    assert isinstance(source, DirectorySource)
    reads, parses = source.cache.reads, sync.loader.parses
    assert parses == 201
    assert sync.run_pass(NOW).written == []
    assert (source.cache.reads, sync.loader.parses) == (reads, parses)  # one stat per file, nothing else

    touched = tmp_path / "job-010.yaml"
    os.utime(touched, ns=(1, 1))  # touched, same bytes: read again, not parsed again
    assert sync.run_pass(NOW).written == []
    assert (source.cache.reads, sync.loader.parses) == (reads + 1, parses)

    (tmp_path / "job-123.yaml").write_text(job("job-123", uri="http://127.0.0.1:9/edited"))
    report = sync.run_pass(NOW)
    assert report.written == ["ops/job-123"]
    assert sync.loader.parses == parses + 1
    stored = JobRecord.from_redis(
        "ops/job-123", redis.Redis.from_url(redis_url).hgetall(SETTINGS.keys.job("ops/job-123"))
    )
    assert stored is not None and stored.spec["action"]["request"]["uri"] == "http://127.0.0.1:9/edited"


def test_the_remembered_observation_equals_a_full_read(tmp_path: Path, redis_url: str) -> None:
    manifests(tmp_path, 30)
    sync = loop(redis_url, tmp_path)
    store = sync.store
    sync.run_pass(NOW)
    assert store.observed() == fresh(redis_url)
    full = store.full_reads

    # Another controller (its own store) writes an edit: the log names it, only it is re-read.
    (tmp_path / "job-004.yaml").write_text(job("job-004", uri="http://127.0.0.1:9/other"))
    other = loop(redis_url, tmp_path)
    other.run_pass(NOW)
    assert store.observed() == fresh(redis_url)
    assert store.full_reads == full and store.partial_reads >= 1

    # A deletion by the other writer.
    (tmp_path / "job-005.yaml").unlink()
    other.run_pass(NOW)
    observed = store.observed()
    assert "ops/job-5" not in observed.jobs and observed == fresh(redis_url)

    # The log trimmed past what this store saw: it cannot prove anything, so it reads everything.
    client = redis.Redis.from_url(redis_url)
    (tmp_path / "job-006.yaml").write_text(job("job-006", uri="http://127.0.0.1:9/trim"))
    other.run_pass(NOW)
    client.xtrim(SETTINGS.keys.desired_log(), maxlen=0)
    (tmp_path / "job-007.yaml").write_text(job("job-007", uri="http://127.0.0.1:9/trim"))
    other.run_pass(NOW)
    assert store.observed() == fresh(redis_url)
    assert store.full_reads == full + 1

    # Redis emptied under it: the revision went back, a full read again (and a pass re-creates).
    client.flushall()
    assert store.observed() == fresh(redis_url)
    assert len(sync.run_pass(NOW).written) == 29


def test_a_poked_read_of_the_changed_paths_equals_a_full_read(tmp_path: Path) -> None:
    root = tmp_path / "m"
    (root / "sub").mkdir(parents=True)
    for name in ("a.yaml", "b.yaml", "sub/c.yml"):
        (root / name).write_text(job(name.split("/")[-1].split(".")[0]))
    source = DirectorySource(str(root))
    source.read()
    (root / "a.yaml").write_text(job("a", uri="http://127.0.0.1:9/changed"))
    (root / "b.yaml").unlink()
    (root / "sub" / "d.yaml").write_text(job("d"))
    (root / ".hidden.yaml").write_text("{{{")
    (root / "notes.txt").write_text("{{{")
    names = ["a.yaml", "b.yaml", "sub/d.yaml", ".hidden.yaml", "notes.txt"]
    changed = {os.path.abspath(root / n) for n in names}
    poked = source.read_changed(changed)
    full = DirectorySource(str(root)).read()
    assert (poked.files, poked.problems) == (full.files, full.problems)
    assert sorted(poked.files) == [str(root / "a.yaml"), str(root / "sub" / "c.yml"), str(root / "sub" / "d.yaml")]
