"""Cost follows change, and the answers stay the same: the loader's parse memo and the planner's
row memo give exactly what the plain functions give, over sequences of edits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controller.core import normalize, schemas
from controller.core.loader import Loader
from controller.core.quota import load_documents
from controller.core.reconcile.plan import RowMemo, make_plan
from controller.core.reconcile.rows import Action, Desired, Observed, ObservedJob, Plan

NOW = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)


def coll(name: str = "ops", extra: str = "") -> bytes:
    return f"apiVersion: cronplane/v1\nkind: JobCollection\nmetadata: {{name: {name}}}\nspec: {{plan: standard{extra}}}\n".encode()


def job(name: str, cron: str = "*/10 * * * *", uri: str = "http://127.0.0.1:9/x", state: str = "") -> bytes:
    state_line = f"  state: {state}\n" if state else ""
    return (
        f"apiVersion: cronplane/v1\nkind: Job\nmetadata: {{name: {name}, collection: ops}}\n"
        f"spec:\n  cron: '{cron}'\n{state_line}  action: {{type: http, request: {{method: GET, uri: '{uri}'}}}}\n"
    ).encode()


def test_an_unchanged_file_is_not_parsed_again() -> None:
    files = {"c.yaml": coll(), **{f"{i}.yaml": job(f"j{i}") for i in range(20)}}
    loader = Loader()
    loader.load(files, NOW)
    assert loader.parses == 21
    loader.load(dict(files), NOW)
    assert loader.parses == 21  # same bytes: nothing parsed
    loader.load({**files, "3.yaml": bytes(job("j3"))}, NOW)  # equal content, another object
    assert loader.parses == 21
    loader.load({**files, "3.yaml": job("j3", uri="http://127.0.0.1:9/y")}, NOW)
    assert loader.parses == 22  # only the edited file


def test_the_loader_answers_what_load_documents_answers() -> None:
    """Including cross-file problems whose line:column come from a kept (position-less) parse."""
    base = {"c.yaml": coll(extra=", quota: {maxJobCount: 3}"), **{f"{i}.yaml": job(f"j{i}") for i in range(5)}}
    steps = [
        base,
        base,
        {**base, "1.yaml": job("j1", cron="* * * * * *")},  # invalid
        {**base, "9.yaml": job("j0")},  # a duplicate, in a new file
        {k: v for k, v in base.items() if k != "2.yaml"},
        {**base, "c.yaml": coll()},  # the collection changes: every job's quota again
        base,
    ]
    loader = Loader()
    for i, files in enumerate(steps):
        now = NOW + timedelta(minutes=7 * i)
        assert loader.load(files, now) == load_documents(files, now), i
    assert any(p.rejected for p in loader.load(base, NOW).problems)  # the quota was exercised


def _apply(observed: Observed, plan: Plan) -> Observed:
    """The store's side of a plan, in memory: records written, status sides written, deletions."""
    jobs = dict(observed.jobs)
    for row in plan.jobs:
        if row.delete:
            jobs.pop(row.key, None)
            continue
        old = jobs.get(row.key)
        record = row.record or (old.record if old else None)
        if record is not None and (row.record is not None or row.status is not None):
            jobs[row.key] = ObservedJob(record, row.status or (old.status if old else None))
    return Observed(jobs, observed.collections, observed.prune_allowance)


def test_a_memoized_plan_equals_the_full_plan_over_edits() -> None:
    base = {"c.yaml": coll(), **{f"{i}.yaml": job(f"j{i}") for i in range(8)}}
    steps = [
        base,
        base,
        {**base, "2.yaml": job("j2", cron="*/15 * * * *")},  # timing edit
        {**base, "3.yaml": job("j3", uri="http://127.0.0.1:9/z")},  # action edit
        {**base, "4.yaml": b"kind: [\n"},  # unparseable: held
        {**base, "5.yaml": job("j5", state="disabled")},
        {k: v for k, v in base.items() if k != "6.yaml"},  # gone: deleted
        {**base, "c.yaml": coll().replace(b"plan: standard", b"plan: standard, state: disabled")},
        base,
        base,
    ]
    loader, memo = Loader(), RowMemo()
    observed = Observed()
    for i, files in enumerate(steps):
        now = NOW + timedelta(minutes=3 * i)
        desired = Desired(loader.load(files, now))
        plain = make_plan(Desired(load_documents(files, now)), observed, now)
        memoized = make_plan(desired, observed, now, None, memo)
        assert memoized == plain, i
        observed = _apply(observed, memoized)
    assert memo.hits > 0
    final = make_plan(Desired(loader.load(base, NOW)), observed, NOW, None, memo)
    assert {r.action for r in final.jobs} <= {Action.UNCHANGED, Action.CREATE}
    later = NOW + timedelta(hours=1)
    again = make_plan(Desired(loader.load(dict(base), later)), observed, later, None, memo)
    assert again == final == make_plan(Desired(load_documents(base, later)), observed, later)


def test_a_load_that_read_now_is_handed_out_again_only_while_it_holds() -> None:
    """A job whose quota period is sampled from ``now`` (a cron) keeps its findings until the first
    sampled occurrence (00:10 from 00:05), then is checked again."""
    files = {"c.yaml": coll(), "a.yaml": job("a")}
    loader = Loader()
    first = loader.load(files, NOW)
    checked = loader.checked
    assert loader.load(files, NOW + timedelta(minutes=1)) is first
    later = loader.load(files, NOW + timedelta(minutes=6))
    assert later is not first and later == load_documents(files, NOW + timedelta(minutes=6))
    assert loader.checked == checked + 1
    one_time = {
        "c.yaml": coll(),
        "b.yaml": job("b").replace(b"  cron: '*/10 * * * *'\n", b"  startTime: '2026-02-01T00:00:00Z'\n"),
    }
    kept = loader.load(one_time, NOW)
    later = NOW + timedelta(days=1)
    assert loader.load(dict(one_time), later) is kept
    # and the planner then hands out its last plan, which is the full plan's answer at any now
    memo, observed = RowMemo(), Observed()
    observed = _apply(observed, make_plan(Desired(kept), observed, NOW, None, memo))
    first = make_plan(Desired(kept), observed, NOW, None, memo)
    assert make_plan(Desired(loader.load(one_time, later)), observed, later, None, memo) is first
    assert first == make_plan(Desired(load_documents(one_time, later)), observed, later)


def test_the_compiled_schema_walk_equals_the_plain_one() -> None:
    documents = [
        {
            "apiVersion": "cronplane/v1",
            "kind": "Job",
            "metadata": {"name": "a"},
            "spec": {
                "Recurrence": {"frequency": "Week", "schedule": {"weekDays": "Monday", "Minutes": 5}},
                "action": {
                    "type": "Https",
                    "request": {
                        "method": "post",
                        "uri": "https://x",
                        "authentication": {"type": "ClientCertificate", "pfx": {"valueFrom": {"env": "P"}}},
                    },
                },
            },
        },
        {
            "apiVersion": "cronplane/v1",
            "kind": "Job",
            "metadata": {"name": "b"},
            "spec": {
                "cron": "* * * * *",
                "retryPolicy": {"retryType": "FIXED", "retryInterval": "PT30S"},
                "action": {
                    "type": "storageQueue",
                    "queueMessage": {
                        "storageAccount": "a",
                        "queueName": "q",
                        "sasToken": {"valueFrom": {"file": "/x"}},
                        "message": "m",
                    },
                },
            },
        },
        {"apiVersion": "cronplane/v1", "kind": "Job", "metadata": {"name": "c"}, "spec": [1, {"a": None}]},
    ]
    schema = schemas.load_schemas()["Job"]
    for doc in documents:
        folded = normalize.normalize(doc, schema, schema)
        assert folded == normalize._normalize_plain(doc, schema, schema)
        assert normalize.typed_locations(folded, schema, schema) == normalize._typed_plain(folded, schema, schema)


def test_the_fast_validator_never_accepts_what_jsonschema_refuses() -> None:
    schema = schemas.load_schemas()["Job"]
    good = {
        "apiVersion": "cronplane/v1",
        "kind": "Job",
        "metadata": {"name": "a"},
        "spec": {"cron": "* * * * *", "action": {"type": "http", "request": {"method": "GET", "uri": "http://x"}}},
    }
    variants = [good]
    for path, value in [
        (("metadata", "name"), "Bad_Name"),
        (("metadata", "name"), "a\n"),  # `$` before a trailing newline: jsonschema accepts, fastjsonschema refuses
        (("spec", "cron"), 5),
        (("spec", "retryPolicy"), {"retryType": "fixed", "retryCount": True}),
        (("spec", "retryPolicy"), {"retryType": "fixed", "retryCount": 2.0}),
        (("spec", "action", "request", "headers"), {"X$y": "1"}),
        (("spec", "action", "request", "headers"), {"X-y": "a\nb"}),
        (("spec", "startTime"), "2026-01-01T00:00:00Z\n"),
    ]:
        doc = normalize.normalize(_with(good, path, value), schema, schema)
        variants.append(doc)
    for doc in variants:
        assert schemas.is_valid("Job", doc) == schemas.validator("Job").is_valid(doc), doc


def _with(doc: dict, path: tuple[str, ...], value: object) -> dict:
    import copy

    out = copy.deepcopy(doc)
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out
