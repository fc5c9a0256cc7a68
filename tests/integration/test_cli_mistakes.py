"""Every mistake a user can type gets one line and a non-zero exit, never a traceback or a repr.

Each case runs the real ``cronplane`` command in a subprocess (a traceback anywhere would show
on stderr), against a real redis-server where the command needs one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers.rq_worker import ROOT

JOB = """apiVersion: cronplane/v1
kind: Job
metadata: {name: a}
spec:
  cron: '0 5 * * *'
  action: {type: http, request: {method: GET, uri: 'http://127.0.0.1:9/'}}
"""


def cronplane(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.txt").write_text("not a manifest")
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "a.yaml").write_text(JOB)
    return {k: str(tmp_path / k) for k in ("empty", "notes", "ok")} | {
        "missing": str(tmp_path / "nope"),
        "apidir": str(tmp_path / "api"),
    }


@pytest.fixture
def busy() -> Iterator[str]:
    """A port something listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield str(s.getsockname()[1])


CASES = [
    # (args with {placeholders}, exit code, text expected in the one error line)
    (["validate", "{empty}"], 1, "no manifests here"),
    (["validate", "{notes}"], 1, "no manifests here"),
    (["plan", "{empty}", "--redis-url", "{redis}"], 1, "no manifests here"),
    (["apply", "{notes}", "--redis-url", "{redis}"], 1, "no manifests here"),
    (["plan", "{missing}", "--redis-url", "{redis}"], 1, "no such file or directory"),
    (["apply", "{missing}", "--redis-url", "{redis}"], 1, "no such file or directory"),
    (["controller", "--manifests", "{missing}", "--redis-url", "{redis}"], 1, "no such file or directory"),
    (["controller", "--manifests", "{ok}", "--branch", "dev"], 2, "--branch is for --git mode"),
    (["apply", "{ok}", "--allow-mass-delete", "--redis-url", "{redis}"], 2, "only makes sense with --prune"),
    (["plan", "{ok}", "--redis-url", "nonsense"], 2, "is not a Redis URL"),
    (["status", "--redis-url", "http://127.0.0.1:1/"], 2, "is not a Redis URL"),
    (["worker", "--burst", "--redis-url", "nonsense"], 2, "is not a Redis URL"),
    (["history", "a", "--redis-url", "nonsense"], 2, "is not a Redis URL"),
    (["status", "--redis-url", "redis://127.0.0.1:1/0"], 1, "cannot reach Redis"),
    (["status", "nosuch", "--redis-url", "{redis}"], 1, "no such job: nosuch"),
    (["status", "ops/nosuch", "--redis-url", "{redis}"], 1, "no such job: ops/nosuch"),
    (["history", "nosuch", "--redis-url", "{redis}"], 1, "no such job: default/nosuch"),
    (["plan", "{ok}", "--base-ref", "HEAD", "--redis-url", "{redis}"], 2, "does not read Redis"),
    (["next", "{ok}", "--now", "yesterday"], 2, "is not an ISO 8601 date-time"),
    (["worker", "--burst", "--metrics-port", "{busy}", "--redis-url", "{redis}"], 1, "(address already in use)"),
    (["controller", "--manifests", "{ok}", "--metrics-port", "{busy}"], 1, "(address already in use)"),
    (["serve", "--port", "{busy}", "--api-dir", "{apidir}", "--redis-url", "{redis}"], 1, "(address already in use)"),
    (["worker", "--metrics-host", "no-such-host.invalid", "--metrics-port", "9"], 1, "cannot listen on no-such"),
]


@pytest.mark.parametrize(("args", "code", "message"), CASES, ids=[" ".join(c[0][:2]) for c in CASES])
def test_one_line_and_an_exit_code(
    args: list[str], code: int, message: str, dirs: dict[str, str], redis_url: str, busy: str
) -> None:
    out = cronplane(*(a.format(**dirs, redis=redis_url, busy=busy) for a in args))
    assert out.returncode == code, out.stdout + out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    lines = [line for line in (out.stderr or out.stdout).splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], out.stdout + out.stderr
    assert not Path(dirs["apidir"]).exists(), "a command that refused to start left a directory behind"


FLAG_VALUES = [
    # (args, text in argparse's last line): refused before anything starts, exit 2
    (["worker", "--metrics-port", "99999"], "99999 is not a TCP port (1-65535)"),
    (["controller", "--manifests", ".", "--metrics-port", "http"], "'http' is not a TCP port"),
    (["serve", "--port", "0"], "0 is not a TCP port"),
    (["demo", "--target-port", "-1"], "-1 is not a TCP port"),
    (["demo", "--port", "65536"], "65536 is not a TCP port"),
    (["worker", "--quiet", "--log-level", "DEBUG"], "not allowed with argument --quiet"),
    (["worker", "--log-level", "LOUD"], "invalid choice: 'LOUD'"),
]


@pytest.mark.parametrize(("args", "message"), FLAG_VALUES, ids=[" ".join(c[0][:2]) for c in FLAG_VALUES])
def test_flag_values_are_refused_by_the_parser(args: list[str], message: str) -> None:
    out = cronplane(*args)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert message in out.stderr.strip().splitlines()[-1], out.stderr


def test_base_ref_outside_a_repository_and_unknown_revisions(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "a.yaml").write_text(JOB)
    outside = cronplane("plan", "m", "--base-ref", "HEAD", cwd=tmp_path)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=tmp_path, check=True)
    unknown = cronplane("plan", "m", "--base-ref", "no-such-revision", cwd=tmp_path)
    for out, text in ((outside, "not a git repository"), (unknown, "no-such-revision")):
        assert out.returncode == 1 and "Traceback" not in out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and text in lines[0] and "['" not in lines[0], out.stderr


def test_no_arguments_prints_the_help_and_version_prints_the_version() -> None:
    bare = cronplane()
    assert bare.returncode == 2 and "usage: cronplane" in bare.stderr and "plan" in bare.stderr
    version = cronplane("--version")
    assert version.returncode == 0 and version.stdout.startswith("cronplane ")


HELLO = (  # redis-py's RESP3 handshake wants a map
    b"%7\r\n+server\r\n+redis\r\n+version\r\n+7.0.15\r\n+proto\r\n:3\r\n+id\r\n:1\r\n"
    b"+mode\r\n+standalone\r\n+role\r\n+master\r\n+modules\r\n*0\r\n"
)


def _answers_ping_then_hangs_up(server: socket.socket, dropped: threading.Event) -> None:
    """A Redis that answers the handshake and PING, then drops the connection at the first real
    command, and every connection after that: Redis going away in the middle of a command."""
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            while not dropped.is_set():
                data = conn.recv(65536)
                if not data:
                    break
                for command in data.split(b"\r\n*"):  # one answer per pipelined command
                    name = command.split(b"\r\n")[2].upper() if command.count(b"\r\n") >= 2 else b""
                    if name == b"PING":
                        conn.sendall(b"+PONG\r\n")
                    elif name == b"HELLO":
                        conn.sendall(HELLO)
                    elif name == b"CLIENT":
                        conn.sendall(b"+OK\r\n")
                    else:
                        dropped.set()
                        break


@pytest.mark.parametrize("args", [["status"], ["history", "a"], ["get", "jobs"], ["plan", "{ok}"]])
def test_redis_lost_in_the_middle_of_a_command(args: list[str], dirs: dict[str, str]) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    dropped = threading.Event()
    threading.Thread(target=_answers_ping_then_hangs_up, args=(server, dropped), daemon=True).start()
    try:
        url = f"redis://127.0.0.1:{server.getsockname()[1]}/0"
        out = cronplane(*[a.format(**dirs) for a in args], "--redis-url", url)
    finally:
        server.close()
    assert out.returncode == 1, out
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == ["cronplane: lost the connection to Redis (ConnectionError); try again"]
