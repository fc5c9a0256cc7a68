"""A whole cronplane deployment on 127.0.0.1 for the chaos suite: Redis (one server, or a Sentinel
deployment), controllers and workers as real processes, per-second jobs calling a recording target.

``Cluster.verdict`` judges a run by what the target saw (its ``Idempotency-Key``\\ s) and by the
history the workers wrote: every occurrence due in the window must have reached the target
and be recorded as completed (``missing``), none may have run to completion twice or arrived under an unexpected key
(``duplicated``); a repeat of the same key after an interrupted attempt is at-least-once delivery
that a target deduplicates by key, counted apart (``redelivered``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import redis

from tests.peers import processes
from tests.peers.processes import Child
from tests.peers.recording_http import RecordingTarget
from tests.peers.redis_server import RedisServer
from tests.peers.sentinel import SentinelDeployment
from worker.contract import HistoryEntry, Keys
from worker.records import JobRecord

COLLECTION = "chaos"
HEADER = f"""apiVersion: cronplane/v1
kind: JobCollection
metadata: {{name: {COLLECTION}}}
spec: {{quota: {{maxRecurrence: {{frequency: second, interval: 1}}}}}}
"""
JOB = """---
apiVersion: cronplane/v1
kind: Job
metadata: {{name: {name}, collection: {collection}}}
spec:
  startTime: "{start}"
  rrule: FREQ=SECONDLY;INTERVAL=1
  startingDeadline: PT10M
  missedRunPolicy: all
  action: {{type: http, request: {{method: POST, uri: '{uri}', body: '{{}}'}}}}
"""
# Fast failure detection for the tests: a worker's abandoned invocation is requeued in seconds.
WORKER_ENV = {"CRONPLANE_MAINTENANCE_INTERVAL": "2"}


@dataclass
class Verdict:
    due: int
    delivered: int
    duplicated: int
    missing: int
    redelivered: int
    worst_late: float  # seconds, due → recorded as completed, the worst occurrence in the window
    tracebacks: int  # "Traceback" lines in every child's log
    worst_redelivery: float = 0.0  # seconds from an interrupted call to the next call with its key
    missing_keys: list[str] = field(default_factory=list)


@dataclass
class Cluster:
    workdir: Path
    jobs: int = 3
    sentinel: bool = False
    target_delay: float = 0.0
    controllers: list[Child] = field(default_factory=list)
    workers: list[Child] = field(default_factory=list)
    redis_server: RedisServer | None = None
    deployment: SentinelDeployment | None = None
    target: RecordingTarget = field(default_factory=RecordingTarget)
    start_epoch: int = 0
    # per job, its first occurrence: the startTime, or its creation when the controller wrote it
    # later (a slow start on a loaded machine: occurrences before a job existed are discarded)
    first_epochs: dict[int, int] = field(default_factory=dict)

    # --- set-up ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self.deployment is not None:
            return self.deployment.url
        assert self.redis_server is not None
        return self.redis_server.url

    def client(self) -> redis.Redis:
        """A client of the current master (follows a failover)."""
        if self.deployment is not None:
            return redis.Redis(port=self.deployment.master_port())
        return redis.Redis.from_url(self.url)

    def start(self, controllers: int = 2, workers: int = 1, lease_ttl: float = 2.0, lead: float = 6.0) -> Cluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.sentinel:
            self.deployment = SentinelDeployment(self.workdir / "sentinel").start()
        else:
            # fsync every write: a SIGKILLed Redis keeps everything it acknowledged
            self.redis_server = RedisServer(
                self.workdir / "redis", appendonly=True, extra=("--appendfsync", "always")
            ).start()
        self.target.start()
        uri = self.target.url(f"/slow/{self.target_delay}" if self.target_delay else "/ok")
        self.start_epoch = int(time.time() + lead)  # the first occurrence, once everyone is up
        manifests = self.workdir / "manifests"
        manifests.mkdir(exist_ok=True)
        start = datetime.fromtimestamp(self.start_epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = "".join(JOB.format(name=f"j{i}", collection=COLLECTION, start=start, uri=uri) for i in range(self.jobs))
        (manifests / "chaos.yaml").write_text(HEADER + body)
        for i in range(controllers):
            self.controllers.append(self._controller(f"c{i}", lease_ttl))
        for i in range(workers):
            self.workers.append(self._worker(i))
        return self

    def _controller(self, ident: str, lease_ttl: float) -> Child:
        log = self.workdir / f"controller-{ident}.log"
        return processes.controller(
            self.url, [self.workdir / "manifests"], log, ident=ident, lease_ttl=lease_ttl
        ).start()

    def _worker(self, i: int) -> Child:
        log = self.workdir / f"worker-{i}.log"
        return processes.worker(
            self.url, log, "--processes", "1", "--name", f"w{i}-{time.time_ns()}", env=WORKER_ENV
        ).start()

    # --- faults ----------------------------------------------------------------------------
    def leader(self) -> int | None:
        """Index of the controller holding the dispatch lease, if any."""
        try:
            owner = self.client().get("cp:lease")
        except redis.RedisError:
            return None
        for i, c in enumerate(self.controllers):
            if owner is not None and c.args[c.args.index("--id") + 1] == owner.decode():
                return i
        return None

    def restart_controller(self, i: int, lease_ttl: float = 2.0) -> None:
        ident = self.controllers[i].args[self.controllers[i].args.index("--id") + 1]
        self.controllers[i].kill()
        self.controllers[i] = self._controller(ident, lease_ttl)

    def busy_worker(self, timeout: float = 5.0) -> int:
        """Index of a worker with a call in flight (from RQ's started registry), waiting for one."""
        names = {c.args[c.args.index("--name") + 1]: i for i, c in enumerate(self.workers)}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                r = self.client()
                for member in r.zrange("rq:wip:cronplane", 0, -1):
                    job_id = member.decode().split(":")[0]
                    name = r.hget(f"rq:job:{job_id}", "worker_name")
                    if name is not None and name.decode() in names:
                        return names[name.decode()]
            except redis.RedisError:
                pass
            time.sleep(0.05)
        return 0

    def restart_worker(self, i: int) -> None:
        self.workers[i].kill()
        self.workers[i] = self._worker(i)

    # --- the judgement ---------------------------------------------------------------------
    def wait_synced(self, timeout: float = 90.0) -> None:
        """Until the controller has written every job; records each job's first occurrence."""
        keys, deadline = Keys(), time.monotonic() + timeout
        while len(self.first_epochs) < self.jobs:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the controller wrote {len(self.first_epochs)} of {self.jobs} jobs in {timeout} s"
                )
            for i in range(self.jobs):
                name = f"{COLLECTION}/j{i}"
                try:
                    record = JobRecord.from_redis(name, self.client().hgetall(keys.job(name)))
                except redis.RedisError:
                    record = None
                if record is not None:
                    self.first_epochs[i] = max(self.start_epoch, int(record.created_at))
            time.sleep(0.1)

    def first_epoch(self, job: int) -> int:
        return self.first_epochs.get(job, self.start_epoch)

    def expected(self, until_epoch: int) -> set[str]:
        return {
            f"{COLLECTION}_j{i}-{epoch}"
            for i in range(self.jobs)
            for epoch in range(self.first_epoch(i), until_epoch + 1)
        }

    def completed(self) -> dict[str, list[float]]:
        """The end times (epoch s) of completed main-action attempts per invocation id, from the
        workers' history."""
        done: dict[str, list[float]] = defaultdict(list)
        r = self.client()
        for i in range(self.jobs):
            for raw in r.zrange(f"cp:history:{COLLECTION}/j{i}", 0, -1):
                entry = HistoryEntry.from_json(raw)
                if entry.status == "completed" and entry.action_name != "errorAction":
                    done[entry.invocation_id].append(_epoch_of(entry.end_time))
        return dict(done)

    def wait_settled(self, until_epoch: int, timeout: float = 90.0) -> None:
        """Until every occurrence due by ``until_epoch`` is recorded as completed (or ``timeout``)."""
        expected = self.expected(until_epoch)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if expected <= set(self.completed()):
                    return
            except redis.RedisError:
                pass
            time.sleep(0.25)

    def verdict(self, until_epoch: int) -> Verdict:
        expected = self.expected(until_epoch)
        seen = self.target.by_key()
        completed = self.completed()
        prefix = f"{COLLECTION}_j"
        unexpected = [k for k in seen if not k.startswith(prefix) or not _epoch(k) >= self.first_epoch(_job(k))]
        delivered = expected & set(seen) & set(completed)  # reached the target, and recorded as done
        twice = [k for k in delivered if len(completed[k]) > 1]
        late = [min(completed[k]) - _epoch(k) for k in delivered]
        logs = [c.output() for c in (*self.controllers, *self.workers)]
        return Verdict(
            due=len(expected),
            delivered=len(delivered),
            duplicated=len(twice) + len(unexpected),
            missing=len(expected - delivered),
            redelivered=sum(len(seen[k]) - 1 for k in delivered),
            worst_late=max(late, default=0.0),
            tracebacks=sum(log.count("Traceback") for log in logs),
            worst_redelivery=max((_worst_gap([d.at for d in seen[k]]) for k in delivered), default=0.0),
            missing_keys=sorted(expected - delivered)[:10],
        )

    def stop(self) -> None:
        for child in (*self.controllers, *self.workers):
            child.stop(timeout=10)
        self.target.stop()
        if self.deployment is not None:
            self.deployment.stop()
        if self.redis_server is not None:
            self.redis_server.stop()


def _epoch(key: str) -> int:
    try:
        return int(key.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def _job(key: str) -> int:
    """The job's index in ``chaos_j<i>-<epoch>``, or -1."""
    try:
        return int(key.removeprefix(f"{COLLECTION}_j").split("-", 1)[0])
    except ValueError:
        return -1


def _epoch_of(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _worst_gap(times: list[float]) -> float:
    ordered = sorted(times)
    return max((b - a for a, b in pairwise(ordered)), default=0.0)
