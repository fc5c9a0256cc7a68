"""Watch mode (a changed file reaches Redis quickly, atomic renames count once) and git mode
(commits are followed, SHAs recorded, a failed fetch deletes nothing), with real controllers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import redis

from controller.state.sync_record import SyncRecord
from tests.peers.processes import ROOT, Child
from tests.peers.rq_worker import wait_until

DOC = """apiVersion: cronplane/v1
kind: Job
metadata: {{name: {name}}}
spec:
  cron: "{cron}"
  action: {{type: http, request: {{method: GET, uri: 'http://127.0.0.1:9/'}}}}
"""


def start(url: str, *args: str, log: Path) -> Child:
    return Child(["controller", *args, "--redis-url", url], log).start()


def stop(proc: Child) -> None:
    assert proc.stop(timeout=20) is not None, "the controller did not stop on SIGTERM"


def spec_of(r: redis.Redis, job: str) -> str:
    return (r.hget(f"cp:job:default/{job}", "spec") or b"").decode()


def test_watch_picks_up_edits_and_atomic_renames(redis_url: str, tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "a.yaml").write_text(DOC.format(name="a", cron="0 5 * * *"))
    r = redis.Redis.from_url(redis_url)
    proc = start(redis_url, "--manifests", str(d), log=tmp_path / "c.log")
    try:
        wait_until(lambda: "0 5 * * *" in spec_of(r, "a"), timeout=20)
        (d / "a.yaml").write_text(DOC.format(name="a", cron="0 6 * * *"))
        wait_until(lambda: "0 6 * * *" in spec_of(r, "a"), timeout=5)
        tmp = d / ".a.yaml.swp"
        tmp.write_text(DOC.format(name="a", cron="0 7 * * *"))
        tmp.rename(d / "a.yaml")  # an editor's atomic save
        wait_until(lambda: "0 7 * * *" in spec_of(r, "a"), timeout=5)
        assert r.hget("cp:job:default/a", "generation") == b"3"
        (d / "a.yaml").unlink()  # the only manifest: an empty source never deletes
        wait_until(lambda: r.hget("cp:sync", "prune") == b"blocked_empty", timeout=5)
        assert r.sismember("cp:jobs", "default/a")
    finally:
        stop(proc)


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def test_git_mode_follows_commits_and_records_shas(redis_url: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.yaml").write_text(DOC.format(name="a", cron="0 5 * * *"))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "one")
    first = git(repo, "rev-parse", "HEAD")
    r = redis.Redis.from_url(redis_url)
    proc = start(
        redis_url,
        "--git",
        str(repo),
        "--branch",
        "main",
        "--poll",
        "0.5",
        "--checkout",
        str(tmp_path / "co"),
        log=tmp_path / "c.log",
    )
    try:
        wait_until(lambda: r.hget("cp:job:default/a", "gitSha") == first.encode(), timeout=20)
        assert r.hget("cp:status:default/a", "gitSha") == first.encode()
        (repo / "b.yaml").write_text(DOC.format(name="b", cron="0 6 * * *"))
        git(repo, "add", ".")
        git(repo, "commit", "-qm", "two")
        second = git(repo, "rev-parse", "HEAD")
        wait_until(lambda: r.hget("cp:job:default/b", "gitSha") == second.encode(), timeout=20)
        (repo / "bad.yaml").write_text("key: [unclosed\n")  # git mode shows file problems too
        git(repo, "add", ".")
        git(repo, "commit", "-qm", "three")
        wait_until(lambda: [p.path for p in sync_record(r).problems] == ["bad.yaml"], timeout=20)
        assert sync_record(r).result == "problems" and sync_record(r).revision == git(repo, "rev-parse", "HEAD")
        os.rename(repo, tmp_path / "gone")  # fetch now fails: nothing may be deleted
        wait_until(lambda: r.hget("cp:sync", "result") == b"error", timeout=20)
        assert r.sismember("cp:jobs", "default/a") and r.sismember("cp:jobs", "default/b")
        assert "git fetch failed" in sync_record(r).error
    finally:
        stop(proc)


def sync_record(r: redis.Redis) -> SyncRecord:
    record = SyncRecord.from_redis(r.hgetall("cp:sync"))
    assert record is not None
    return record


QUOTA = """apiVersion: cronplane/v1
kind: JobCollection
metadata: {name: tiny}
spec: {plan: free, quota: {maxJobCount: 1}}
---
apiVersion: cronplane/v1
kind: Job
metadata: {name: first, collection: tiny}
spec: {cron: "0 5 * * *", action: {type: http, request: {method: GET, uri: 'http://127.0.0.1:9/'}}}
---
apiVersion: cronplane/v1
kind: Job
metadata: {name: second, collection: tiny}
spec: {cron: "0 6 * * *", action: {type: http, request: {method: GET, uri: 'http://127.0.0.1:9/'}}}
"""


def test_a_running_controller_shows_every_problem_once(redis_url: str, tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "a.yaml").write_text(DOC.format(name="a", cron="0 5 * * *"))
    (d / "broken.yaml").write_text("key: [unclosed\n")
    (d / "invalid.yaml").write_text(DOC.format(name="never", cron="0 99 * * *"))
    (d / "quota.yaml").write_text(QUOTA)
    r = redis.Redis.from_url(redis_url)
    log = tmp_path / "c.log"
    proc = start(redis_url, "--manifests", str(d), "--poll", "0.3", log=log)
    try:
        wait_until(lambda: r.exists("cp:sync") and len(sync_record(r).problems) == 3, timeout=20)
        record = sync_record(r)
        assert record.result == "problems"
        by_path = {Path(p.path).name: p for p in record.problems}
        assert set(by_path) == {"broken.yaml", "invalid.yaml", "quota.yaml"}
        assert by_path["invalid.yaml"].job == "default/never" and by_path["quota.yaml"].job == "tiny/second"
        assert by_path["quota.yaml"].rejected and r.sismember("cp:jobs", "tiny/first")
        time.sleep(1.5)  # several passes: each problem is still logged once
        text = log.read_text()
        for name in ("broken.yaml", "invalid.yaml", "quota.yaml"):
            assert sum(name in line and "WARNING" in line for line in text.splitlines()) == 1, text
        (d / "broken.yaml").unlink()
        wait_until(lambda: len(sync_record(r).problems) == 2, timeout=10)
        wait_until(lambda: "resolved" in log.read_text() and "broken.yaml" in log.read_text(), timeout=5)
        status = subprocess.run(
            [sys.executable, "-m", "controller.cli", "status", "--redis-url", redis_url],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert "default/never: not applied" in status.stdout and "invalid.yaml:5:" in status.stdout
        assert "tiny/second: not applied" in status.stdout and "allows at most 1 jobs" in status.stdout
    finally:
        stop(proc)


def test_a_watched_file_and_a_vanished_directory(redis_url: str, tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    single = d / "a.yaml"
    single.write_text(DOC.format(name="a", cron="0 5 * * *"))
    r = redis.Redis.from_url(redis_url)
    proc = start(redis_url, "--manifests", str(single), log=tmp_path / "c.log")
    try:
        wait_until(lambda: "0 5 * * *" in spec_of(r, "a"), timeout=20)
        (d / "other.yaml").write_text(DOC.format(name="other", cron="0 6 * * *"))  # not watched, not read
        single.write_text(DOC.format(name="a", cron="0 7 * * *"))
        wait_until(lambda: "0 7 * * *" in spec_of(r, "a"), timeout=5)
        assert not r.sismember("cp:jobs", "default/other")
    finally:
        stop(proc)
    proc = start(redis_url, "--manifests", str(d), "--poll", "0.3", log=tmp_path / "c2.log")
    try:
        wait_until(lambda: r.sismember("cp:jobs", "default/other"), timeout=20)
        os.rename(d, tmp_path / "moved")  # the directory disappears: a visible problem, no deletion
        wait_until(lambda: sync_record(r).result == "error", timeout=10)
        assert "no such file or directory" in sync_record(r).error
        assert r.scard("cp:jobs") == 2
    finally:
        stop(proc)
