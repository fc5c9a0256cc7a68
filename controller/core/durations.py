"""Durations as manifests write them: ISO 8601 (``PT30S``, ``P1D``) or .NET TimeSpan text.

Azure's documents use ISO 8601 while its wire format used TimeSpan text (``00:01:00``,
``1.00:00:00``); both are accepted (reference §1.3.5). ISO parsing is isodate's; calendar units
(years, months) count as 365 and 30 days, because a retry interval is a length, not a date.
"""

from __future__ import annotations

import re
from datetime import timedelta

import isodate

_TIMESPAN = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2}(?:\.\d+)?)$")


class DurationError(ValueError):
    """The text is neither an ISO 8601 duration nor TimeSpan text."""


def parse_duration(text: str) -> timedelta:
    value = text.strip()
    if m := _TIMESPAN.match(value):
        return timedelta(days=int(m["days"] or 0), hours=int(m["h"]), minutes=int(m["m"]), seconds=float(m["s"]))
    try:
        parsed = isodate.parse_duration(value)
    except (isodate.ISO8601Error, ValueError) as e:
        raise DurationError(f"{text!r} is not a duration (use ISO 8601 like PT30S, or hh:mm:ss)") from e
    if isinstance(parsed, isodate.Duration):
        return timedelta(days=365 * float(parsed.years) + 30 * float(parsed.months)) + parsed.tdelta
    return parsed


def is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except DurationError:
        return False
    return True
