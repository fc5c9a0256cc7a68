"""`make demo` runs the real system: its own Redis, controller, worker and HTTP target; runs show
up as they happen; when it stops, nothing it started is left running."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

from tests.peers.rq_worker import ROOT


def test_demo_shows_runs_and_cleans_up() -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    out = subprocess.run(
        [sys.executable, "-m", "controller.cli", "demo", "--duration", "14"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    assert re.search(r"history demo/heartbeat #1 MainAction completed", text), text[-3000:]
    assert re.search(r"history demo/heartbeat #2 MainAction completed", text)
    assert "history demo/flaky #1 ErrorAction completed" in text
    port = int(re.search(r"started a local Redis at redis://127.0.0.1:(\d+)", text).group(1))  # type: ignore[union-attr]
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the demo's Redis is still running"
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert f"--port {port}" not in ps
