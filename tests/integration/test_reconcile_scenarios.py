"""Plan, then apply (or a controller pass), on a real redis-server: what is written to Redis and
shown by ``cronplane status`` is exactly what the plan printed, and the exit codes are the
documented ones (README, "plan, apply and status": 0 no change · 1 problems · 2 changes)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from controller.cli import main
from controller.state.keys import ControllerKeys
from worker.records import SYNC_FIELDS, decode_hash

KEYS = ControllerKeys()
NOW = "2026-01-01T00:05:00Z"
LATER = "2026-01-01T00:07:00Z"


def coll(plan: str = "standard") -> str:
    return f"apiVersion: cronplane/v1\nkind: JobCollection\nmetadata: {{name: ops}}\nspec: {{plan: {plan}}}\n"


def job(name: str, cron: str = "*/10 * * * *", uri: str = "http://127.0.0.1:9/x", labels: str = "") -> str:
    meta = f"{{name: {name}, collection: ops{', labels: ' + labels if labels else ''}}}"
    return (
        f"---\napiVersion: cronplane/v1\nkind: Job\nmetadata: {meta}\n"
        f"spec:\n  cron: '{cron}'\n  action: {{type: http, request: {{method: GET, uri: '{uri}'}}}}\n"
    )


FOUR = {"coll.yaml": coll(), **{f"{n}.yaml": job(n) for n in "abcd"}}


@dataclass
class Case:
    name: str
    base: dict[str, str]
    files: dict[str, str]
    plan_exit: int  # plan --detailed-exitcode
    apply_exit: int
    prune: bool = False
    expect: dict[str, str] = field(default_factory=dict)  # job -> action in the plan
    base_extra: dict[str, str] | None = None  # a second apply before the change (e.g. an invalid edit)
    apply_only: bool = False  # the controller always prunes: the case is "delete with prune" there


CASES = [
    Case("create", {"coll.yaml": coll()}, {"coll.yaml": coll(), "a.yaml": job("a")}, 2, 0, expect={"ops/a": "created"}),
    Case("timing edit", FOUR, {**FOUR, "a.yaml": job("a", "*/15 * * * *")}, 2, 0, expect={"ops/a": "updated"}),
    Case(
        "action edit", FOUR, {**FOUR, "a.yaml": job("a", uri="http://127.0.0.1:9/y")}, 2, 0, expect={"ops/a": "updated"}
    ),
    Case(
        "rename",
        FOUR,
        {**FOUR, "a.yaml": job("z")},
        2,
        0,
        prune=True,
        expect={"ops/a": "deleted", "ops/z": "created"},
    ),
    Case("label change", FOUR, {**FOUR, "a.yaml": job("a", labels="{team: pay}")}, 2, 0, expect={"ops/a": "updated"}),
    Case("moved file", FOUR, {**{k: v for k, v in FOUR.items() if k != "a.yaml"}, "sub/a2.yaml": job("a")}, 2, 0),
    Case(
        "delete without prune",
        FOUR,
        {k: v for k, v in FOUR.items() if k != "a.yaml"},
        0,
        0,
        expect={"ops/a": "kept"},
        apply_only=True,
    ),
    Case(
        "delete with prune",
        FOUR,
        {k: v for k, v in FOUR.items() if k != "a.yaml"},
        2,
        0,
        prune=True,
        expect={"ops/a": "deleted"},
    ),
    Case(
        "prune over the cap",
        FOUR,
        {k: v for k, v in FOUR.items() if k not in ("a.yaml", "b.yaml")},
        1,
        1,
        prune=True,
        expect={"ops/a": "blocked", "ops/b": "blocked"},
    ),
    Case("invalid edit", FOUR, {**FOUR, "a.yaml": job("a", "0 99 * * *")}, 1, 1, expect={"ops/a": "invalid"}),
    Case(
        "revert of an invalid edit",
        FOUR,
        FOUR,
        2,
        0,
        base_extra={**FOUR, "a.yaml": job("a", "0 99 * * *")},
        expect={"ops/a": "unchanged"},
    ),
    Case("new unparsable file", FOUR, {**FOUR, "new.yaml": "key: [unclosed"}, 1, 1),
    Case(
        "unparsable file that held a job", FOUR, {**FOUR, "a.yaml": "key: [unclosed"}, 1, 1, expect={"ops/a": "invalid"}
    ),
    Case("collection plan change", FOUR, {**FOUR, "coll.yaml": coll("premium")}, 2, 0),
    Case(
        "quota rejection",
        {"coll.yaml": coll("free")},
        {"coll.yaml": coll("free"), **{f"j{i}.yaml": job(f"j{i}", "0 * * * *") for i in range(6)}},
        1,
        1,
        expect={"ops/j5": "rejected", "ops/j0": "created"},
    ),
]


def write_tree(root: Path, files: dict[str, str]) -> None:
    for old in root.rglob("*.yaml"):
        old.unlink()
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def cli(capsys: Any, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().out


def snapshot(r: redis.Redis) -> dict[str, Any]:
    """Every job's record, cursor and sync-side status, and every collection record."""
    out: dict[str, Any] = {}
    for name in sorted(m.decode() for m in r.smembers(KEYS.jobs())):
        status = decode_hash(r.hgetall(KEYS.status(name)))
        out[name] = (
            decode_hash(r.hgetall(KEYS.job(name))),
            decode_hash(r.hgetall(KEYS.cursor(name))),
            {f: status.get(f) for f in SYNC_FIELDS},
        )
    for name in sorted(m.decode() for m in r.smembers(KEYS.collections())):
        out[f"collection:{name}"] = decode_hash(r.hgetall(KEYS.collection(name)))
    return out


RUNS = [(c, m) for c in CASES for m in ("apply", "controller") if not (c.apply_only and m == "controller")]


@pytest.mark.parametrize(("case", "mode"), RUNS, ids=[f"{c.name}-{m}" for c, m in RUNS])
def test_what_is_written_is_what_the_plan_printed(
    case: Case, mode: str, redis_url: str, tmp_path: Path, capsys: Any
) -> None:
    root = tmp_path / "m"
    root.mkdir()
    r = redis.Redis.from_url(redis_url)
    url = ("--redis-url", redis_url)
    for base in filter(None, (case.base, case.base_extra)):
        write_tree(root, base)
        main(["apply", str(root), *url, "--now", NOW])
    write_tree(root, case.files)
    prune = mode == "controller" or case.prune  # the controller always prunes (within the cap)
    flags = ["--prune"] if prune else []
    code, out = cli(capsys, "plan", str(root), *url, "--now", LATER, "-o", "json", "--detailed-exitcode", *flags)
    plan = json.loads(out)
    assert code == case.plan_exit, out
    assert {
        k: v for k, v in {c["job"]: c["action"] for c in plan["changes"]}.items() if k in case.expect
    } == case.expect
    before = snapshot(r)
    if mode == "apply":
        code, out = cli(capsys, "apply", str(root), *url, "--now", LATER, "-o", "json", *flags)
        assert code == case.apply_exit, out
        assert json.loads(out)["changes"] == plan["changes"]  # apply printed the plan it was shown
    else:
        code, out = cli(capsys, "controller", "--manifests", str(root), "--once", "--now", LATER, *url)
        assert code == (1 if case.plan_exit == 1 else 0), out
    after = snapshot(r)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    planned = {c["job"] for c in plan["changes"] if c["writes"]}
    planned |= {f"collection:{c['collection']}" for c in plan["collections"] if c["writes"]}
    assert changed == planned
    _status_matches(capsys, url, plan, after)


def _status_matches(capsys: Any, url: tuple[str, str], plan: dict[str, Any], after: dict[str, Any]) -> None:
    code, out = cli(capsys, "status", "-o", "json", *url)
    status = json.loads(out)
    assert code == 0 and set(status["jobs"]) == {k for k in after if not k.startswith("collection:")}
    for c in plan["changes"]:
        if c["action"] == "deleted":
            assert c["job"] not in status["jobs"]
        elif c["status"] is not None:
            assert status["jobs"][c["job"]]["condition"] == c["status"]
        if c["generation"] is not None:
            assert status["jobs"][c["job"]]["generation"] == c["generation"]
        if c["job"] not in status["jobs"] and c["problems"]:
            assert status["neverApplied"][c["job"]] == c["problems"]
    unattached = [p["text"] for p in plan["problems"] if p["job"] is None]
    assert status["problems"] == unattached
    assert status["sync"]["problemCount"] == len(plan["problems"])
    assert status["sync"]["result"] == ("problems" if plan["problems"] or plan["prune"]["blocked"] else "ok")
