"""The pure planner: every write decided in the plan, every problem visible, prune as data,
status derived; and the shared records' codecs round-trip."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.core.quota import load_documents
from controller.core.reconcile.plan import desired_status, job_record, make_plan
from controller.core.reconcile.render import as_json, as_markdown, as_text
from controller.core.reconcile.rows import Action, Desired, Observed, ObservedJob, Plan, PlanOptions, Prune
from worker.contract import ContractError
from worker.records import (
    W_FAULTED_GENERATION,
    CollectionRecord,
    Condition,
    CursorRecord,
    JobRecord,
    JobStatus,
    SyncStatus,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def doc(name: str, cron: str = "0 5 * * *", labels: str = "") -> bytes:
    meta = f"{{name: {name}{', labels: ' + labels if labels else ''}}}"
    return (
        f"apiVersion: cronplane/v1\nkind: Job\nmetadata: {meta}\nspec:\n  cron: '{cron}'\n"
        "  action: {type: http, request: {method: GET, uri: 'http://x/'}}\n"
    ).encode()


def desired(files: Mapping[str, bytes], now: datetime = NOW) -> Desired:
    return Desired(load_documents(files, now))


def applied(files: Mapping[str, bytes], now: datetime = NOW) -> Observed:
    """The store after a clean apply of ``files`` (records and statuses as apply writes them)."""
    plan = make_plan(desired(files, now), Observed(), now)
    jobs = {r.key: ObservedJob(r.record, r.status) for r in plan.jobs if r.record is not None}
    return Observed(jobs)


def rows(plan: Plan) -> dict[str, Action]:
    return {r.key: r.action for r in plan.jobs}


def test_create_decides_every_write() -> None:
    plan = make_plan(desired({"a.yaml": doc("a")}), Observed(), NOW)
    [row] = plan.jobs
    assert row.action is Action.CREATE and row.record is not None and row.record.generation == 1
    assert row.record.created_at == NOW.timestamp() and row.reset_cursor
    assert row.cursor == CursorRecord(1, int((NOW + timedelta(hours=5)).timestamp()), 1, row.cursor.next_runs)
    assert len(row.cursor.next_runs) == 5 and row.after[0] == NOW + timedelta(hours=5)
    assert row.status == SyncStatus(Condition.READY, "", 1, "a.yaml:1", "", {})


def test_unchanged_writes_nothing_and_timing_edit_resets_from_now() -> None:
    files = {"a.yaml": doc("a")}
    observed = applied(files)
    later = NOW + timedelta(days=3)
    same = make_plan(desired(files, later), observed, later)
    assert rows(same) == {"default/a": Action.UNCHANGED} and not same.has_changes
    edited = make_plan(desired({"a.yaml": doc("a", "0 6 * * *")}, later), observed, later)
    [row] = edited.jobs
    assert row.action is Action.UPDATE and row.fields == ("cron",)
    assert row.record is not None and row.record.generation == 2 and row.record.created_at == later.timestamp()
    assert row.reset_cursor and row.cursor is not None and row.cursor.generation == 2
    assert "runs move from 05:00 to 06:00 UTC" in row.summary


def test_action_edit_keeps_the_cursor_and_the_creation_time() -> None:
    observed = applied({"a.yaml": doc("a")})
    changed = doc("a").replace(b"http://x/", b"http://y/")
    [row] = make_plan(desired({"a.yaml": changed}), observed, NOW + timedelta(hours=1)).jobs
    assert row.action is Action.UPDATE and row.fields == ("action.request.uri",)
    assert row.record is not None and row.record.generation == 2 and row.record.created_at == NOW.timestamp()
    assert not row.reset_cursor and row.cursor is None


def test_label_change_and_moved_file_rewrite_the_record_under_the_same_generation() -> None:
    observed = applied({"a.yaml": doc("a")})
    [labelled] = make_plan(desired({"a.yaml": doc("a", labels="{team: pay}")}), observed, NOW).jobs
    assert labelled.action is Action.UPDATE and labelled.fields == ("metadata.labels",)
    assert (
        labelled.record is not None
        and labelled.record.generation == 1
        and dict(labelled.record.labels) == {"team": "pay"}
    )
    assert labelled.status is not None and dict(labelled.status.labels) == {"team": "pay"}
    [moved] = make_plan(desired({"b.yaml": doc("a")}), observed, NOW).jobs
    assert moved.action is Action.UPDATE and moved.record is not None and moved.record.source == "b.yaml:1"
    assert moved.status is not None and moved.status.source == "b.yaml:1" and not moved.reset_cursor


def test_invalid_edit_stalls_and_its_revert_clears_the_status() -> None:
    files = {"a.yaml": doc("a")}
    observed = applied(files)
    [bad] = make_plan(desired({"a.yaml": doc("a", "0 99 * * *")}), observed, NOW).jobs
    assert bad.action is Action.INVALID and bad.record is None and bad.status is not None
    assert bad.status.spec_condition is Condition.STALLED and "a.yaml:5:9" in bad.status.spec_reason
    stalled = Observed({"default/a": ObservedJob(observed.jobs["default/a"].record, bad.status)})
    [fixed] = make_plan(desired(files), stalled, NOW).jobs
    assert fixed.action is Action.UNCHANGED and fixed.record is None
    assert fixed.status is not None and fixed.status.spec_condition is Condition.READY
    assert "status: Stalled -> Ready" in as_text(make_plan(desired(files), stalled, NOW))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"key: [unclosed", "yaml"),
        (b"\xff\xfe not utf-8", "UTF-8"),
        (b"- a\n- list\n", "mapping"),
    ],
)
def test_file_level_problems_appear_in_every_rendering(data: bytes, message: str) -> None:
    plan = make_plan(desired({"a.yaml": doc("a"), "broken.yaml": data}), Observed(), NOW)
    assert plan.has_errors and plan.problems
    for text in (as_text(plan), as_markdown(plan)):
        assert "broken.yaml:" in text
    problems = json.loads(as_json(plan))["problems"]
    assert problems[0]["path"] == "broken.yaml" and message.lower() in problems[0]["message"].lower()


def test_an_unparsable_file_that_held_a_job_keeps_it() -> None:
    observed = applied({"a.yaml": doc("a")})
    plan = make_plan(desired({"a.yaml": b"key: [unclosed"}), observed, NOW)
    [row] = plan.jobs
    assert row.action is Action.INVALID and not row.delete and row.status is not None
    assert row.status.spec_condition is Condition.STALLED and plan.prune.outcome is Prune.NOTHING


def test_quota_rejection_of_a_new_job_is_a_problem_without_writes() -> None:
    files = {f"j{i}.yaml": doc(f"j{i}") for i in range(51)}  # standard plan: 50 jobs
    plan = make_plan(desired(files), Observed(), NOW)
    rejected = plan.of(Action.REJECTED)
    assert [r.key for r in rejected] == ["default/j9"]  # the 51st in file order
    assert not rejected[0].writes and plan.has_errors


@pytest.mark.parametrize(
    ("prune", "kept_files", "allow", "allowance", "outcome", "action"),
    [
        (False, 3, False, False, Prune.NOT_REQUESTED, Action.KEEP),
        (True, 3, False, False, Prune.ALLOWED, Action.DELETE),
        (True, 1, False, False, Prune.BLOCKED_CAP, Action.BLOCKED),
        (True, 1, True, False, Prune.ALLOWED, Action.DELETE),
        (True, 1, False, True, Prune.ALLOWED, Action.DELETE),
        (True, 0, False, False, Prune.BLOCKED_EMPTY, Action.BLOCKED),
    ],
)
def test_prune_decision_is_data(
    prune: bool, kept_files: int, allow: bool, allowance: bool, outcome: Prune, action: Action
) -> None:
    observed = applied({f"j{i}.yaml": doc(f"j{i}") for i in range(4)})
    observed = Observed(observed.jobs, prune_allowance=allowance)
    files = {f"j{i}.yaml": doc(f"j{i}") for i in range(kept_files)}
    plan = make_plan(desired(files), observed, NOW, PlanOptions(prune=prune, allow_mass_delete=allow))
    assert plan.prune.outcome is outcome and plan.prune.uses_allowance == (allowance and outcome is Prune.ALLOWED)
    gone = [r for r in plan.jobs if r.key >= f"default/j{kept_files}"]
    assert {r.action for r in gone} == {action}
    assert all(r.delete == (action is Action.DELETE) for r in gone)
    assert plan.has_errors == plan.prune.blocked


def test_unreadable_source_changes_nothing() -> None:
    observed = applied({"a.yaml": doc("a")})
    plan = make_plan(Desired(load_documents({}, NOW), None, "manifests: no such file"), observed, NOW)
    assert plan.prune.outcome is Prune.BLOCKED_UNREADABLE and not plan.has_changes and plan.has_errors
    assert "manifests: no such file" in as_text(plan)


def test_codecs_round_trip() -> None:
    record = JobRecord("c/j", {"cron": "* * * * *"}, "abc", 3, 1767225600.0, True, "c", "a.yaml:4", "f00", {"a": "b"})
    assert JobRecord.from_redis("c/j", {k.encode(): v.encode() for k, v in record.to_redis().items()}) == record
    cursor = CursorRecord(3, 1767225660, 7, (1767225660, 1767225720))
    assert CursorRecord.from_redis(cursor.to_redis()) == cursor
    done = CursorRecord(3, None, 8)
    assert CursorRecord.from_redis(done.to_redis()) == done and done.done
    status = SyncStatus(Condition.STALLED, "why", 2, "a.yaml:4", "f00", {"a": "b"})
    assert SyncStatus.from_redis(status.to_redis()) == status
    coll = CollectionRecord("c", {"plan": "free"}, "enabled", "free", "c.yaml:1", "")
    assert CollectionRecord.from_redis("c", coll.to_redis()) == coll
    assert JobRecord.from_redis("c/j", {}) is None and CursorRecord.from_redis({}) is None
    with pytest.raises(ContractError):
        JobRecord.from_redis("c/j", {**record.to_redis(), "v": "99"})


def test_condition_is_derived_from_every_side() -> None:
    [job] = load_documents({"a.yaml": doc("a")}, NOW).jobs
    record = job_record(job, generation=2, created_at=NOW, active=True, revision=None)
    ready = desired_status(job, 2, None).to_redis()
    cursor = CursorRecord(2, 1767243600, 1, (1767243600,)).to_redis()
    assert JobStatus.from_redis("default/a", record.to_redis(), cursor, ready).condition is Condition.READY
    done = CursorRecord(2, None, 1).to_redis()
    assert JobStatus.from_redis("default/a", record.to_redis(), done, ready).condition is Condition.COMPLETED
    faulted = {**ready, W_FAULTED_GENERATION: "2"}
    assert JobStatus.from_redis("default/a", record.to_redis(), done, faulted).condition is Condition.FAULTED
    # a new generation (the manifest was edited) clears Faulted
    regen = job_record(job, generation=3, created_at=NOW, active=True, revision=None).to_redis()
    assert JobStatus.from_redis("default/a", regen, cursor, faulted).condition is Condition.READY
    stalled = SyncStatus(Condition.STALLED, "bad", 2, "a.yaml:1", "", {}).to_redis()
    s = JobStatus.from_redis("default/a", record.to_redis(), cursor, stalled)
    assert s.condition is Condition.STALLED and s.reason == "bad" and s.next_runs == (1767243600,)
    off = job_record(job, generation=2, created_at=NOW, active=False, revision=None).to_redis()
    assert JobStatus.from_redis("default/a", off, cursor, ready).condition is Condition.DISABLED
    assert JobStatus.from_redis("default/a", off, cursor, ready).next_runs == ()


EXAMPLES = {p.name: p.read_bytes() for p in (Path(__file__).resolve().parents[2] / "manifests").glob("*.yaml")}


@functools.cache
def _applied_examples() -> Observed:
    return applied(EXAMPLES)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(EXAMPLES)),
    at=st.floats(0, 1),
    cut=st.integers(0, 40),
    junk=st.binary(max_size=12),
)
def test_an_invalid_manifest_never_changes_or_deletes_a_running_job(
    name: str, at: float, cut: int, junk: bytes
) -> None:
    """Mutate one example file (a splice of junk bytes); whatever the result, a job whose own
    document has a problem gets no record write, and no job of a file with a problem is deleted
    (a still-valid document in it may change: that is an edit, shown as one)."""
    observed = _applied_examples()
    data = EXAMPLES[name]
    i = int(at * len(data))
    mutated = {**EXAMPLES, name: data[:i] + junk + data[i + cut :]}
    plan = make_plan(desired(mutated), observed, NOW, PlanOptions(prune=True, prune_cap=1.0))
    broken_files = {p.path for p in plan.problems if p.job is None}
    broken_jobs = {str(p.job) for p in plan.problems if p.job is not None}
    for row in plan.jobs:
        obs = observed.jobs.get(row.key)
        if obs is None:
            continue
        if row.key in broken_jobs:  # its own document is invalid: the last good spec stays
            assert row.record is None and not row.delete, (row, plan.problems)
        if obs.record.source.rsplit(":", 1)[0] in broken_files:  # a broken file never deletes
            assert not row.delete and (row.record is None or row.record.spec == obs.record.spec or row.fields)
    for p in plan.problems:
        assert str(p).startswith(f"{p.path}:{p.line}:{p.column}: ")
