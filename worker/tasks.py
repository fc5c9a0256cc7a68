"""The RQ entry point: ``run_invocation(payload)`` carries out one invocation payload.

Enqueued by the controller (and by retries) as ``worker.tasks.run_invocation`` with the payload
of ``worker.contract.Invocation``. It builds settings from the environment, reuses the RQ job's
Redis connection and queue, and hands over to ``worker.runner.Runner``.
"""

from __future__ import annotations

from typing import Any

from rq import Queue, get_current_job

from worker.contract import Invocation
from worker.runner import Runner
from worker.settings import WorkerSettings
from worker.store import WorkerStore


def run_invocation(payload: dict[str, Any]) -> str:
    job = get_current_job()
    if job is None:
        raise RuntimeError("run_invocation must run inside an RQ worker")
    settings = WorkerSettings.from_env()
    invocation = Invocation.from_dict(payload)
    queue = Queue(job.origin, connection=job.connection)
    return Runner(WorkerStore(job.connection, settings), queue, settings, rq_job_id=job.id).run(invocation)
