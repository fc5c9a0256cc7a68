"""Differential tests: cron against cronsim, rrule against python-dateutil from the original DTSTART.

Seeded random inputs, a few thousand cron expressions and some hundreds of rules, so `make test`
stays within seconds; ``CRONPLANE_DIFF_SCALE=10`` (or ``make bench``) runs ten times as many.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta

import pytest
from cronsim import CronSim
from dateutil import rrule as du

from controller.core.limits import SEARCH_YEARS
from controller.core.model import Timing
from controller.core.recurrence import Schedule
from controller.core.timingcheck import timing_errors

SCALE = int(os.environ.get("CRONPLANE_DIFF_SCALE", "1"))
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def _item(rng: random.Random, lo: int, hi: int, names: list[str] | None) -> str:
    def num() -> str:
        n = rng.randint(lo, hi)
        if names and rng.random() < 0.3:
            return names[(n - lo) % len(names)]
        return str(n)

    kind = rng.choice(["*", "*/n", "n", "a-b", "a-b/n", "n/n", "list"])
    if kind == "*":
        return "*"
    if kind == "*/n":
        return f"*/{rng.randint(1, max(2, hi - lo))}"
    if kind == "n":
        return num()
    a, b = sorted(rng.sample(range(lo, hi + 1), 2))
    if kind == "a-b":
        return f"{a}-{b}"
    if kind == "a-b/n":
        return f"{a}-{b}/{rng.randint(1, 5)}"
    if kind == "n/n":
        return f"{a}/{rng.randint(1, 10)}"
    return ",".join(sorted({num() for _ in range(rng.randint(2, 4))}))


def random_cron(rng: random.Random) -> str:
    minute = rng.choice(["0", "*/15", "30", _item(rng, 0, 59, None)])
    hour = rng.choice(["*", "9", _item(rng, 0, 23, None)])
    dom = rng.choice(["*", "*", _item(rng, 1, 31, None), "L"])
    month = rng.choice(["*", "*", _item(rng, 1, 12, MONTHS)])
    dow = rng.choice(["*", "*", _item(rng, 0, 7, DAYS), "MON#2", "5L"])
    return f"{minute} {hour} {dom} {month} {dow}"


def cronsim_runs(expr: str, start: datetime, n: int) -> list[datetime] | None:
    try:
        it = CronSim(expr, start.replace(tzinfo=None) - timedelta(seconds=1))
    except Exception:
        return None
    out: list[datetime] = []
    for _ in range(n):
        try:
            out.append(next(it).replace(tzinfo=UTC))
        except StopIteration:
            break
    return out


@pytest.mark.timeout(600)
def test_cron_matches_cronsim_on_random_expressions() -> None:
    rng = random.Random(20261202)
    compared = 0
    for _ in range(2000 * SCALE):
        expr = random_cron(rng)
        start = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 40 * 525_600))
        expected = cronsim_runs(expr, start, 4)
        if not expected:
            continue  # refused by cronsim (and by cronplane: tests/unit/test_schedule_edges.py)
        timing = Timing.from_dict({"cron": expr, "startTime": start.isoformat()})
        got = [o.at for o in Schedule(timing, start).upcoming(4)]
        assert got == expected[: len(got)] and len(got) >= min(4, len(expected)), (expr, start)
        compared += 1
    assert compared > 1500 * SCALE


FREQS = ["SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"]
SPAN = {  # how far --now may lie after DTSTART, per FREQ (dateutil's own iteration must stay fast)
    "SECONDLY": timedelta(hours=6),
    "MINUTELY": timedelta(days=5),
    "HOURLY": timedelta(days=200),
    "DAILY": timedelta(days=3000),
    "WEEKLY": timedelta(days=8000),
    "MONTHLY": timedelta(days=20000),
    "YEARLY": timedelta(days=30000),
}
HORIZON_YEARS = SEARCH_YEARS - 1  # cronplane searches SEARCH_YEARS from a query's start
WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def random_rule(rng: random.Random) -> tuple[str, str]:
    freq = rng.choice(FREQS)
    parts = [f"FREQ={freq}", f"INTERVAL={rng.choice([1, 1, 2, 3, 5, 7])}"]

    def some(values: list[str], k: int) -> str:
        return ",".join(rng.sample(values, rng.randint(1, k)))

    if rng.random() < 0.5:
        days = WEEKDAYS if freq not in ("MONTHLY", "YEARLY") or rng.random() < 0.5 else ["1MO", "-1FR", "2TU", "SU"]
        parts.append("BYDAY=" + some(days, 3))
    if freq in ("MONTHLY", "YEARLY") and rng.random() < 0.4:
        parts.append("BYMONTHDAY=" + some(["1", "15", "28", "31", "-1"], 2))
    if rng.random() < 0.2:
        parts.append("BYMONTH=" + some([str(m) for m in range(1, 13)], 4))
    if rng.random() < 0.5:
        parts.append("BYHOUR=" + some([str(h) for h in range(24)], 3))
    if rng.random() < 0.6:
        parts.append("BYMINUTE=" + some([str(m) for m in range(0, 60, 5)], 3))
    if rng.random() < 0.6:
        parts.append("BYSECOND=" + some(["0", "15", "30"], 2))
    if rng.random() < 0.25:
        parts.append("BYSETPOS=" + rng.choice(["1", "-1", "2", "1,-1"]))
    if freq == "WEEKLY" and rng.random() < 0.3:
        parts.append("WKST=" + rng.choice(WEEKDAYS))
    limit = rng.random()
    if limit < 0.25:
        parts.append(f"COUNT={rng.choice([1, 3, 10, 100, 1000, 50_000])}")
    return freq, ";".join(parts)


def dateutil_runs(text: str, dtstart: datetime, now: datetime, n: int) -> list[datetime]:
    """dateutil's own answer, iterating from DTSTART; within cronplane's search horizon only."""
    rule = du.rrulestr(text, dtstart=dtstart, cache=False, ignoretz=True)
    horizon = now.replace(year=now.year + HORIZON_YEARS, day=min(now.day, 28))
    bounded = rule.replace(until=horizon if rule._until is None else min(rule._until, horizon))
    if rule._count is not None:  # dateutil applies COUNT from DTSTART; keep it, bounded in time
        bounded = du.rrule(**{**_kwargs(rule), "until": bounded._until})
    return [w.replace(tzinfo=UTC) for w in bounded.xafter(now, count=n, inc=True)]


def _kwargs(rule: du.rrule) -> dict[str, object]:
    return {
        "freq": rule._freq,
        "dtstart": rule._dtstart,
        "interval": rule._interval,
        "wkst": rule._wkst,
        "count": rule._count,
        **rule._original_rule,
    }


@pytest.mark.timeout(600)
@pytest.mark.filterwarnings("ignore:Using both 'count' and 'until':DeprecationWarning")
@pytest.mark.parametrize("seed", range(4))
def test_rrule_matches_dateutil_from_the_original_dtstart(seed: int) -> None:
    rng = random.Random(seed)
    compared = 0
    for _ in range(100 * SCALE):
        freq, text = random_rule(rng)
        start = datetime(2001, 1, 1) + timedelta(seconds=rng.randint(0, 30 * 365 * 86400))
        now = start + timedelta(seconds=rng.randint(0, int(SPAN[freq].total_seconds())))
        timing = Timing.from_dict({"rrule": text, "startTime": start.isoformat()})
        if timing_errors(timing):
            continue  # refused by validate (never fires, COUNT too costly, or dateutil refuses it)
        expected = dateutil_runs(text, start, now.replace(tzinfo=None), 4)
        horizon = now.replace(year=now.year + HORIZON_YEARS, day=min(now.day, 28), tzinfo=UTC)
        got = [o.at for o in Schedule(timing, now.replace(tzinfo=UTC)).upcoming(4) if o.at <= horizon]
        assert got == expected, (text, start, now)
        compared += 1
    assert compared > 60 * SCALE
