"""A real ``cronplane controller`` process for the fault and shutdown tests: its log in a file,
waits on log lines, its sync child's PID, and the RQ queue it fills.

``tick_manifests(root)`` writes one collection with a per-second job (``startingDeadline: PT2S``,
so the occurrences of an outage longer than two seconds are missed, not run late).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.peers.ports import stop_process
from tests.peers.rq_worker import ROOT
from tests.peers.serve import env_for

JOB = "f/tick"
QUEUE_KEY = "rq:queue:cronplane"
TICK = """\
apiVersion: cronplane/v1
kind: JobCollection
metadata: {name: f}
spec: {plan: p20premium, quota: {maxRecurrence: {frequency: second, interval: 1}}}
---
apiVersion: cronplane/v1
kind: Job
metadata: {name: tick, collection: f}
spec:
  rrule: FREQ=SECONDLY
  startingDeadline: PT2S
  action: {type: http, request: {method: GET, uri: 'http://127.0.0.1:9/'}}
"""


def tick_manifests(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "jobs.yaml").write_text(TICK)
    return root


@dataclass
class ControllerProcess:
    proc: subprocess.Popen[bytes]
    log: Path
    name: str

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text())
            if found:
                return found
            assert self.proc.poll() is None, f"controller {self.name} exited:\n{self.text()[-3000:]}"
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in the log of {self.name} after {timeout} s:\n{self.text()[-3000:]}")

    def sync_children(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def stop(self) -> None:
        stop_process(self.proc)


def start_controller(
    redis_url: str,
    workdir: Path,
    args: Sequence[str],
    name: str = "c",
    env: Mapping[str, str] | None = None,
) -> ControllerProcess:
    log = workdir / f"controller-{name}.log"
    cmd = [sys.executable, "-m", "controller.cli", "controller", "--id", name, *args]
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env_for(redis_url, env), stdout=sink, stderr=subprocess.STDOUT)
    return ControllerProcess(proc, log, name)


def queued_epochs(client: redis.Redis) -> list[int]:
    """The scheduled epochs of the ``f/tick`` invocations in the RQ queue (no worker runs)."""
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in client.lrange(QUEUE_KEY, 0, -1)]
    return [int(i.rsplit("-", 1)[1]) for i in ids if i.startswith("f_tick-")]


def count_lines(text: str, role: str, what: str) -> int:
    """How many '<role>: Redis connection lost|back' lines ``text`` has."""
    return len(re.findall(rf"\b{role}: Redis connection {what}\b", text))
