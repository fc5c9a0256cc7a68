"""Real ``cronplane serve`` and ``cronplane controller`` processes for the API, CLI and browser tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.peers.ports import free_port, stop_process, wait_for_port
from tests.peers.rq_worker import ROOT

ADMIN_TOKEN = "admin-token-0123456789abcdef"
READ_TOKEN = "read-token-0123456789abcdef"
ARM = "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Scheduler"


@dataclass
class Server:
    url: str
    api_dir: Path
    log: Path
    proc: subprocess.Popen[bytes]

    def client(self, token: str | None = ADMIN_TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def env_for(redis_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    env.update(extra or {})
    return env


@contextmanager
def serving(
    redis_url: str,
    workdir: Path,
    manifests: Sequence[str] = (),
    tokens: bool = True,
    extra_args: Sequence[str] = (),
) -> Iterator[Server]:
    port = free_port()
    api_dir = workdir / "api-manifests"
    log = workdir / f"serve-{port}.log"
    args = [sys.executable, "-m", "controller.cli", "serve", "--port", str(port), "--api-dir", str(api_dir)]
    for m in manifests:
        args += ["--manifests", m]
    env = env_for(
        redis_url,
        {"CRONPLANE_API_ADMIN_TOKENS": f"alice:{ADMIN_TOKEN}", "CRONPLANE_API_READ_TOKENS": READ_TOKEN}
        if tokens
        else {},
    )
    with log.open("wb") as sink:
        proc = subprocess.Popen([*args, *extra_args], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=30)
        yield Server(f"http://127.0.0.1:{port}", api_dir, log, proc)
    finally:
        stop_process(proc)


@contextmanager
def controlling(redis_url: str, manifests: Sequence[str], workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    args = [sys.executable, "-m", "controller.cli", "controller", "--poll", "2", "--lease-ttl", "3"]
    for m in manifests:
        args += ["--manifests", m]
    log = workdir / "controller.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(args, cwd=ROOT, env=env_for(redis_url), stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop_process(proc)
