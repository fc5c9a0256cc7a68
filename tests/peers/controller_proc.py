"""A real ``cronplane controller`` process for the fault and shutdown tests: its log in a file,
(a ``tests.peers.processes.Child``), and the RQ queue it fills.

``tick_manifests(root)`` writes one collection with a per-second job (``startingDeadline: PT2S``,
so the occurrences of an outage longer than two seconds are missed, not run late).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import redis

from tests.peers.processes import Child
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


ControllerProcess = Child  # the fault tests' name for it


def start_controller(
    redis_url: str,
    workdir: Path,
    args: Sequence[str],
    name: str = "c",
    env: Mapping[str, str] | None = None,
) -> Child:
    log = workdir / f"controller-{name}.log"
    child = Child(["controller", "--id", name, *args], log, env_for(redis_url, env), name=name)
    return child.start()


def queued_epochs(client: redis.Redis) -> list[int]:
    """The scheduled epochs of the ``f/tick`` invocations in the RQ queue (no worker runs)."""
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in client.lrange(QUEUE_KEY, 0, -1)]
    return [int(i.rsplit("-", 1)[1]) for i in ids if i.startswith("f_tick-")]


def count_lines(text: str, role: str, what: str) -> int:
    """How many '<role>: Redis connection lost|back' lines ``text`` has."""
    return len(re.findall(rf"\b{role}: Redis connection {what}\b", text))
