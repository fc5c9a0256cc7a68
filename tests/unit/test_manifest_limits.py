"""The schemas' static limits and ``controller.core.limits`` say the same thing (reference §4.1)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from controller.core import limits, model
from controller.core.schemas import load_schemas


def defs(kind: str = "Job") -> dict[str, Any]:
    return load_schemas()[kind]["$defs"]


def test_request_limits() -> None:
    request = defs()["request"]["properties"]
    assert request["uri"]["maxLength"] == limits.MAX_URI_CHARS == 2048
    assert request["headers"]["maxProperties"] == limits.MAX_HEADERS == 50
    assert request["body"]["maxLength"] == limits.MAX_BODY_CHARS == 8192


def test_recurrence_and_retry_limits() -> None:
    assert defs()["recurrence"]["properties"]["interval"]["maximum"] == max(limits.MAX_INTERVAL.values())
    assert defs()["schedule"]["properties"]["weekDays"]["maxItems"] == limits.MAX_WEEK_DAYS
    assert defs()["retryPolicy"]["properties"]["retryCount"]["maximum"] == limits.MAX_RETRY_COUNT == 20
    assert limits.MIN_RETRY_INTERVAL == model.DEFAULT_MIN_RETRY_INTERVAL == timedelta(seconds=15)


def test_both_schemas_define_names_and_durations_alike() -> None:
    for key in ("name", "duration"):
        assert defs()[key] == defs("JobCollection")[key], key
