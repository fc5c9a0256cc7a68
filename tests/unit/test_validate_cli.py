"""``cronplane validate PATH...``: exit codes, one line per problem, no traceback whatever the input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from controller.cli import main
from controller.core import schemas
from controller.errors import PermanentError

ROOT = Path(__file__).resolve().parents[2]
GOOD = """apiVersion: cronplane/v1
kind: Job
metadata: {name: ok}
spec:
  cron: "0 5 * * *"
  action: {type: http, request: {method: GET, uri: "http://example.test/"}}
"""


def validate(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the checkout under test, whatever the cwd
    command = [sys.executable, "-m", "controller.cli", "validate", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)


def test_valid_files_exit_zero_with_a_summary(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yml").write_text(GOOD.replace("name: ok", "name: other"))
    out = validate(".", cwd=tmp_path)
    assert (out.returncode, out.stdout, out.stderr) == (0, "2 file(s), 2 job(s), 0 collection(s): valid\n", "")
    assert validate("-q", ".", cwd=tmp_path).stdout == ""


def test_problems_exit_one_one_line_each_paths_as_given(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    bad = GOOD.replace('"0 5 * * *"', '"0 25 * * *"').replace("GET", "FETCH")
    (tmp_path / "sub" / "bad.yaml").write_text(bad)
    out = validate("sub", cwd=tmp_path)
    assert out.returncode == 1 and out.stderr == ""
    column = bad.splitlines()[5].index("FETCH") + 1
    assert out.stdout.splitlines() == [
        f"sub/bad.yaml:6:{column}: action.request.method: 'FETCH' is not one of: GET, PUT, POST, DELETE, PATCH, HEAD, OPTIONS",
    ]  # one problem per document: the cron rules run only once the schema is satisfied
    (tmp_path / "sub" / "bad.yaml").write_text(GOOD.replace('"0 5 * * *"', '"0 25 * * *"'))
    assert validate("sub/bad.yaml", cwd=tmp_path).stdout.splitlines() == [
        "sub/bad.yaml:5:9: cron: cron hour: '25' is outside 0-23"
    ]


def test_directories_are_recursive_and_skip_hidden_and_other_suffixes(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "deep.yaml").write_text(GOOD)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "junk.yaml").write_text("{{{")
    (tmp_path / "notes.txt").write_text("{{{")
    out = validate(".", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("1 file(s), 1 job(s)")
    assert validate("notes.txt", cwd=tmp_path).stdout.startswith(
        "notes.txt:2:1: YAML syntax error"
    )  # named: read anyway


def test_hostile_paths_and_bytes(tmp_path: Path) -> None:
    (tmp_path / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "huge.yaml").write_bytes(b"# " + b"x" * (1024 * 1024))
    (tmp_path / "bomb.yaml").write_text(
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefg", "bcdefgh", strict=True))
    )
    (tmp_path / "dup.yaml").write_text(GOOD + "kind: Job\n")
    os.mkfifo(tmp_path / "pipe.yaml")
    out = validate(".", "missing", "pipe.yaml", cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stdout + out.stderr
    assert out.stdout.splitlines() == [  # reading problems in argument order, then each file's, sorted
        "huge.yaml:1:1: file is larger than 1 MiB",
        "missing:1:1: no such file or directory",
        "pipe.yaml:1:1: not a regular file or directory",
        "binary.yaml:2:1: file is not valid UTF-8 text",
        "bomb.yaml:1:1: document expands to more than 50000 nodes (alias bomb?)",
        "dup.yaml:7:1: kind: duplicate key 'kind' (first defined on line 2)",
    ]


def test_examples_validate_with_the_installed_entry_point() -> None:
    script = Path(sys.executable).with_name("cronplane")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "controller.cli"]
    out = subprocess.run([*command, "validate", "manifests/"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.endswith("valid\n")


def test_missing_schemas_are_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "j.yaml").write_text(GOOD)
    monkeypatch.setattr(schemas, "SCHEMA_DIR", tmp_path / "nowhere")
    schemas.load_schemas.cache_clear()
    schemas.validator.cache_clear()
    try:
        with pytest.raises(PermanentError, match=r"schema file .* is missing: install cronplane from its source tree"):
            schemas.load_schemas()
        assert main(["validate", str(tmp_path)]) == 1
        assert "cronplane: schema file" in capsys.readouterr().err
    finally:
        schemas.load_schemas.cache_clear()
        schemas.validator.cache_clear()
