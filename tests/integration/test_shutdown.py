"""Stopping a real ``cronplane controller``: SIGTERM or SIGINT ends it within a second (its
dispatch thread is woken from its BLPOP), its sync process goes with it, its lease is released
(a standby takes over at once, not after the TTL) and one line says so. ``--git`` without
``--checkout`` removes its temporary checkout however the controller ends.

``STOP_LIMIT`` is the 1 s target plus a tolerance for a loaded 2-core machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.peers.controller_proc import ControllerProcess, start_controller, tick_manifests
from tests.peers.rq_worker import ROOT
from tests.peers.serve import env_for

STOP_LIMIT = 1.5  # seconds from the signal to the process's exit


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def stop_timed(c: ControllerProcess, sig: signal.Signals) -> float:
    started = time.monotonic()
    c.proc.send_signal(sig)
    c.proc.wait(timeout=30)
    return time.monotonic() - started


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_leader_within_a_second(redis_url: str, tmp_path: Path, sig: signal.Signals) -> None:
    c = start_controller(redis_url, tmp_path, ["--manifests", str(tick_manifests(tmp_path / "m"))], "leader")
    try:
        c.wait_for(r"dispatch: enqueued")  # the sync process wrote the job, the leader dispatches
        time.sleep(0.3)  # the dispatch thread is back in its BLPOP (up to 5 s) when the signal comes
        children = c.children()  # the sync process (and multiprocessing's resource tracker)
        assert children
        took = stop_timed(c, sig)
    finally:
        c.stop()
    print(f"{sig.name}: the controller exited {took:.2f} s after the signal")
    assert c.proc.returncode == 0
    assert took < STOP_LIMIT
    assert redis.Redis.from_url(redis_url).get("cp:lease") is None, "the lease was released"
    text = c.text()
    assert text.count("controller leader stopped; lease released") == 1, text
    assert "Traceback" not in text, text
    assert all(gone(pid) for pid in children), "the sync process is gone too"


def test_a_stopped_leader_hands_over_at_once_and_a_standby_holds_nothing(redis_url: str, tmp_path: Path) -> None:
    manifests = ["--manifests", str(tick_manifests(tmp_path / "m"))]  # default lease TTL: 10 s
    a = start_controller(redis_url, tmp_path, manifests, "a")
    a.wait_for("controller a holds the dispatch lease")
    b = start_controller(redis_url, tmp_path, manifests, "b")
    client = redis.Redis.from_url(redis_url)
    try:
        b.wait_for("controller b running")
        time.sleep(0.5)
        assert stop_timed(b, signal.SIGTERM) < STOP_LIMIT
        assert "controller b stopped; it held no lease" in b.text()
        assert client.get("cp:lease") == b"a"
        c = start_controller(redis_url, tmp_path, manifests, "c")
        c.wait_for("controller c running")
        time.sleep(0.5)
        assert stop_timed(a, signal.SIGTERM) < STOP_LIMIT
        released = time.monotonic()
        c.wait_for("controller c holds the dispatch lease", timeout=30)
        handover = time.monotonic() - released
    finally:
        for p in (a, b, c):
            p.stop()
    print(f"the standby held the lease {handover:.2f} s after the leader stopped (TTL 10 s)")
    assert handover < 6, "the standby took over after a renewal interval, not after the TTL"
    assert "controller a stopped; lease released" in a.text()


def git_repo(root: Path) -> Path:
    repo = tick_manifests(root)
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "jobs"]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.test", *args], cwd=repo, check=True)
    return repo


@pytest.mark.parametrize("end", ["once", "SIGTERM", "SIGINT", "error"])
def test_git_without_checkout_removes_its_temporary_checkout(redis_url: str, tmp_path: Path, end: str) -> None:
    repo = git_repo(tmp_path / "repo")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    url = "redis://127.0.0.1:1/0" if end == "error" else redis_url
    args = [sys.executable, "-m", "controller.cli", "controller", "--git", str(repo), "--redis-url", url]
    env = env_for(url, {"TMPDIR": str(tmp)})
    if end in ("once", "error"):
        out = subprocess.run([*args, "--once"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == (0 if end == "once" else 1), out.stderr
        if end == "error":
            assert out.stderr.startswith("cronplane: cannot reach Redis") and out.stderr.count("\n") == 1
    else:
        c = start_controller(url, tmp_path, ["--git", str(repo)], "git", {"TMPDIR": str(tmp)})
        try:
            c.wait_for(r"sync: .*wrote f/tick")
            assert list(tmp.glob("cronplane-git-*/checkout/.git")), "the checkout is in the temporary directory"
            assert stop_timed(c, signal.Signals[end]) < STOP_LIMIT
        finally:
            c.stop()
        assert "Traceback" not in c.text()
    assert list(tmp.iterdir()) == [], "the temporary checkout is removed"
