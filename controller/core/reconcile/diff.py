"""How two specs differ (dotted field paths) and how fire times move (one line). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any


def diff_fields(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the fields that differ (``recurrence.schedule.hours``)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            out += diff_fields(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
        return out
    return [] if old == new else [prefix or "spec"]


def summarize(before: Sequence[datetime], after: Sequence[datetime]) -> str:
    """One line on how fire times change, e.g. 'runs move from 05:00 to 06:00 UTC; 4 fewer runs per week'."""
    if not before and not after:
        return "no runs scheduled"
    if not before:
        return f"starts running: first run {after[0]:%Y-%m-%d %H:%M} UTC" + _rate(after)
    if not after:
        return "stops running"
    if list(before) == list(after):
        return "fire times unchanged"
    parts = []
    tb, ta = _times_of_day(before), _times_of_day(after)
    if tb != ta:
        parts.append(f"runs move from {', '.join(tb)} to {', '.join(ta)} UTC")
    else:
        parts.append(f"next run moves from {before[0]:%Y-%m-%d %H:%M} to {after[0]:%Y-%m-%d %H:%M} UTC")
    rb, ra = _per_week(before), _per_week(after)
    if rb is not None and ra is not None and round(rb) != round(ra):
        delta = round(ra) - round(rb)
        parts.append(f"{abs(delta)} {'more' if delta > 0 else 'fewer'} runs per week")
    return "; ".join(parts)


def _times_of_day(runs: Sequence[datetime]) -> list[str]:
    times = sorted({f"{r:%H:%M}" for r in runs})
    return times if len(times) <= 4 else [*times[:3], "..."]


def _per_week(runs: Sequence[datetime]) -> float | None:
    if len(runs) < 2:
        return None
    span = runs[-1] - runs[0]
    return None if span <= timedelta(0) else (len(runs) - 1) * timedelta(weeks=1) / span


def _rate(runs: Sequence[datetime]) -> str:
    per_week = _per_week(runs)
    return "" if per_week is None else f"; about {per_week:.0f} runs per week" if per_week >= 1 else ""
