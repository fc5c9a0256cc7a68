"""The single classification of target failures: temporary (retry per policy, optionally not
before a delay such as Retry-After) or permanent (retrying cannot help).

| failure                                                        | class      |
|----------------------------------------------------------------|------------|
| HTTP 2xx                                                       | success    |
| HTTP 408, 429, 5xx (429/503 with Retry-After: seconds or date) | temporary  |
| HTTP 3xx (redirects are not followed), other 4xx               | permanent  |
| timeout, refused/reset connection, DNS failure, cut response   | temporary  |
| TLS failure (certificate rejected or not trusted), bad URL     | permanent  |
| Azure: entity/queue not found                                  | temporary  |
| Azure: authentication/authorization refused                    | permanent  |
| Azure: HTTP error answer                                       | as HTTP    |
| Azure: service/connection/other SDK errors                     | temporary  |

``classify`` wraps a third-party exception at the boundary; its message is one line and names
the target, never a secret.
"""

from __future__ import annotations

import asyncio
import email.utils
from datetime import UTC, datetime

import aiohttp
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.servicebus.exceptions import (
    MessagingEntityNotFoundError,
    ServiceBusAuthenticationError,
    ServiceBusAuthorizationError,
    ServiceBusError,
)

from worker.targets.base import PermanentTargetError, TargetError, TemporaryTargetError

RETRYABLE_4XX = frozenset({408, 429})


def status_retryable(status: int) -> bool:
    return status >= 500 or status in RETRYABLE_4XX


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After in seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify(e: BaseException, what: str, timeout: float) -> TargetError:
    """``e`` raised while calling ``what``, as a TargetError (already one: unchanged)."""
    if isinstance(e, TargetError):
        return e
    name = e.__class__.__name__
    if isinstance(e, asyncio.TimeoutError | aiohttp.ServerTimeoutError | TimeoutError):
        return TemporaryTargetError(f"{what}: no answer within {timeout:g} s")
    if isinstance(e, aiohttp.ClientSSLError | aiohttp.InvalidURL):
        return PermanentTargetError(f"{what}: {name}: {_first_line(e)}")
    if isinstance(e, aiohttp.ClientError | ConnectionError):
        return TemporaryTargetError(f"{what}: {name}: {_first_line(e)}")
    return _classify_azure(e, what, name)


def _classify_azure(e: BaseException, what: str, name: str) -> TargetError:
    if isinstance(e, ResourceNotFoundError | MessagingEntityNotFoundError):
        return TemporaryTargetError(f"{what} does not exist")
    if isinstance(e, ClientAuthenticationError):
        return PermanentTargetError(f"{what}: authentication failed ({e.status_code})")
    if isinstance(e, ServiceBusAuthenticationError | ServiceBusAuthorizationError):
        return PermanentTargetError(f"{what}: Service Bus refused the credentials: {name}")
    if isinstance(e, HttpResponseError) and e.status_code:
        message = f"{what}: answered {e.status_code}: {e.reason}"
        return (TemporaryTargetError if status_retryable(e.status_code) else PermanentTargetError)(message)
    if isinstance(e, ServiceRequestError | ServiceResponseError | ServiceBusError | HttpResponseError):
        return TemporaryTargetError(f"{what}: {name}: {_first_line(e)}")
    return TemporaryTargetError(f"{what}: internal error: {name}")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else "no details"
