"""The real ``cronplane controller`` and ``cronplane worker`` commands as child processes, for tests,
the chaos suite and benchmarks: started as users start them, killed or stopped by PID.

Each child runs in its own session (``start_new_session``) so that a SIGKILL can take its whole
process tree (the controller's sync process, the worker pool's children) at once, as a crashed
host would, and ``stop`` sends SIGTERM, then SIGKILL after a timeout.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Child:
    """One cronplane command running as a child process, its output appended to ``log``."""

    args: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    name: str = ""

    def start(self) -> Child:
        with self.log.open("ab") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "controller.cli", *self.args],
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process tree (a crash): nothing gets to clean up."""
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            assert self.proc is not None
            self.proc.wait()

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL of the tree after ``timeout``; the exit code (None if killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    text = output

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first match of ``pattern`` in the log; an assertion error if the process exits or
        ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output())
            if found:
                return found
            assert self.alive(), f"{self.name or self.args[0]} exited:\n{self.output()[-3000:]}"
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in the log of {self.name or self.args[0]} after {timeout} s")

    def children(self) -> list[int]:
        """PIDs of its child processes (the controller's sync process, the worker pool's workers)."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]


def controller(
    redis_url: str,
    manifests: Sequence[Path | str],
    log: Path,
    *extra: str,
    ident: str | None = None,
    lease_ttl: float | None = None,
    env: Mapping[str, str] | None = None,
) -> Child:
    """``cronplane controller --manifests DIR...`` (not yet started: call ``start()``)."""
    args = ["controller", "--redis-url", redis_url]
    for m in manifests:
        args += ["--manifests", str(m)]
    if ident:
        args += ["--id", ident]
    if lease_ttl is not None:
        args += ["--lease-ttl", str(lease_ttl)]
    return Child([*args, *extra], log, dict(env or {}))


def worker(redis_url: str, log: Path, *extra: str, env: Mapping[str, str] | None = None) -> Child:
    """``cronplane worker`` (not yet started: call ``start()``)."""
    return Child(["worker", "--redis-url", redis_url, *extra], log, dict(env or {}))
