"""The RQ entry point ``run_invocation(payload)``: what the controller enqueues (with the payload
of ``worker.contract.Invocation``), and retries too.

``cronplane worker`` claims these jobs in batches and runs them concurrently
(``worker.engine``); this function is the path for any other RQ worker (a plain ``rq worker``
or ``SimpleWorker``): it runs the same ``Runner`` for one job on a private event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rq import get_current_job

from worker.contract import Invocation
from worker.redis_url import async_twin
from worker.runner import Runner, target_attempt
from worker.secrets import EnvFileSecrets
from worker.settings import WorkerSettings
from worker.store import WorkerStore
from worker.targets.clients import Clients


def run_invocation(payload: dict[str, Any]) -> str:
    job = get_current_job()
    if job is None:
        raise RuntimeError("run_invocation must run inside an RQ worker")
    settings = WorkerSettings.from_env()
    invocation = Invocation.from_dict(payload)
    return asyncio.run(_run(settings, invocation, job.id, job.origin, job.connection))


async def _run(settings: WorkerSettings, inv: Invocation, job_id: str, queue: str, connection: Any) -> str:
    r = async_twin(connection)
    clients = Clients(settings, EnvFileSecrets(), threads=2)
    try:
        runner = Runner(WorkerStore(r, settings), target_attempt(clients), settings.job_timeout)
        return await runner.run(inv, job_id, queue)
    finally:
        await clients.close()
        await r.aclose()
