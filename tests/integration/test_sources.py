"""Watch mode (a changed file reaches Redis quickly, atomic renames count once) and git mode
(commits are followed, SHAs recorded, a failed fetch deletes nothing), with real controllers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import redis

from tests.peers.rq_worker import ROOT, wait_until

DOC = """apiVersion: cronplane/v1
kind: Job
metadata: {{name: {name}}}
spec:
  cron: "{cron}"
  action: {{type: http, request: {{method: GET, uri: 'http://127.0.0.1:9/'}}}}
"""


def start(url: str, *args: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "controller.cli", "controller", *args, "--redis-url", url],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)


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
        os.rename(repo, tmp_path / "gone")  # fetch now fails: nothing may be deleted
        wait_until(lambda: r.hget("cp:sync", "result") == b"error", timeout=20)
        assert r.sismember("cp:jobs", "default/a") and r.sismember("cp:jobs", "default/b")
    finally:
        stop(proc)
