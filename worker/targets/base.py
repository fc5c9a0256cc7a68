"""What every action target (http, storageQueue, serviceBusQueue/Topic) returns and raises.

A target performs exactly one attempt of one action and reports an ``Outcome``; it never
retries, sleeps or writes history (``worker.tasks`` does). Errors a target can foresee are
classified so the retry logic can decide without knowing the target:

    TargetError                 root
    ├── PermanentTargetError    retrying cannot help (bad credentials, missing secret, 4xx, bad URI)
    └── TemporaryTargetError    retry per policy (connection refused, timeout, 5xx, 408, 429)

A target returns ``Outcome(ok=False, ...)`` for an answered-but-failed call (e.g. HTTP 500) and
raises only for calls that got no usable answer. ``message`` is what history shows: status and at
most ``MAX_BODY_BYTES`` of the response, or the error; it must never contain a secret value.
"""

from __future__ import annotations

from collections.abc import Mapping
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


class PermanentTargetError(TargetError):
    retryable = False


class TemporaryTargetError(TargetError):
    retryable = True


class SecretResolver(Protocol):
    def __call__(self, ref: Any, field: str) -> str:
        """Resolve ``{valueFrom: {env|file: ...}}``; raise PermanentTargetError when missing."""
        ...


class Target(Protocol):
    def __call__(
        self,
        action: Mapping[str, Any],
        invocation: Invocation,
        secrets: SecretResolver,
        settings: WorkerSettings,
    ) -> Outcome: ...


def truncate_body(data: bytes) -> str:
    """At most MAX_BODY_BYTES of a response body, decoded leniently."""
    return data[:MAX_BODY_BYTES].decode("utf-8", errors="replace")
