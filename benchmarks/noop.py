"""The baseline task of the worker benchmark: does nothing with the same payload."""

from __future__ import annotations

from typing import Any


def noop(payload: dict[str, Any]) -> str:
    return "ok"
