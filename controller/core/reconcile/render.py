"""A plan as text (terminals), markdown (pull-request comments) or JSON (tools). Pure.

Every renderer shows the same things: each job row with its problems, every problem that belongs
to no job (a file that cannot be parsed, a broken collection), collection changes, status repairs
and the prune decision, so a review never misses what ``validate`` would report.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from controller.core.reconcile.rows import Action, CollectionRow, JobRow, Plan

SYMBOL = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.DELETE: "-",
    Action.KEEP: "=",
    Action.BLOCKED: "!",
    Action.UNCHANGED: "=",
    Action.INVALID: "!",
    Action.REJECTED: "x",
}
SHOWN_RUNS = 10


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(t: datetime, zone: str) -> str:
    return t.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def headline(plan: Plan) -> str:
    seen = Counter(r.action for r in plan.jobs)
    parts = [f"{seen[a]} {a.value}" for a in Action if seen[a]]
    repairs = len(status_repairs(plan))
    if repairs:
        parts.append(f"{repairs} status update{'s' if repairs > 1 else ''}")
    colls = [c for c in plan.collections if c.writes]
    if colls:
        parts.append(f"{len(colls)} collection change{'s' if len(colls) > 1 else ''}")
    if plan.problems:
        parts.append(f"{len(plan.problems)} problem{'s' if len(plan.problems) > 1 else ''}")
    return ", ".join(parts) or "no jobs"


def status_repairs(plan: Plan) -> list[JobRow]:
    """Rows whose only write is the status (a fixed typo clears Stalled, a new git revision...)."""
    return [r for r in plan.writing_rows() if r.status is not None and r.record is None and not r.delete]


def _detail(r: JobRow, plan: Plan) -> list[str]:
    lines = []
    if r.fields:
        lines.append("changed: " + ", ".join(r.fields))
    lines += [str(p) for p in r.problems]
    if (
        r.status is not None
        and r.status_before is not None
        and r.status.spec_condition != r.status_before.spec_condition
    ):
        lines.append(f"status: {r.status_before.spec_condition.value} -> {r.status.spec_condition.value}")
    if r.action in (Action.CREATE, Action.UPDATE, Action.DELETE, Action.KEEP, Action.BLOCKED) and r.summary:
        lines.append(r.summary)
    return lines


def unattached(plan: Plan) -> list[str]:
    """Problems that belong to no job: file-level and collection problems."""
    return [str(p) for p in plan.problems if p.job is None]


def _title(r: JobRow, plan: Plan) -> str:
    if r.action is Action.KEEP:
        return " (not in the manifests; --prune deletes it)"
    if r.action is Action.BLOCKED:
        return f" (deletion refused: prune {plan.prune.outcome.value})"
    return ""


def _collection_line(c: CollectionRow) -> str:
    fields = f" ({', '.join(c.fields)})" if c.fields else ""
    return f"{SYMBOL[c.action]} collection {c.name}: {c.action.value}{fields}"


def as_text(plan: Plan, verbose: bool = False) -> str:
    """Rows with something to say; ``verbose`` lists unchanged jobs too."""
    out = []
    for c in plan.collections:
        if c.action is not Action.UNCHANGED:
            out.append(_collection_line(c))
    for r in plan.jobs:
        if r.action is Action.UNCHANGED and not verbose and r.status is None:
            continue
        out.append(f"{SYMBOL[r.action]} {r.key}: {r.action.value}{_title(r, plan)}")
        out += [f"    {line}" for line in _detail(r, plan)]
        if r.action in (Action.CREATE, Action.UPDATE) and r.after:
            for before, after in _pairs(r):
                out.append(f"      {before:<22} -> {after}")
    others = unattached(plan)
    if others:
        out.append("! problems outside any job:")
        out += [f"    {p}" for p in others]
    if plan.unreadable:
        out.append(f"! source: {plan.unreadable}")
    if plan.prune.message:
        out.append(f"{'!' if plan.prune.blocked else '='} prune {plan.prune.outcome.value}: {plan.prune.message}")
    out.append(f"Plan: {headline(plan)}.")
    return "\n".join(out)


def _pairs(r: JobRow) -> list[tuple[str, str]]:
    n = max(len(r.before), len(r.after))
    b = [_iso(t) for t in r.before] + ["-"] * (n - len(r.before))
    a = [f"{_iso(t)} ({_local(t, r.zone)})" for t in r.after] + ["-"] * (n - len(r.after))
    return list(zip(b, a, strict=True))[:SHOWN_RUNS]


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def as_markdown(plan: Plan) -> str:
    out = [f"### cronplane plan: {headline(plan)}", ""]
    if plan.unreadable:
        out += [f"> :x: source: {_md(plan.unreadable)}", ""]
    if plan.prune.blocked:
        out += [f"> :warning: prune {plan.prune.outcome.value}: {_md(plan.prune.message)}", ""]
    others = unattached(plan)
    if others:
        out += ["**Problems outside any job**", ""] + [f"- `{_md(p)}`" for p in others] + [""]
    out += ["| | job | change | details |", "|---|---|---|---|"]
    for c in plan.collections:
        if c.action is not Action.UNCHANGED:
            out.append(
                f"| {SYMBOL[c.action]} | collection `{c.name}` | {c.action.value} | {_md(', '.join(c.fields))} |"
            )
    for r in plan.jobs:
        if r.action is not Action.UNCHANGED or r.status is not None:
            details = "<br>".join(_md(line) for line in _detail(r, plan))
            out.append(f"| {SYMBOL[r.action]} | `{r.key}` | {r.action.value}{_md(_title(r, plan))} | {details} |")
    for r in plan.of(Action.CREATE, Action.UPDATE):
        if r.after or r.before:
            out += _fire_table(r)
    return "\n".join(out)


def _fire_table(r: JobRow) -> list[str]:
    out = [
        "",
        f"<details><summary><code>{r.key}</code>: {r.summary}</summary>",
        "",
        f"| before (UTC) | after (UTC) | after ({r.zone}) |",
        "|---|---|---|",
    ]
    n = max(len(r.before), len(r.after))
    for i in range(min(n, SHOWN_RUNS)):
        b = _iso(r.before[i]) if i < len(r.before) else ""
        a = _iso(r.after[i]) if i < len(r.after) else ""
        loc = _local(r.after[i], r.zone) if i < len(r.after) else ""
        out.append(f"| {b} | {a} | {loc} |")
    return [*out, "", "</details>"]


def plan_dict(plan: Plan) -> dict[str, Any]:
    return {
        "summary": headline(plan),
        "prune": {
            "decision": plan.prune.outcome.name.lower(),
            "blocked": plan.prune.blocked,
            "message": plan.prune.message,
            "candidates": plan.prune.candidates,
        },
        "source": {"revision": plan.revision, "error": plan.unreadable},
        "problems": [_problem(p) for p in plan.problems],
        "collections": [
            {"collection": c.name, "action": c.action.value, "writes": c.writes, "fields": list(c.fields)}
            for c in plan.collections
        ],
        "changes": [
            {
                "job": r.key,
                "action": r.action.value,
                "writes": r.writes,
                "fields": list(r.fields),
                "problems": [str(p) for p in r.problems],
                "status": r.status.spec_condition.value if r.status else None,
                "statusBefore": r.status_before.spec_condition.value if r.status_before else None,
                "generation": r.record.generation if r.record else None,
                "cursorReset": r.reset_cursor,
                "summary": r.summary,
                "before": [_iso(t) for t in r.before],
                "after": [_iso(t) for t in r.after],
                "timeZone": r.zone,
            }
            for r in plan.jobs
        ],
    }


def _problem(p: Any) -> dict[str, Any]:
    return {
        "path": p.path,
        "line": p.line,
        "column": p.column,
        "field": p.field,
        "message": p.message,
        "job": str(p.job) if p.job else None,
        "collection": p.collection,
        "rejected": p.rejected,
        "text": str(p),
    }


def as_json(plan: Plan) -> str:
    return json.dumps(plan_dict(plan), indent=2)


RENDERERS: dict[str, Callable[[Plan], str]] = {
    "text": as_text,
    "wide": lambda plan: as_text(plan, verbose=True),  # text, unchanged jobs included
    "markdown": as_markdown,
    "json": as_json,
}
