"""Schemathesis hooks for the unauthenticated fuzz run (``SCHEMATHESIS_HOOKS=tests.api.fuzz_hooks``):
a request without a token that would write must be refused (401, or 403) before anything else —
never accepted, never validated first (a 400 or 404 would tell a stranger what exists)."""

from __future__ import annotations

from typing import Any

import schemathesis

WRITES = {"PUT", "PATCH", "POST", "DELETE"}
REFUSED = {401, 403, 405, 413}  # 405: no such route for the verb; 413: a body over --max-body, refused unread


@schemathesis.check
def unauthenticated_writes_are_refused(ctx: Any, response: Any, case: Any) -> None:
    headers = {k.lower() for k in (case.headers or {})}
    if case.method.upper() in WRITES and "authorization" not in headers and response.status_code not in REFUSED:
        raise AssertionError(f"{case.method} {case.path} without a token answered {response.status_code}")
