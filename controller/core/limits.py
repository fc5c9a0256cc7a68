"""Azure Scheduler's limits (reference §4.1), as named constants. Pure."""

from __future__ import annotations

MAX_INTERVAL = {"month": 18, "week": 78, "day": 548, "hour": 1000, "minute": 1000}
MAX_JOB_CHARS = 16_000  # a job's serialized definition
MAX_URI_CHARS = 2_048
MAX_HEADERS = 50
MAX_HEADER_CHARS = 4_096
MAX_BODY_CHARS = 8_192
MAX_RETRY_COUNT = 20
MIN_RETRY_SECONDS = 15.0
FREE_PLAN_MAX_JOBS = 5
