"""Headers the worker owns are validation errors, one line each: a user-supplied Idempotency-Key
(the scheduler sets it, per action) and framing headers (Content-Length, Transfer-Encoding, Host,
Connection), plus header names and values HTTP cannot carry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controller.core.quota import load_documents

NOW = datetime(2026, 1, 1, tzinfo=UTC)
HEAD = "apiVersion: cronplane/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  action:\n"


def problems(text: str) -> list[str]:
    return [str(p) for p in load_documents({"m.yaml": text.encode()}, NOW).problems]


def manifest(headers: str, where: str = "main") -> str:
    request = "{method: POST, uri: 'http://example.test/', body: 'hello world', headers: " + headers + "}"
    if where == "main":
        return HEAD + f"    type: http\n    request: {request}\n"
    ok = "{method: GET, uri: 'http://example.test/'}"
    return HEAD + f"    type: http\n    request: {ok}\n    errorAction: {{type: http, request: {request}}}\n"


@pytest.mark.parametrize(
    ("headers", "field", "message"),
    [
        ("{Idempotency-Key: mine}", "Idempotency-Key", "is set by the scheduler"),
        ("{idempotency-key: mine}", "idempotency-key", "is set by the scheduler"),
        ("{Content-Length: '5'}", "Content-Length", "is a framing header"),
        ("{Transfer-Encoding: chunked}", "Transfer-Encoding", "is a framing header"),
        ("{Host: other.test}", "Host", "is a framing header"),
        ("{Connection: close}", "Connection", "is a framing header"),
        ("{'Bad Name': x}", "Bad Name", "a header name is letters, digits"),  # the schema's check
        ('{X-Evil: "a\\r\\nInjected: yes"}', "X-Evil", "may not contain line breaks"),
    ],
)
@pytest.mark.parametrize("where", ["main", "error"])
def test_reserved_and_malformed_headers(headers: str, field: str, message: str, where: str) -> None:
    found = problems(manifest(headers, where))
    assert len(found) == 1, found
    prefix = "action.errorAction.request.headers" if where == "error" else "action.request.headers"
    assert f"{prefix}.{field}: " in found[0] and message in found[0] and "\n" not in found[0]


def test_ordinary_headers_pass() -> None:
    assert problems(manifest("{X-Team: billing, Content-Type: application/json, Authorization-Hint: none}")) == []
