"""The chaos scenarios: each starts a real deployment (``tests.chaos.cluster``), injects one kind of
fault again and again for ``seconds``, lets the system settle and judges the window by what the
target received. ``make test`` runs a short version of each (one or two faults); ``make chaos``
runs them for minutes (``python -m tests.chaos``) and prints the table the README shows.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.chaos.cluster import Cluster, Verdict


@dataclass
class Result:
    scenario: str
    faults: int
    verdict: Verdict


Injector = Callable[[Cluster, int, random.Random], None]


def kill_leader(cluster: Cluster, n: int, rng: random.Random) -> None:
    """SIGKILL the controller holding the lease (a standby takes over), then start it again."""
    leader = cluster.leader()
    cluster.restart_controller(leader if leader is not None else 0)


def kill_worker(cluster: Cluster, n: int, rng: random.Random) -> None:
    """SIGKILL a worker in the middle of its calls (the target answers slowly), start a new one."""
    cluster.restart_worker(cluster.busy_worker())


def restart_redis(cluster: Cluster, n: int, rng: random.Random) -> None:
    """Redis goes away and comes back on the same port and data: a crash (SIGKILL) or a clean
    restart (SIGTERM), alternately, down for 2–6 s."""
    server = cluster.redis_server
    assert server is not None
    if n % 2 == 0:
        server.kill()
    else:
        server.stop()
    time.sleep(rng.uniform(2.0, 6.0))
    server.start()


def freeze_redis(cluster: Cluster, n: int, rng: random.Random) -> None:
    """Redis hangs (SIGSTOP: connections open, nothing answers) for 2–5 s, then SIGCONT."""
    server = cluster.redis_server
    assert server is not None and server.proc is not None
    server.proc.send_signal(signal.SIGSTOP)
    time.sleep(rng.uniform(2.0, 5.0))
    server.proc.send_signal(signal.SIGCONT)


def fail_over(cluster: Cluster, n: int, rng: random.Random) -> None:
    """A Sentinel failover, alternately ordered (``SENTINEL FAILOVER``) and forced (SIGKILL of the
    master; it comes back later on its port and data and the sentinels make it a replica)."""
    deployment = cluster.deployment
    assert deployment is not None
    if n % 2 == 0:
        deployment.failover()
    else:
        old = deployment.server_on(deployment.master_port())
        old.kill()
        deadline = time.monotonic() + 30
        while deployment.master_port() == old.port and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        old.start()
    deployment.wait_until_replicated(timeout=30)


@dataclass(frozen=True)
class Scenario:
    name: str
    inject: Injector
    every: float  # seconds between faults
    controllers: int = 2
    workers: int = 1
    sentinel: bool = False
    target_delay: float = 0.0
    bound: float = 30.0  # the worst due → completed a short run may show on a loaded 2-core machine

    def run(self, workdir: Path, seconds: float, seed: int = 0) -> Result:
        rng = random.Random(seed)
        cluster = Cluster(workdir, sentinel=self.sentinel, target_delay=self.target_delay)
        faults = 0
        try:
            cluster.start(controllers=self.controllers, workers=self.workers)
            cluster.wait_synced()
            _wait_first_delivery(cluster)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                time.sleep(min(self.every * rng.uniform(0.5, 1.0), max(0.0, end - time.monotonic())))
                if time.monotonic() >= end:
                    break
                self.inject(cluster, faults, rng)
                faults += 1
            until = int(time.time()) - 1  # every occurrence up to here is due
            cluster.wait_settled(until)
            time.sleep(1.0)  # a late duplicate would show up now
            return Result(self.name, faults, cluster.verdict(until))
        finally:
            cluster.stop()


def _wait_first_delivery(cluster: Cluster, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cluster.target.requests:
        if time.monotonic() > deadline:
            logs = "\n".join(c.output()[-2000:] for c in (*cluster.controllers, *cluster.workers))
            raise AssertionError(f"nothing reached the target within {timeout} s:\n{logs}")
        time.sleep(0.1)


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("leader SIGKILL", kill_leader, every=5.0, controllers=2, workers=1, bound=10.0),
        Scenario(
            "worker SIGKILL mid-call", kill_worker, every=12.0, controllers=1, workers=2, target_delay=0.8, bound=25.0
        ),
        Scenario("Redis restart (crash / clean)", restart_redis, every=8.0, controllers=2, workers=1, bound=15.0),
        Scenario("Redis hung (SIGSTOP)", freeze_redis, every=8.0, controllers=2, workers=1, bound=15.0),
        Scenario("Sentinel failover (ordered / master SIGKILL)", fail_over, every=10.0, workers=2, sentinel=True),
    )
}
