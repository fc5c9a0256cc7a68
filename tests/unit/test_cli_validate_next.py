"""`cronplane validate` and `cronplane next`: exit codes, output formats, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from controller.cli import main

ROOT = Path(__file__).resolve().parents[2]
CRONPLANE = [sys.executable, "-m", "controller.cli"]
JOB = """apiVersion: cronplane/v1
kind: Job
metadata: {name: weekly, collection: default}
spec:
  startTime: "2016-01-01T00:00:00Z"
  recurrence: {frequency: week, schedule: {hours: [17], weekDays: [saturday]}}
  action: {type: http, request: {method: GET, uri: "http://example.test/"}}
"""


def test_examples_are_valid() -> None:
    out = subprocess.run([*CRONPLANE, "validate", "manifests/"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid" in out.stdout


def test_examples_cover_every_action_type_and_schedule_feature() -> None:
    text = "\n".join(p.read_text() for p in (ROOT / "manifests").glob("*.yaml"))
    for needle in (
        "type: http\n",
        "type: https",
        "type: storageQueue",
        "type: serviceBusQueue",
        "type: serviceBusTopic",
        "errorAction",
        "type: basic",
        "pfx:",
        "privateKey:",
        "activeDirectoryOAuth",
        "rawMessage",
        "sasToken",
        "minutes:",
        "hours:",
        "weekDays:",
        "monthDays: [1, -1]",
        "occurrence: 5",
        "{day: sunday}",
        "count:",
        "endTime:",
        "interval: 2",
        "timeZone:",
        "cron:",
        "rrule: FREQ=SECONDLY",
        "dst:",
        "missedRunPolicy",
        "concurrencyPolicy",
        "yaml-language-server: $schema=",
    ):
        assert needle in text, needle


def test_validate_reports_each_problem_with_position(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(JOB.replace("frequency: week", "frequency: day"))
    assert main(["validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [f"{bad}:6:66: recurrence.schedule.weekDays: weekDays is allowed only with frequency week (not day)"]


def test_validate_missing_path_and_binary_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bin.yml").write_bytes(bytes(range(256)))
    assert main(["validate", str(tmp_path), str(tmp_path / "nope")]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'nope'}:1:1: no such file or directory" in out
    assert f"{tmp_path / 'bin.yml'}:2:1: file is not valid UTF-8 text" in out


def test_next_json(tmp_path: Path) -> None:
    (tmp_path / "j.yaml").write_text(JOB)
    out = subprocess.run(
        [
            *CRONPLANE,
            "next",
            str(tmp_path / "j.yaml"),
            "--now",
            "2015-12-01T00:00:00Z",
            "--count",
            "3",
            "--output",
            "json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "job": "default/weekly",
        "timeZone": "UTC",
        "occurrences": ["2016-01-02T17:00:00Z", "2016-01-09T17:00:00Z", "2016-01-16T17:00:00Z"],
    }


def test_next_text_shows_local_time_and_completion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "j.yaml").write_text(
        JOB.replace('startTime: "2016-01-01T00:00:00Z"', "timeZone: Europe/Berlin").replace(
            "weekDays: [saturday]}", "weekDays: [saturday]}, count: 2"
        )
    )
    assert main(["next", str(tmp_path / "j.yaml"), "--now", "2026-07-01T00:00:00Z"]) == 0
    out = capsys.readouterr().out
    assert "2026-07-04T15:00:00Z   2026-07-04 17:00:00 CEST" in out
    assert "no further occurrences" in out


def test_next_needs_job_when_several(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["next", "manifests/schedules.yaml"]) == 2
    assert "choose one with --job" in capsys.readouterr().err
    assert main(["next", "manifests/schedules.yaml", "--job", "one-time", "--now", "2029-01-01T00:00:00"]) == 0
    assert "2030-01-01T08:00:00Z" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["next", "manifests/demo.yaml", "--job", "heartbeat", "--now", "yesterday"],
        ["next", "manifests/demo.yaml", "--job", "nope"],
        ["next", "manifests/demo.yaml", "--job", "heartbeat", "--count", "0"],
    ],
)
def test_next_user_errors_are_one_line(argv: list[str]) -> None:
    out = subprocess.run([*CRONPLANE, *argv], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode in (1, 2)
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
