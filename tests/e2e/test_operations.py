"""Run-now and suspends end to end: API and CLI → Redis override → the controller's dispatch loop →
RQ → a real worker → the HTTP target → history; the schedule does not move; suspends expire."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.e2e.conftest import System, wait_for
from tests.peers.rq_worker import ROOT


def cli(system: System, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller.cli", *args, "--redis-url", system.redis_url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_run_now_through_the_normal_path_without_moving_the_schedule(system: System) -> None:
    system.put_job("nightly", startTime="2026-01-01T03:00:00Z", recurrence={"frequency": "Day", "interval": 1})
    before = system.synced("nightly")
    next_run = before["properties"]["status"]["nextExecutionTime"]
    accepted = system.api.post(f"{system.job_url('nightly')}/run", json={"reason": "after the fix"})
    assert accepted.status_code == 200 and accepted.json()["by"] == "alice"
    entry = wait_for(lambda: system.history("nightly"))[0]
    assert entry["properties"]["status"] == "Completed" and entry["properties"]["repeatCount"] == 0
    assert entry["cronplane"]["trigger"] == {
        "kind": "manual",
        "reason": "after the fix",
        "by": "alice",
        "requestedAt": accepted.json()["requestedAt"],
    }
    assert [r.path for r, _ in system.target.log] == ["/nightly"]
    out = cli(system, "run-now", "ops/nightly", "--reason", "second try")
    assert out.returncode == 0, out.stderr
    second = wait_for(lambda: len(h := system.history("nightly")) == 2 and h)[0]
    assert second["cronplane"]["trigger"]["reason"] == "second try" and "(cli)" in second["cronplane"]["trigger"]["by"]
    after = system.api.get(system.job_url("nightly")).json()
    assert after["properties"]["status"]["nextExecutionTime"] == next_run  # the schedule did not move
    assert after["properties"]["status"]["executionCount"] == 2
    described = cli(system, "describe", "job", "ops/nightly", "-o", "json")
    facts = json.loads(described.stdout)
    assert facts["history"][0]["trigger"]["kind"] == "manual" and len(facts["nextRuns"]) == 10


def test_suspend_records_skips_with_the_reason_shows_drift_and_expires(system: System) -> None:
    system.put_job("tick", rrule="FREQ=SECONDLY;INTERVAL=2")
    system.synced("tick")
    wait_for(lambda: system.history("tick", **{"$filter": "status eq 'Completed'"}))
    out = cli(system, "suspend", "ops/tick", "--for", "6s", "--reason", "incident 42")
    assert out.returncode == 0, out.stderr
    until = out.stdout.split("until ")[1].split()[0]
    rows = json.loads(cli(system, "get", "jobs", "-o", "json").stdout)
    assert rows[0]["condition"] == "Suspended" and "incident 42" in rows[0]["drift"]
    assert "incident 42" in system.api.get(system.job_url("tick")).json()["cronplane"]["overrides"][0]
    assert "incident 42" in " ".join(system.api.get("/api/v1/plan").json()["overrides"])
    skipped = wait_for(lambda: system.history("tick", **{"$filter": "status eq 'Skipped'"}))
    assert "incident 42" in skipped[0]["properties"]["message"]
    # it expires by itself: completed runs come back after `until`
    wait_for(
        lambda: any(
            h["properties"]["startTime"] > until for h in system.history("tick", **{"$filter": "status eq 'Completed'"})
        ),
        60,
    )
    assert json.loads(cli(system, "get", "jobs", "-o", "json").stdout)[0]["drift"] is None


def test_suspend_and_resume_a_collection_through_the_api(system: System) -> None:
    system.put_job("tock", rrule="FREQ=SECONDLY;INTERVAL=2")
    system.synced("tock")
    base = system.job_url("tock").rsplit("/jobs/", 1)[0]
    answer = system.api.post(f"{base}/suspend", json={"for": "PT1H", "reason": "maintenance window"})
    assert answer.status_code == 200 and answer.json()["target"] == "collection ops"
    skipped = wait_for(lambda: system.history("tock", **{"$filter": "status eq 'Skipped'"}))
    assert "collection ops suspended" in skipped[0]["properties"]["message"]
    assert system.api.post(f"{base}/resume").json()["resumed"] is True
    resumed_at = skipped[0]["properties"]["startTime"]
    wait_for(
        lambda: any(
            h["properties"]["startTime"] > resumed_at
            for h in system.history("tock", **{"$filter": "status eq 'Completed'"})
        )
    )


def test_status_and_plan_show_overrides_as_drift(system: System, tmp_path: object) -> None:
    system.put_job("quiet", startTime="2026-01-01T03:00:00Z", recurrence={"frequency": "Day", "interval": 1})
    system.synced("quiet")
    assert cli(system, "suspend", "ops/quiet", "--for", "1h", "--reason", "vendor outage").returncode == 0
    status = cli(system, "status")
    assert "override: job ops/quiet suspended until" in status.stdout and "vendor outage" in status.stdout
    assert json.loads(cli(system, "status", "--output", "json").stdout)["overrides"]
    plan = cli(system, "plan", str(system.server.api_dir))
    assert "override: job ops/quiet suspended" in plan.stdout
    assert cli(system, "resume", "ops/quiet").stdout.strip() == "job ops/quiet resumed"
    assert "override:" not in cli(system, "status").stdout
