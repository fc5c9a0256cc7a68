"""Durations as manifests write them; the parser lives in the worker contract (both sides use it)."""

from __future__ import annotations

from worker.contract import DurationError, is_duration, parse_duration

__all__ = ["DurationError", "is_duration", "parse_duration"]
