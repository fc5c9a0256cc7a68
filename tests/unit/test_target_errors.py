"""The single classification of target failures, as a table: the aiohttp exception tree, HTTP
statuses with Retry-After, and the Azure SDK errors (worker.targets.errors)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
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
    ServiceBusConnectionError,
    ServiceBusError,
)

from worker.targets.base import PermanentTargetError, TemporaryTargetError
from worker.targets.errors import classify, retry_after
from worker.targets.http import outcome_of


class _Key:
    host, port, ssl, is_ssl = "t", 443, True, True


def _azure(cls: Any, status: int | None = None) -> Exception:
    e = cls(message="answer")
    e.status_code, e.reason = status, "Reason"
    return e


TEMPORARY, PERMANENT = True, False


@pytest.mark.parametrize(
    ("error", "retryable", "text"),
    [
        (TimeoutError(), TEMPORARY, "no answer within 60 s"),
        (TimeoutError(), TEMPORARY, "no answer within 60 s"),
        (aiohttp.ServerTimeoutError("read"), TEMPORARY, "no answer"),
        (
            aiohttp.ClientConnectorError(_Key(), ConnectionRefusedError(111, "refused")),
            TEMPORARY,
            "ClientConnectorError",
        ),
        (aiohttp.ServerDisconnectedError(), TEMPORARY, "ServerDisconnectedError"),
        (aiohttp.ClientOSError(104, "reset"), TEMPORARY, "ClientOSError"),
        (aiohttp.ClientPayloadError("cut"), TEMPORARY, "ClientPayloadError"),
        (ConnectionResetError(), TEMPORARY, "ConnectionResetError"),
        (aiohttp.ClientConnectorCertificateError(_Key(), ValueError("untrusted")), PERMANENT, "Certificate"),
        (aiohttp.ClientSSLError(_Key(), OSError(1, "alert certificate required")), PERMANENT, "ClientSSLError"),
        (aiohttp.InvalidURL("nope"), PERMANENT, "InvalidURL"),
        (_azure(ResourceNotFoundError, 404), TEMPORARY, "does not exist"),
        (_azure(ClientAuthenticationError, 403), PERMANENT, "authentication failed (403)"),
        (_azure(HttpResponseError, 500), TEMPORARY, "answered 500"),
        (_azure(HttpResponseError, 429), TEMPORARY, "answered 429"),
        (_azure(HttpResponseError, 400), PERMANENT, "answered 400"),
        (ServiceRequestError("down"), TEMPORARY, "ServiceRequestError"),
        (ServiceResponseError("cut"), TEMPORARY, "ServiceResponseError"),
        (MessagingEntityNotFoundError(message="x"), TEMPORARY, "does not exist"),
        (ServiceBusAuthenticationError(message="x"), PERMANENT, "refused the credentials"),
        (ServiceBusAuthorizationError(message="x"), PERMANENT, "refused the credentials"),
        (ServiceBusConnectionError(message="x"), TEMPORARY, "ServiceBusConnectionError"),
        (ServiceBusError(message="x"), TEMPORARY, "ServiceBusError"),
        (RuntimeError("bug"), TEMPORARY, "internal error: RuntimeError"),
    ],
)
def test_exceptions(error: BaseException, retryable: bool, text: str) -> None:
    classified = classify(error, "target", 60.0)
    assert classified.retryable is retryable
    assert isinstance(classified, TemporaryTargetError if retryable else PermanentTargetError)
    assert text in str(classified) and "\n" not in str(classified)


@pytest.mark.parametrize(
    ("status", "header", "ok", "retryable", "delay"),
    [
        (200, None, True, True, None),
        (202, None, True, True, None),
        (204, None, True, True, None),
        (301, None, False, False, None),  # redirects are not followed
        (400, None, False, False, None),
        (404, None, False, False, None),
        (408, None, False, True, None),
        (429, "7", False, True, 7.0),
        (429, None, False, True, None),
        (500, "7", False, True, None),  # Retry-After counts only for 429 and 503
        (502, None, False, True, None),
        (503, "120", False, True, 120.0),
        (503, "soon", False, True, None),
    ],
)
def test_http_statuses(status: int, header: str | None, ok: bool, retryable: bool, delay: float | None) -> None:
    outcome = outcome_of(status, "Reason", header, b"body")
    assert (outcome.ok, outcome.retryable, outcome.retry_after) == (ok, retryable, delay)
    assert outcome.message == f"HTTP {status} Reason\nbody"


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after("Thu, 01 Jan 2026 12:01:30 GMT", now) == 90.0
    assert retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0  # past: no wait
    assert retry_after("", now) is None and retry_after(None, now) is None


def test_a_classified_error_passes_through() -> None:
    error = PermanentTargetError("already clear")
    assert classify(error, "t", 1.0) is error
    assert error.outcome().retryable is False and TemporaryTargetError("x", 5.0).outcome().retry_after == 5.0
