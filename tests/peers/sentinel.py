"""A real Redis Sentinel deployment on 127.0.0.1: a master, a replica and three sentinels (Debian's
``redis-sentinel``, installed by ``scripts/system-deps.sh``; without it ``redis-server --sentinel``,
the same program), each its own process, stopped by PID."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.peers.ports import free_port, stop_process, wait_for_port
from tests.peers.redis_server import RedisServer, redis_binary

MASTER_NAME = "cronplane"


def sentinel_command() -> list[str]:
    found = shutil.which("redis-sentinel")
    return [found] if found else [redis_binary(), "--sentinel"]


@dataclass
class SentinelDeployment:
    workdir: Path
    down_after_ms: int = 1000
    master: RedisServer | None = None
    replica: RedisServer | None = None
    sentinel_ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{MASTER_NAME}/0"

    def start(self) -> SentinelDeployment:
        try:
            return self._start()
        except BaseException:
            self.stop()  # never leave a half-started deployment running
            raise

    def _start(self) -> SentinelDeployment:
        self.master = RedisServer(self.workdir / "master", appendonly=True).start()
        self.replica = RedisServer(
            self.workdir / "replica", appendonly=True, extra=("--replicaof", "127.0.0.1", str(self.master.port))
        ).start()
        for i in range(3):
            port = free_port()
            conf = self.workdir / f"sentinel-{i}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}\n"
                f"sentinel failover-timeout {MASTER_NAME} 5000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            log = (self.workdir / f"sentinel-{i}.log").open("wb")
            self.procs.append(subprocess.Popen([*sentinel_command(), str(conf)], stdout=log, stderr=log))
            wait_for_port(port)
            self.sentinel_ports.append(port)
        self.wait_until_replicated()
        return self

    def sentinel(self, i: int = 0) -> redis.Redis:
        return redis.Redis(port=self.sentinel_ports[i], decode_responses=True)

    def master_port(self) -> int:
        _host, port = self.sentinel().sentinel_get_master_addr_by_name(MASTER_NAME)
        return int(port)

    def wait_until_replicated(self, timeout: float = 20.0) -> None:
        """Every sentinel knows the master and its replica (so a failover can happen)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                info = redis.Redis(host="127.0.0.1", port=self.master_port()).info("replication")
                online = any(isinstance(v, dict) and v.get("state") == "online" for v in info.values())
                ready = online and all(
                    int(self.sentinel(i).sentinel_master(MASTER_NAME).get("num-slaves", 0)) >= 1
                    and int(self.sentinel(i).sentinel_master(MASTER_NAME).get("num-other-sentinels", 0)) >= 2
                    for i in range(len(self.sentinel_ports))
                )
            except redis.RedisError:
                ready = False
            if ready:
                return
            time.sleep(0.2)
        raise TimeoutError("the sentinels did not see the replica and each other in time")

    def failover(self, timeout: float = 30.0) -> int:
        """``SENTINEL FAILOVER``; returns the new master's port once the sentinels report it."""
        old = self.master_port()
        self.sentinel().execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.master_port() != old:
                return self.master_port()
            time.sleep(0.1)
        raise TimeoutError("no failover within the timeout")

    def server_on(self, port: int) -> RedisServer:
        for server in (self.master, self.replica):
            if server is not None and server.port == port:
                return server
        raise KeyError(port)

    def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc)
        for server in (self.master, self.replica):
            if server is not None:
                server.stop()
