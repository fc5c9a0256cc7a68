"""Set-level rules: reference §9 D (55-61), plan quotas, duplicates, collections, positions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controller.core.model import Frequency, Recurrence, RecurrenceSchedule, Timing
from controller.core.quota import job_period, load_documents

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def collection(name: str, spec: str) -> str:
    return f"---\napiVersion: cronplane/v1\nkind: JobCollection\nmetadata: {{name: {name}}}\nspec: {spec}\n"


def job(name: str, timing: str = "", collection: str = "", action: str = "") -> str:
    meta = f"{{name: {name}" + (f", collection: {collection}" if collection else "") + "}"
    action = action or "{type: http, request: {method: GET, uri: 'http://example.test/'}}"
    return f"---\napiVersion: cronplane/v1\nkind: Job\nmetadata: {meta}\nspec:\n{timing}  action: {action}\n"


def load(text: str, now: datetime = NOW) -> tuple[list[str], list[str], list[str]]:
    """(problem lines, valid job keys, rejected job keys)."""
    result = load_documents({"m.yaml": text.encode()}, now)
    rejected = sorted({str(p.job) for p in result.problems if p.rejected})
    return [str(p) for p in result.problems], sorted(str(j.key) for j in result.jobs), rejected


def test_55_free_collection_rejects_a_sixth_job() -> None:
    text = collection("tiny", "{plan: free}") + "".join(job(f"j{i}", collection="tiny") for i in range(6))
    found, valid, rejected = load(text)
    assert valid == [f"tiny/j{i}" for i in range(5)] and rejected == ["tiny/j5"]
    assert found == [
        "m.yaml:39:34: metadata.collection: collection tiny allows at most 5 jobs (plan free); this is job 6"
    ]


def test_56_free_collection_allows_hourly_not_every_minute() -> None:
    text = (
        collection("tiny", "{plan: free}")
        + job("minutely", "  recurrence: {frequency: minute, interval: 1}\n", "tiny")
        + job("hourly", "  recurrence: {frequency: hour, interval: 1}\n", "tiny")
    )
    found, valid, rejected = load(text)
    assert valid == ["tiny/hourly"] and rejected == ["tiny/minutely"]
    assert found == [
        "m.yaml:11:15: recurrence: runs every 1 minute but collection tiny allows at most once every 1 hour (plan free)"
    ]


def test_57_quota_max_recurrence_tightens_standard() -> None:
    text = (
        collection("c", "{plan: Standard, quota: {maxRecurrence: {frequency: Hour, interval: 12}}}")
        + job("hourly", "  recurrence: {frequency: hour, interval: 1}\n", "c")
        + job("daily", "  recurrence: {frequency: day, interval: 1}\n", "c")
    )
    found, valid, rejected = load(text)
    assert valid == ["c/daily"] and rejected == ["c/hourly"]
    assert found[0].endswith(
        "runs every 1 hour but collection c allows at most once every 12 hours (quota.maxRecurrence)"
    )


def test_58_job_definition_over_16000_characters() -> None:
    request = f"{{method: POST, uri: 'http://x.test/', body: '{'x' * 8000}'}}"  # each part within its own limit
    action = f"{{type: http, request: {request}, errorAction: {{type: http, request: {request}}}}}"
    found, valid, _ = load(job("big", action=action))
    assert valid == [] and len(found) == 1
    assert found[0].startswith("m.yaml:6:3: spec: the job definition is 16") and found[0].endswith(
        "above the limit of 16000"
    )
    smaller, valid, _ = load(job("big", action=action.replace("x" * 8000, "x" * 7900)))
    assert smaller == [] and valid == ["default/big"]


@pytest.mark.parametrize(
    ("frequency", "top"), [("month", 18), ("week", 78), ("day", 548), ("hour", 1000), ("minute", 1000)]
)
def test_59_interval_maximum_per_frequency(frequency: str, top: int) -> None:
    ok, _, _ = load(job("j", f"  recurrence: {{frequency: {frequency}, interval: {top}}}\n"))
    assert ok == []
    found, _, _ = load(job("j", f"  recurrence: {{frequency: {frequency}, interval: {top + 1}}}\n"))
    assert len(found) == 1 and "recurrence.interval: " in found[0] and "above the maximum of" in found[0]
    zero, _, _ = load(job("j", f"  recurrence: {{frequency: {frequency}, interval: 0}}\n"))
    assert len(zero) == 1 and zero[0].endswith("recurrence.interval: 0 is below the minimum of 1")


@pytest.mark.parametrize(
    ("recurrence", "message"),
    [
        ("{frequency: day, schedule: {weekDays: [monday]}}", "weekDays is allowed only with frequency week (not day)"),
        ("{frequency: week, schedule: {monthDays: [1]}}", "monthDays is allowed only with frequency month (not week)"),
        (
            "{frequency: day, schedule: {monthlyOccurrences: [{day: friday}]}}",
            "monthlyOccurrences is allowed only with frequency month",
        ),
    ],
)
def test_60_schedule_elements_need_their_frequency(recurrence: str, message: str) -> None:
    found, valid, _ = load(job("j", f"  recurrence: {recurrence}\n"))
    assert valid == [] and len(found) == 1 and message in found[0]


@pytest.mark.parametrize(
    ("policy", "ok"),
    [
        ("{retryType: fixed, retryCount: 20}", True),
        ("{retryType: fixed, retryCount: 21}", False),
        ("{retryType: fixed, retryInterval: PT15S}", True),
        ("{retryType: fixed, retryInterval: PT10S}", False),
        ("{retryType: Fixed, retryInterval: '00:00:15', retryCount: 2}", True),
    ],
)
def test_61_retry_count_and_interval(policy: str, ok: bool) -> None:
    action = f"{{type: http, request: {{method: GET, uri: 'http://x.test/'}}, retryPolicy: {policy}}}"
    found, valid, _ = load(job("j", action=action))
    assert (found == [] and valid == ["default/j"]) if ok else (len(found) == 1 and valid == [])


def test_min_retry_interval_lowered_by_the_collection_and_applies_to_error_action() -> None:
    action = (
        "{type: http, request: {method: GET, uri: 'http://x.test/'}, retryPolicy: {retryType: fixed, retryInterval: PT2S},"
        " errorAction: {type: http, request: {method: GET, uri: 'http://x.test/'}, retryPolicy: {retryType: fixed, retryInterval: PT1S}}}"
    )
    fast = collection("fast", "{quota: {minRetryInterval: PT2S}}")
    found, valid, _ = load(fast + job("j", action=action, collection="fast"))
    assert valid == [] and len(found) == 1
    assert "action.errorAction.retryPolicy.retryInterval: PT1S is below the minimum of 2 s" in found[0]


def test_cron_rrule_and_expanding_schedules_are_measured() -> None:
    tiny = collection("tiny", "{plan: free}")
    text = tiny + "".join(
        job(name, timing, "tiny")
        for name, timing in [
            ("cron", "  cron: '*/30 * * * *'\n"),
            ("rrule", "  rrule: FREQ=MINUTELY;INTERVAL=45\n"),
            ("quarters", "  recurrence: {frequency: day, schedule: {minutes: [0, 15, 30, 45]}}\n"),
            ("twice", "  recurrence: {frequency: day, schedule: {hours: [5, 17]}}\n"),
        ]
    )
    found, valid, rejected = load(text)
    assert valid == ["tiny/twice"] and rejected == ["tiny/cron", "tiny/quarters", "tiny/rrule"]
    assert "m.yaml:11:9: cron: runs every 30 minutes" in found[0]


def test_daily_job_across_a_dst_change_is_still_daily() -> None:
    timing = "  timeZone: Europe/Berlin\n  recurrence: {frequency: day, schedule: {hours: [5], minutes: [0]}}\n"
    cron = "  timeZone: Europe/Berlin\n  cron: '0 5 * * *'\n"
    daily = collection("d", "{quota: {maxRecurrence: {frequency: day, interval: 1}}}")
    spring = datetime(2026, 3, 20, tzinfo=UTC)  # the next 50 days include 29 March (23 hours long)
    found, valid, _ = load(daily + job("a", timing, "d") + job("b", cron, "d"), now=spring)
    assert found == [] and valid == ["d/a", "d/b"]


def test_period_is_azure_frequency_times_interval_without_a_schedule() -> None:
    rec = Recurrence(Frequency.WEEK, interval=2, count=1)
    assert job_period(Timing(recurrence=rec), NOW) == timedelta(weeks=2)
    expanding = Recurrence(Frequency.MONTH, schedule=RecurrenceSchedule(month_days=(1, 2)), count=1)
    assert job_period(Timing(recurrence=expanding), NOW) == timedelta(days=1)  # count ignored: the pattern counts
    assert job_period(Timing(), NOW) is None


def test_max_job_occurrence_and_free_plan_authentication() -> None:
    auth = "{type: https, request: {method: GET, uri: 'https://x.test/', authentication: {type: basic, username: u, password: {valueFrom: {env: P}}}}}"
    text = (
        collection("tiny", "{plan: free, quota: {maxJobOccurrence: 3}}")
        + job("counted", "  recurrence: {frequency: day, count: 4}\n", "tiny")
        + job("authed", collection="tiny", action=auth)
    )
    found, _, rejected = load(text)
    assert rejected == ["tiny/authed", "tiny/counted"]
    assert "recurrence.count: 4 is above collection tiny's quota.maxJobOccurrence of 3" in found[0]
    assert "action.request.authentication: the free plan does not allow HTTP authentication" in found[1]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "{plan: standard, quota: {maxJobCount: 60}}",
            "quota.maxJobCount: 60 is above the maximum of 50 for plan standard",
        ),
        (
            "{plan: free, quota: {maxRecurrence: {frequency: minute, interval: 5}}}",
            "quota.maxRecurrence: every 5 minutes is more frequent than plan free allows",
        ),
        ("{quota: {minRetryInterval: PT0S}}", "quota.minRetryInterval: must be longer than zero"),
        ("{plan: gold}", "plan: 'gold' is not one of: free, standard, premium, p10premium, p20premium"),
        (
            "{quota: {maxRecurrence: {frequency: second, interval: 100000}}}",
            "quota.maxRecurrence.interval: 100000 is above the maximum of 1000",
        ),
    ],
)
def test_collection_limits(spec: str, message: str) -> None:
    found, _, _ = load(collection("c", spec))
    assert len(found) == 1 and message in found[0], found


def test_paid_plans_may_opt_into_seconds() -> None:
    demo = collection(
        "demo", "{plan: standard, quota: {maxRecurrence: {frequency: second, interval: 1}, minRetryInterval: PT1S}}"
    )
    found, valid, _ = load(demo + job("fast", "  rrule: FREQ=SECONDLY;INTERVAL=5\n", "demo"))
    assert found == [] and valid == ["demo/fast"]


def test_jobs_of_an_invalid_or_duplicated_collection_wait() -> None:
    text = (
        collection("bad", "{plan: gold}")
        + job("a", collection="bad")
        + collection("twice", "{}")
        + collection("twice", "{}")
    )
    text += job("b", collection="twice") + job("c", collection="nowhere")
    result = load_documents({"m.yaml": text.encode()}, NOW)
    lines = [str(p) for p in result.problems]
    assert result.jobs == [] and result.collections == []
    assert any(
        "bad/a" in str(p.job) and "collection 'bad' is invalid; fix it first" in p.message for p in result.problems
    )
    assert any("collection 'twice' is invalid" in line for line in lines)
    assert sum("duplicate collection twice (also at m.yaml:" in line for line in lines) == 2
    assert any("collection 'nowhere' is not defined" in line for line in lines)


def test_default_collection_needs_no_manifest_and_names_are_per_collection() -> None:
    text = collection("other", "{}") + job("same") + job("same", collection="other") + job("same", collection="default")
    found, valid, _ = load(text)
    assert valid == ["other/same"]
    assert [p.split(": ", 1)[1] for p in found] == [
        "metadata.name: duplicate job default/same (also defined at m.yaml:7)",
        "metadata.name: duplicate job default/same (also defined at m.yaml:19)",
    ]
