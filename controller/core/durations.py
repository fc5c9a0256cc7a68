"""Durations as manifests write them; the parser lives in the worker contract (both sides use it).
Also the operator's short form for suspends (``30m``, ``1h``, ``2d``)."""

from __future__ import annotations

import re
from datetime import timedelta

from worker.contract import DurationError, is_duration, parse_duration

__all__ = ["DurationError", "is_duration", "parse_duration", "suspend_length"]


SHORT_LENGTH = re.compile(r"^(\d{1,6})([smhd])$")


def suspend_length(text: str) -> timedelta:
    """An operator's length of time: ISO 8601 (``PT1H``) or short text (``90s``, ``30m``, ``1h``, ``2d``)."""
    m = SHORT_LENGTH.match(text.strip().lower())
    iso = (f"P{m[1]}D" if m[2] == "d" else f"PT{m[1]}{m[2].upper()}") if m else text
    try:
        return parse_duration(iso)
    except (ValueError, OverflowError):
        raise ValueError(f"{text!r} is not a duration (use PT1H, 30m, 1h or 2d)") from None
