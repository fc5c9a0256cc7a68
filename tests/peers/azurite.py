"""Azurite (Azure Storage emulator, queue service) on a free 127.0.0.1 port, stopped by PID."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.peers.ports import free_port, stop_process, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / ".cache" / "node" / "node_modules" / ".bin" / "azurite-queue"
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class Azurite:
    workdir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};QueueEndpoint={self.endpoint};"

    def start(self) -> Azurite:
        if not BINARY.exists():
            subprocess.run(["make", "-C", str(ROOT), str(BINARY.relative_to(ROOT))], check=True)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                str(BINARY),
                "--queueHost",
                "127.0.0.1",
                "--queuePort",
                str(self.port),
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--disableTelemetry",
                "--silent",
            ],
            stdout=(self.workdir / "azurite.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, timeout=30)
        return self

    def stop(self) -> None:
        stop_process(self.proc)
