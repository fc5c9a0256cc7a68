"""What every action target (http, storageQueue, serviceBusQueue/Topic) receives, returns and raises.

A target performs exactly one attempt of one action and reports an ``Outcome``; it never
retries, sleeps or writes history (``worker.runner`` does). It runs on the worker process's event
loop and reuses the process's clients (``TargetContext``): one keep-alive HTTP session, one Storage
or Service Bus client per target. Errors are classified in one place (``worker.targets.errors``):

    TargetError                 root
    ├── PermanentTargetError    retrying cannot help (bad credentials, missing secret, 4xx, bad URI)
    └── TemporaryTargetError    retry per policy (connection refused, timeout, 5xx, 408, 429),
                                optionally not before ``retry_after`` seconds

A target returns ``Outcome(ok=False, ...)`` for an answered-but-failed call (e.g. HTTP 500) and
raises only for calls that got no usable answer. ``message`` is what history shows: status and at
most ``MAX_BODY_BYTES`` of the response, or the error; it must never contain a secret value.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from worker.contract import Invocation
from worker.settings import WorkerSettings

MAX_BODY_BYTES = 2048


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    retryable: bool = True  # only meaningful when ok is False
    retry_after: float | None = None  # seconds, from a 429/503 Retry-After


class TargetError(Exception):
    retryable = True

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after

    def outcome(self) -> Outcome:
        return Outcome(False, str(self), self.retryable, self.retry_after)


class PermanentTargetError(TargetError):
    retryable = False


class TemporaryTargetError(TargetError):
    retryable = True


class SecretResolver(Protocol):
    def __call__(self, ref: Any, field: str) -> str:
        """Resolve ``{valueFrom: {env|file: ...}}``; raise PermanentTargetError when missing."""
        ...


class TargetContext(Protocol):
    """What a target may use, per worker process (built by ``worker.targets.clients``)."""

    settings: WorkerSettings
    secrets: SecretResolver

    def http_session(self) -> Any: ...

    def client(self, key: str, factory: Callable[[], Any]) -> Any:
        """The process's client for ``key`` (a hash of target and credentials), built once."""
        ...

    def drop_client(self, key: str) -> None:
        """Forget a client after a failure; the next attempt builds a new one."""
        ...

    def slots(self, action: Mapping[str, Any], invocation: Invocation) -> AbstractAsyncContextManager[None]:
        """Hold the attempt's concurrency limits (job or collection, host): excess invocations
        wait here, none is dropped (``worker.targets.limits``)."""
        ...

    def run_sync(self, fn: Callable[[], Any]) -> Awaitable[Any]:
        """Run a blocking SDK call on the process's thread pool."""
        ...


class Target(Protocol):
    def __call__(self, action: Mapping[str, Any], invocation: Invocation, ctx: TargetContext) -> Awaitable[Outcome]: ...


def truncate_body(data: bytes) -> str:
    """At most MAX_BODY_BYTES of a response body, decoded leniently."""
    return data[:MAX_BODY_BYTES].decode("utf-8", errors="replace")
