"""Azure Scheduler's limits (reference §4.1) and cronplane's own bounds, as named constants. Pure.

The plans' defaults and ceilings (jobs per collection, fastest recurrence) are
``model.PLAN_DEFAULTS``. The JSON Schemas repeat the static limits (``maximum``, ``maxLength``)
so that editors show them; ``tests/unit/test_manifest_limits.py`` checks that both agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# -- recurrence (§1.3.6, §4.1) -------------------------------------------------------------------
MAX_INTERVAL = {"month": 18, "week": 78, "day": 548, "hour": 1000, "minute": 1000}
MAX_WEEK_DAYS = 7

# -- job size and HTTP request (§4.1) ------------------------------------------------------------
MAX_JOB_CHARS = 16_000  # a job's serialized definition (JSON of the canonical spec)
MAX_URI_CHARS = 2_048
MAX_HEADERS = 50
MAX_HEADER_CHARS = 4_096  # names + values of all headers together
MAX_BODY_CHARS = 8_192

# -- retries (§1.3.5; the newer documentation's values) ------------------------------------------
MAX_RETRY_COUNT = 20
MIN_RETRY_INTERVAL = timedelta(seconds=15)  # a collection's quota.minRetryInterval may lower it
MAX_RETRY_INTERVAL = timedelta(days=548)  # 18 months

# -- cronplane's bounds (not Azure rules) --------------------------------------------------------
# Instants are stored as UTC epoch seconds and the recurrence engine steps forward from them:
# keep them where that arithmetic cannot overflow.
MIN_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9998, 12, 31, tzinfo=UTC)
MAX_DURATION = timedelta(days=36_500)  # any duration field: 100 years
QUOTA_SAMPLES = 50  # occurrences sampled to measure how often a schedule runs
MAX_PROBLEMS_PER_DOCUMENT = 20  # the rest are summarized in one line
MAX_ANONYMOUS_PROBLEMS = 50  # per file, problems of no job or collection; the rest in one line

# -- evaluation bounds (cronplane): every query of the recurrence engine answers quickly ----------
SEARCH_YEARS = (
    50  # an rrule query looks at most this far ahead, as cronsim does for cron (a longer gap = "no more runs")
)
MAX_ITERATED_COUNT = 10_000  # an rrule COUNT that cannot be computed arithmetically is iterated, up to this
MAX_SUPER_PERIOD_OCCURRENCES = 20_000  # occurrences per repeat cycle when COUNT is computed arithmetically
