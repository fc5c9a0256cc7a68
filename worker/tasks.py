"""The RQ entry point ``run_invocation(payload)``: what the controller enqueues (with the payload
of ``worker.contract.Invocation``), and retries too.

``cronplane worker`` claims these jobs in batches and runs them concurrently
(``worker.engine``); this function is the path for any other RQ worker (a plain ``rq worker``
or ``SimpleWorker``): it runs the same ``Runner`` for one job on a private event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from rq import get_current_job

from worker.contract import Invocation
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
    kwargs = job.connection.connection_pool.connection_kwargs
    return asyncio.run(_run(settings, invocation, job.id, job.origin, kwargs))


async def _run(settings: WorkerSettings, inv: Invocation, job_id: str, queue: str, kwargs: dict[str, Any]) -> str:
    r = _async_client(kwargs)
    clients = Clients(settings, EnvFileSecrets(), threads=2)
    try:
        runner = Runner(WorkerStore(r, settings), target_attempt(clients), settings.job_timeout)
        return await runner.run(inv, job_id, queue)
    finally:
        await clients.close()
        await r.aclose()


def _async_client(kwargs: dict[str, Any]) -> aioredis.Redis:
    common = {"db": kwargs.get("db", 0), "username": kwargs.get("username"), "password": kwargs.get("password")}
    if kwargs.get("path"):
        return aioredis.Redis(unix_socket_path=kwargs["path"], **common)
    return aioredis.Redis(host=kwargs.get("host", "localhost"), port=kwargs.get("port", 6379), **common)
