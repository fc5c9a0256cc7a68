"""The controller against a real redis-server: apply/plan, invalid manifests, prune cap,
collections, quotas, dispatch with literal times, missed runs, and workers performing the calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis
from pytest_httpserver import HTTPServer
from rq import Queue

from controller.cli import main
from controller.commands.status import row
from controller.state.keys import ControllerKeys
from controller.state.reader import StatusReader
from tests.peers.rq_worker import ROOT, burst
from worker.contract import HistoryEntry, Keys

KEYS = Keys()
COLLECTION = """apiVersion: cronplane/v1
kind: JobCollection
metadata: {name: ops}
spec: {state: STATE, quota: {maxRecurrence: {frequency: second, interval: 1}, minRetryInterval: PT1S}}
"""


def job(
    name: str,
    uri: str = "http://127.0.0.1:9/x",
    schedule: str = "rrule: FREQ=MINUTELY;INTERVAL=10",
    extra: str = "",
    collection: str = "ops",
) -> str:
    return (
        f"---\napiVersion: cronplane/v1\nkind: Job\nmetadata: {{name: {name}, collection: {collection}}}\n"
        f"spec:\n  startTime: '2026-01-01T00:00:00Z'\n  {schedule}\n{extra}"
        f"  action: {{type: http, request: {{method: GET, uri: '{uri}'}}, retryPolicy: {{retryType: none}}}}\n"
    )


def write(root: Path, text: str, name: str = "jobs.yaml") -> None:
    (root / name).write_text(text)


def cp(*args: str) -> int:
    return main(list(args))


def status(client: redis.Redis, name: str) -> dict[str, Any]:
    """The job's status as `cronplane status -o json` shows it (read through the codecs)."""
    [s] = StatusReader(client, ControllerKeys()).statuses([name])
    return row(s)


def raw(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def test_apply_then_controller_once_then_worker(redis_url: str, tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    write(tmp_path, COLLECTION.replace("STATE", "enabled") + job("a", httpserver.url_for("/hook")) + job("b"))
    assert cp("apply", str(tmp_path), "--redis-url", redis_url, "--now", "2026-01-01T00:05:00Z") == 0
    r = raw(redis_url)
    st = status(r, "ops/a")
    assert st["condition"] == "Ready" and st["nextRuns"][0] == "2026-01-01T00:10:00Z"
    assert st["source"].endswith("jobs.yaml:6")
    assert (
        cp(
            "controller",
            "--manifests",
            str(tmp_path),
            "--once",
            "--now",
            "2026-01-01T00:10:02Z",
            "--redis-url",
            redis_url,
        )
        == 0
    )
    ids = sorted(Queue("cronplane", connection=r).job_ids)
    assert ids == ["ops_a-1767226200", "ops_b-1767226200"]
    # the same pass again (a second controller, a replay) enqueues nothing new
    assert (
        cp(
            "controller",
            "--manifests",
            str(tmp_path),
            "--once",
            "--now",
            "2026-01-01T00:10:02Z",
            "--redis-url",
            redis_url,
        )
        == 0
    )
    assert sorted(Queue("cronplane", connection=r).job_ids) == ids
    burst(redis_url)
    [entry] = [HistoryEntry.from_json(e) for e in r.zrange(KEYS.history("ops/a"), 0, -1)]
    assert entry.status == "completed" and entry.expected_execution_time == "2026-01-01T00:10:00Z"
    assert status(r, "ops/a")["nextExecutionTime"] == "2026-01-01T00:20:00Z"


def test_invalid_manifest_keeps_the_last_good_spec(redis_url: str, tmp_path: Path) -> None:
    write(tmp_path, COLLECTION.replace("STATE", "enabled") + job("a"))
    assert cp("apply", str(tmp_path), "--redis-url", redis_url, "--now", "2026-01-01T00:05:00Z") == 0
    r = raw(redis_url)
    spec_before = r.hget(KEYS.prefix + ":job:ops/a", "spec")
    write(tmp_path, COLLECTION.replace("STATE", "enabled") + job("a", schedule="rrule: FREQ=NEVERLY"))
    assert cp("apply", str(tmp_path), "--redis-url", redis_url, "--prune", "--now", "2026-01-01T00:06:00Z") == 1
    st = status(r, "ops/a")
    assert st["condition"] == "Stalled" and "jobs.yaml:11" in st["reason"] and "last good spec" in st["reason"]
    assert r.hget(KEYS.prefix + ":job:ops/a", "spec") == spec_before
    assert r.zscore(KEYS.prefix + ":due", "ops/a") is not None
    # a file that cannot even be parsed deletes nothing either
    write(tmp_path, "\x00garbage")
    assert cp("apply", str(tmp_path), "--redis-url", redis_url, "--prune") == 1
    assert r.sismember(KEYS.prefix + ":jobs", "ops/a")


def test_unchanged_jobs_are_not_rewritten_and_timing_edits_recompute(redis_url: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path, COLLECTION.replace("STATE", "enabled") + job("a"))
    cp("apply", str(tmp_path), "--redis-url", redis_url, "--now", "2026-01-01T00:05:00Z")
    r = raw(redis_url)
    r.hset(KEYS.prefix + ":job:ops/a", "sentinel", "1")
    cp("apply", str(tmp_path), "--redis-url", redis_url, "--now", "2026-01-01T00:06:00Z")
    assert r.hget(KEYS.prefix + ":job:ops/a", "sentinel") == b"1"
    assert r.hget(KEYS.prefix + ":job:ops/a", "generation") == b"1"
    write(tmp_path, COLLECTION.replace("STATE", "enabled") + job("a", schedule="rrule: FREQ=MINUTELY;INTERVAL=15"))
    capsys.readouterr()
    assert (
        cp("plan", str(tmp_path), "--redis-url", redis_url, "--now", "2026-01-01T00:06:00Z", "--detailed-exitcode") == 2
    )
    out = capsys.readouterr().out
    assert "~ ops/a: updated" in out and "changed: rrule" in out and "fewer runs per week" in out
    cp("apply", str(tmp_path), "--redis-url", redis_url, "--now", "2026-01-01T00:06:00Z")
    assert r.hget(KEYS.prefix + ":job:ops/a", "generation") == b"2"
    assert status(r, "ops/a")["nextRuns"][0] == "2026-01-01T00:15:00Z"


def test_prune_cap_and_collection_disable_enable(redis_url: str, tmp_path: Path) -> None:
    jobs = "".join(job(n) for n in "abcd")
    write(tmp_path, COLLECTION.replace("STATE", "enabled") + jobs)
    cp("apply", str(tmp_path), "--redis-url", redis_url, "--now", "2026-01-01T00:05:00Z")
    r = raw(redis_url)
    write(tmp_path, COLLECTION.replace("STATE", "enabled") + job("a") + job("b"))  # 2 of 4 = 50% > 25%
    cp("apply", str(tmp_path), "--redis-url", redis_url, "--prune", "--now", "2026-01-01T00:05:00Z")
    assert r.scard(KEYS.prefix + ":jobs") == 4
    assert r.hget(KEYS.prefix + ":sync", "prune") == b"blocked_cap"
    assert "prune cap" in r.hget(KEYS.prefix + ":sync", "pruneMessage").decode()
    cp("apply", str(tmp_path), "--redis-url", redis_url, "--prune", "--allow-mass-delete")
    assert r.scard(KEYS.prefix + ":jobs") == 2
    write(tmp_path, COLLECTION.replace("STATE", "disabled") + job("a") + job("b", extra="  state: disabled\n"))
    cp("apply", str(tmp_path), "--redis-url", redis_url, "--now", "2026-01-01T00:05:00Z")
    assert r.zcard(KEYS.prefix + ":due") == 0 and status(r, "ops/a")["condition"] == "Disabled"
    write(tmp_path, COLLECTION.replace("STATE", "enabled") + job("a") + job("b", extra="  state: disabled\n"))
    cp("apply", str(tmp_path), "--redis-url", redis_url, "--now", "2026-01-01T00:05:00Z")
    assert [m.decode() for m in r.zrange(KEYS.prefix + ":due", 0, -1)] == ["ops/a"]


def test_quota_rejects_the_offending_job(redis_url: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    free = "apiVersion: cronplane/v1\nkind: JobCollection\nmetadata: {name: tiny}\nspec: {plan: free}\n"
    write(
        tmp_path,
        free
        + job("hourly", schedule="cron: '0 * * * *'", collection="tiny")
        + job("busy", schedule="cron: '*/5 * * * *'", collection="tiny"),
    )
    assert cp("apply", str(tmp_path), "--redis-url", redis_url) == 1
    out = capsys.readouterr().out
    assert "x tiny/busy: rejected" in out and "allows at most once every 1 hour" in out
    assert raw(redis_url).sismember(KEYS.prefix + ":jobs", "tiny/hourly")


def test_missed_runs_are_recorded_and_latest_runs(redis_url: str, tmp_path: Path) -> None:
    write(tmp_path, COLLECTION.replace("STATE", "enabled") + job("late", extra="  missedRunPolicy: latest\n"))
    cp("apply", str(tmp_path), "--redis-url", redis_url, "--now", "2026-01-01T00:05:00Z")
    # the controller was down from 00:05 to 01:02: six occurrences passed, all past the 5-minute deadline
    cp("controller", "--manifests", str(tmp_path), "--once", "--now", "2026-01-01T01:02:00Z", "--redis-url", redis_url)
    r = raw(redis_url)
    assert Queue("cronplane", connection=r).job_ids == ["ops_late-1767229200"]  # 01:00, the newest
    st = status(r, "ops/late")
    assert st["missedCount"] == 5 and st["nextExecutionTime"] == "2026-01-01T01:10:00Z"
    missed = [HistoryEntry.from_json(e) for e in r.zrange(KEYS.history("ops/late"), 0, -1)]
    assert [e.status for e in missed] == ["missed"] * 5


def test_count_completes_the_job(redis_url: str, tmp_path: Path) -> None:
    once = job("twice", schedule="recurrence: {frequency: minute, interval: 10, count: 2}")
    write(tmp_path, COLLECTION.replace("STATE", "enabled") + once)
    cp("apply", str(tmp_path), "--redis-url", redis_url, "--now", "2026-01-01T00:05:00Z")
    for now in ("2026-01-01T00:10:01Z", "2026-01-01T00:20:01Z"):
        cp("controller", "--manifests", str(tmp_path), "--once", "--now", now, "--redis-url", redis_url)
    r = raw(redis_url)
    assert status(r, "ops/twice")["condition"] == "Completed"
    assert r.zscore(KEYS.prefix + ":due", "ops/twice") is None
    payload = Queue("cronplane", connection=r).jobs[-1].args[0]
    assert payload["final"] is True and payload["repeat"] == 2


def test_plan_base_ref_needs_no_redis(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "manifests").mkdir(parents=True)
    write(repo / "manifests", COLLECTION.replace("STATE", "enabled") + job("a", schedule="cron: '0 5 * * *'"))
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "base"],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True)
    write(
        repo / "manifests", COLLECTION.replace("STATE", "enabled") + job("a", schedule="cron: '0 6 * * *'") + job("b")
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "controller.cli",
            "plan",
            "manifests",
            "--base-ref",
            "HEAD",
            "--output",
            "markdown",
            "--now",
            "2026-01-01T00:00:00Z",
            "--detailed-exitcode",
        ],
        cwd=repo,
        env={**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2, out.stderr
    assert "runs move from 05:00 to 06:00 UTC" in out.stdout and "| + | `ops/b` | created |" in out.stdout
    assert str(ROOT) != str(repo)


def test_status_shows_conditions_next_runs_and_counters(redis_url: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path, COLLECTION.replace("STATE", "enabled") + job("a") + job("b", extra="  state: disabled\n"))
    cp("apply", str(tmp_path), "--redis-url", redis_url, "--now", "2026-01-01T00:05:00Z")
    capsys.readouterr()
    assert cp("status", "--output", "json", "--redis-url", redis_url) == 0
    jobs = json.loads(capsys.readouterr().out)["jobs"]
    assert jobs["ops/a"]["condition"] == "Ready" and jobs["ops/a"]["nextRuns"][:2] == [
        "2026-01-01T00:10:00Z",
        "2026-01-01T00:20:00Z",
    ]
    assert jobs["ops/b"]["condition"] == "Disabled" and jobs["ops/a"]["observedGeneration"] == 1
    assert cp("status", "a", "--redis-url", redis_url) == 0
    out = capsys.readouterr().out
    assert out.startswith("ops/a: Ready") and "next 2026-01-01T00:10:00Z" in out and "jobs.yaml:6" in out
    assert cp("status", "--redis-url", "redis://127.0.0.1:1/0") == 1
    assert "cannot reach Redis" in capsys.readouterr().err
