"""The clients of one worker process, shared by all its concurrent invocations (``TargetContext``).

- one aiohttp session with keep-alive connections for every HTTP(S) target (TLS contexts are
  cached in ``http_auth``; a client-certificate context is per attempt, so its connections are
  its own);
- one Storage Queue or Service Bus client per target and credentials, keyed by a hash (the
  credentials never appear in a key), built on first use and dropped after a failure;
- the process's concurrency limits (``worker.targets.limits``): per job or collection
  (``maxConcurrentCalls``) and per ``host:port``; excess invocations wait, none is dropped;
- a thread pool for the Azure SDKs, which are blocking.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp

from worker.settings import WorkerSettings
from worker.targets.base import SecretResolver
from worker.targets.limits import Slots


def client_key(
    kind: str, msg: Mapping[str, Any], secrets: SecretResolver, refs: Iterable[str], field: str, sas: bool = False
) -> str:
    """A digest of everything that makes a client different: target, entity, credentials."""
    parts = [kind, str(msg.get("queueName")), str(msg.get("storageAccount")), str(msg.get("namespace"))]
    for name in refs:
        if msg.get(name) is not None:
            parts.append(secrets(msg[name], f"{field}.{name}"))
    if sas and msg.get("connectionString") is None:
        auth = msg.get("authentication") or {}
        parts += [str(auth.get("sasKeyName")), secrets(auth.get("sasKey"), f"{field}.authentication.sasKey")]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


class Clients:
    """A TargetContext; ``close`` at the end of the process's event loop."""

    def __init__(self, settings: WorkerSettings, secrets: SecretResolver, threads: int = 16):
        self.settings, self.secrets = settings, secrets
        self._session: aiohttp.ClientSession | None = None
        self._clients: dict[str, Any] = {}
        self.slots = Slots(settings.limit_for)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="cronplane-sdk")

    def http_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30, ttl_dns_cache=60)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
        return self._session

    def client(self, key: str, factory: Callable[[], Any]) -> Any:
        found = self._clients.get(key)
        if found is None:
            found = self._clients[key] = factory()
        return found

    def drop_client(self, key: str) -> None:
        found = self._clients.pop(key, None)
        if found is not None and hasattr(found, "close"):
            self._pool.submit(found.close)

    def run_sync(self, fn: Callable[[], Any]) -> Any:
        return asyncio.get_running_loop().run_in_executor(self._pool, fn)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        for key in list(self._clients):
            self.drop_client(key)
        self._pool.shutdown(wait=True)
