"""Incremental == full recompute over random edit sequences: the loader (per-collection cross-file
checks, kept parses, the job index) against ``load_documents``, and the planner's row memo
against ``make_plan`` without one, each step applied to an in-memory store."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.core import loader as loader_module
from controller.core.loader import Loader
from controller.core.quota import load_documents
from controller.core.reconcile import plan as plan_module
from controller.core.reconcile.plan import RowMemo, make_plan
from controller.core.reconcile.rows import Desired, Observed, ObservedJob, Plan

NOW = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
COLLECTIONS = ("ops", "web", "default")
NAMES = ("a", "b", "c", "d", "e")
TIMINGS = (
    "startTime: '2026-03-01T00:00:00Z'",
    "startTime: '2026-01-01T00:00:00Z'\n  recurrence: {frequency: hour, interval: 2}",
    "cron: '*/10 * * * *'",
    "recurrence: {frequency: hour, interval: 1, schedule: {minutes: [0, 30]}}",  # 30 min, sampled from now
    "cron: '* * * * * *'",  # invalid
)
DEFINITIONS = (
    "spec: {plan: standard}",
    "spec: {plan: standard, quota: {maxJobCount: 2}}",
    "spec: {plan: free}",  # hourly at most: the every-minute schedule is rejected
    "spec: {plan: standard, state: disabled}",
    "spec: {plan: nonsense}",  # invalid: its jobs wait
)


def job_doc(name: str, collection: str, timing: int, uri: int, disabled: bool) -> str:
    coll = "" if collection == "default" else f", collection: {collection}"
    state = "  state: disabled\n" if disabled else ""
    return (
        f"apiVersion: cronplane/v1\nkind: Job\nmetadata: {{name: {name}{coll}}}\n"
        f"spec:\n  {TIMINGS[timing]}\n{state}"
        f"  action: {{type: http, request: {{method: GET, uri: 'http://127.0.0.1:9/{uri}'}}}}\n"
    )


def coll_doc(name: str, definition: int) -> str:
    return f"apiVersion: cronplane/v1\nkind: JobCollection\nmetadata: {{name: {name}}}\n{DEFINITIONS[definition]}\n"


jobs = st.builds(
    job_doc,
    st.sampled_from(NAMES),
    st.sampled_from(COLLECTIONS),
    st.sampled_from([0, 0, 0, 1, 1, 2, 3, 4]),  # mostly timings whose quota does not read now
    st.integers(0, 2),
    st.booleans(),
)
documents = st.one_of(jobs, st.builds(coll_doc, st.sampled_from(COLLECTIONS[:2]), st.integers(0, len(DEFINITIONS) - 1)))
files = st.one_of(
    st.lists(documents, min_size=1, max_size=3).map(lambda docs: "---\n".join(docs).encode()),
    st.just(b"kind: [\n"),  # unparseable
)
paths = st.sampled_from([f"m/{i}.yaml" for i in range(8)])
edits = st.lists(
    st.one_of(
        st.tuples(st.just("file"), paths, st.one_of(st.none(), files)),
        st.tuples(st.just("tweak"), paths, st.integers(3, 5)),  # the same names, another uri
        st.tuples(st.just("define"), st.sampled_from(["m/c0.yaml", "m/c1.yaml"]), st.integers(0, 4)),
    ),
    min_size=1,
    max_size=4,
)
BASE = {"m/c0.yaml": coll_doc("ops", 0).encode(), "m/c1.yaml": coll_doc("web", 1).encode()}


def apply(observed: Observed, plan: Plan) -> Observed:
    """The store's side of a plan, in memory (unchanged jobs keep their objects, as the store does)."""
    jobs = dict(observed.jobs)
    for row in plan.jobs:
        if row.delete:
            jobs.pop(row.key, None)
            continue
        old = jobs.get(row.key)
        record = row.record or (old.record if old else None)
        if record is not None and (row.record is not None or row.status is not None):
            jobs[row.key] = ObservedJob(record, row.status or (old.status if old else None))
    colls = dict(observed.collections)
    for c in plan.collections:
        if c.delete:
            colls.pop(c.name, None)
        elif c.record is not None:
            colls[c.name] = c.record
    return Observed(jobs, colls, observed.prune_allowance)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(edits, min_size=1, max_size=6), st.lists(st.integers(0, 90), min_size=6, max_size=6))
def test_incremental_load_and_plan_equal_the_full_recompute(steps: list, minutes: list[int]) -> None:
    loader, memo = Loader(), RowMemo()
    current = dict(BASE)
    observed = Observed()
    now = NOW
    for step, advance in zip(steps, minutes, strict=False):
        for kind, path, value in step:
            if kind == "define":
                current[path] = coll_doc("ops" if path == "m/c0.yaml" else "web", value).encode()
            elif kind == "tweak" and path in current:
                current[path] = re.sub(rb"127.0.0.1:9/[0-9]", b"127.0.0.1:9/%d" % value, current[path])
            elif kind == "file" and value is None:
                current.pop(path, None)
            elif kind == "file":
                current[path] = value
        now += timedelta(minutes=advance)
        files = dict(current)
        loaded = loader.load(files, now)
        plain = load_documents(files, now)
        assert loaded == plain
        assert dict(loaded.jobs_by_key()) == {str(j.key): j for j in plain.jobs}
        full = make_plan(Desired(plain), observed, now)
        incremental = make_plan(Desired(loaded), observed, now, None, memo)
        assert incremental == full
        assert list(incremental.writing_rows()) == [r for r in full.jobs if r.writes]
        observed = apply(observed, full)
        # a pass right after the apply (nothing changed on disk): still the full plan's answer
        assert make_plan(Desired(loader.load(files, now)), observed, now, None, memo) == make_plan(
            Desired(load_documents(files, now)), observed, now
        )


def test_the_rebuilt_lists_equal_the_spliced_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past a thousand added or removed files (keys) the loader and the planner rebuild their
    ordered lists instead of splicing them: the same answers."""
    monkeypatch.setattr(loader_module, "REORDER_INSERTS", 0)
    monkeypatch.setattr(plan_module, "REBUILD", 0)
    loader, memo, observed = Loader(), RowMemo(), Observed()
    current = dict(BASE)
    for i in range(6):
        current[f"m/{i}.yaml"] = job_doc(NAMES[i % 5], COLLECTIONS[i % 3], i % 4, i % 3, i == 2).encode()
        if i == 4:
            del current["m/1.yaml"]
        loaded = loader.load(dict(current), NOW)
        assert loaded == load_documents(current, NOW)
        full = make_plan(Desired(loaded), observed, NOW)
        assert make_plan(Desired(loaded), observed, NOW, None, memo) == full
        observed = apply(observed, full)


def test_an_edit_among_many_checks_only_the_edited_job() -> None:
    """The per-collection cross-file checks: an edit that keeps the names in place re-checks that
    job only; a job added to a collection re-checks that collection only."""
    files = {"m/c0.yaml": coll_doc("ops", 0).encode(), "m/c1.yaml": coll_doc("web", 0).encode()}
    for i in range(40):
        collection = "ops" if i < 20 else "web"
        files[f"m/j{i:02d}.yaml"] = job_doc(f"j{i}", collection, 0, 0, False).encode()
    loader = Loader()
    loader.load(files, NOW)
    assert loader.checked == 40
    files["m/j03.yaml"] = job_doc("j3", "ops", 0, 1, False).encode()
    loader.load(dict(files), NOW)
    assert loader.checked == 41
    files["m/j99.yaml"] = job_doc("new", "web", 0, 0, False).encode()
    assert loader.load(dict(files), NOW) == load_documents(files, NOW)
    assert loader.checked == 42  # web re-checked: its other jobs' findings come from the memo


def test_an_edited_job_keeps_its_number_in_the_collection() -> None:
    files = {"m/c1.yaml": coll_doc("web", 1).encode()}  # at most 2 jobs
    for i in range(4):
        files[f"m/j{i}.yaml"] = job_doc(f"j{i}", "web", 0, 0, False).encode()
    loader = Loader()
    loader.load(files, NOW)
    for i in range(4):
        files[f"m/j{i}.yaml"] = job_doc(f"j{i}", "web", 1, 1, False).encode()
        checked = loader.checked
        assert loader.load(dict(files), NOW) == load_documents(files, NOW)
        assert loader.checked == checked + 1


def test_a_collection_disabled_and_enabled_again_replans_its_unchanged_jobs() -> None:
    loader, memo, observed = Loader(), RowMemo(), Observed()
    files = {**BASE, "m/1.yaml": job_doc("a", "ops", 0, 0, False).encode()}
    for definition in (0, 0, 3, 3, 0):
        files["m/c0.yaml"] = coll_doc("ops", definition).encode()
        full = make_plan(Desired(load_documents(files, NOW)), observed, NOW)
        assert make_plan(Desired(loader.load(dict(files), NOW)), observed, NOW, None, memo) == full
        observed = apply(observed, full)


def test_a_load_that_fails_half_way_leaves_no_half_update(monkeypatch: pytest.MonkeyPatch) -> None:
    loader = Loader()
    files = {**BASE, "m/1.yaml": job_doc("a", "ops", 0, 0, False).encode()}
    loader.load(dict(files), NOW)
    files["m/2.yaml"] = job_doc("b", "ops", 0, 0, False).encode()

    def boom(*args: object) -> list[object]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(loader_module, "_job_quota", boom)
    with pytest.raises(RuntimeError):
        loader.load(dict(files), NOW)
    monkeypatch.undo()
    assert loader.load(dict(files), NOW, hint=set()) == load_documents(files, NOW)
