"""The README's manifest reference is generated from the schemas and must be current."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from controller.docs import BEGIN, END, render, update

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def docs(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "controller.docs", *args], capture_output=True, text=True, env=env)


def test_committed_readme_reference_is_up_to_date() -> None:
    text = README.read_text() if README.exists() else ""
    if BEGIN not in text or END not in text:
        pytest.skip(f"README.md has no {BEGIN} / {END} markers yet")
    assert update(README, check=True) == 0, "the README's manifest reference is stale: run `make docs`"


def test_check_and_rewrite_on_a_copy(tmp_path: Path) -> None:
    copy = tmp_path / "README.md"
    if README.exists():
        shutil.copy(README, copy)
    text = copy.read_text() if copy.exists() else ""
    if BEGIN not in text:
        text = f"intro\n{BEGIN}\n{END}\nrest\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    copy.write_text(head + BEGIN + "\nstale\n" + END + tail)
    assert docs(str(copy), "--check").returncode == 1
    assert docs(str(copy)).returncode == 0
    out = docs(str(copy), "--check")
    assert out.returncode == 0 and out.stderr == ""
    assert copy.read_text() == head + render() + tail


def test_reference_lists_every_spec_field() -> None:
    text = render()
    for field in (
        "startTime",
        "recurrence",
        "cron",
        "rrule",
        "dst",
        "missedRunPolicy",
        "monthlyOccurrences",
        "retryInterval",
        "sasToken",
        "topicPath",
        "minRetryInterval",
        "valueFrom",
        "connectionString",
        "rawMessage",
    ):
        assert f"`{field}`" in text, field


def test_command_line_errors_are_one_line(tmp_path: Path) -> None:
    no_markers = tmp_path / "plain.md"
    no_markers.write_text("no markers here\n")
    for args, code in ([(), 2], [(str(tmp_path / "missing.md"),), 1], [(str(no_markers), "--check"), 1]):
        out = docs(*args)
        assert out.returncode == code and "Traceback" not in out.stderr and out.stderr.strip(), args
    assert no_markers.read_text() == "no markers here\n"
