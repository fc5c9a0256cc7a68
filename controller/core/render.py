"""A plan as text (terminals), markdown (pull-request comments) or JSON (tools). Pure."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from controller.core.plan import CREATED, DELETED, INVALID, REJECTED, UNCHANGED, UPDATED, Change, Plan

SYMBOL = {CREATED: "+", UPDATED: "~", DELETED: "-", UNCHANGED: "=", INVALID: "!", REJECTED: "x"}
SHOWN_RUNS = 10


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(t: datetime, zone: str) -> str:
    return t.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def headline(plan: Plan) -> str:
    counts = {a: len(plan.of(a)) for a in SYMBOL}
    return ", ".join(f"{n} {a}" for a, n in counts.items() if n) or "no jobs"


def _detail(c: Change) -> list[str]:
    lines = []
    if c.fields:
        lines.append("changed: " + ", ".join(c.fields))
    lines += [str(p) for p in c.problems]
    if c.action in (CREATED, UPDATED, DELETED) and (c.before or c.after):
        lines.append(c.summary)
    return lines


def as_text(plan: Plan, verbose: bool = True) -> str:
    out = []
    for c in plan.changes:
        if c.action == UNCHANGED and not verbose:
            continue
        out.append(f"{SYMBOL[c.action]} {c.key}: {c.action}")
        out += [f"    {line}" for line in _detail(c)]
        if c.action in (CREATED, UPDATED) and c.after:
            for before, after in _pairs(c):
                out.append(f"      {before:<22} -> {after}")
    if plan.prune_blocked:
        out.append(f"! prune blocked: {plan.prune_blocked}")
    out.append(f"Plan: {headline(plan)}.")
    return "\n".join(out)


def _pairs(c: Change) -> list[tuple[str, str]]:
    n = max(len(c.before), len(c.after))
    b = [_iso(t) for t in c.before] + ["-"] * (n - len(c.before))
    a = [f"{_iso(t)} ({_local(t, c.zone)})" for t in c.after] + ["-"] * (n - len(c.after))
    return list(zip(b, a, strict=True))[:SHOWN_RUNS]


def as_markdown(plan: Plan) -> str:
    out = [f"### cronplane plan: {headline(plan)}", ""]
    if plan.prune_blocked:
        out += [f"> :warning: prune blocked: {plan.prune_blocked}", ""]
    out += ["| | job | change | details |", "|---|---|---|---|"]
    for c in plan.changes:
        if c.action != UNCHANGED:
            details = "<br>".join(line.replace("|", "\\|") for line in _detail(c))
            out.append(f"| {SYMBOL[c.action]} | `{c.key}` | {c.action} | {details} |")
    for c in plan.of(CREATED, UPDATED):
        if c.after or c.before:
            out += [
                "",
                f"<details><summary><code>{c.key}</code>: {c.summary}</summary>",
                "",
                f"| before (UTC) | after (UTC) | after ({c.zone}) |",
                "|---|---|---|",
            ]
            n = max(len(c.before), len(c.after))
            for i in range(min(n, SHOWN_RUNS)):
                b = _iso(c.before[i]) if i < len(c.before) else ""
                a = _iso(c.after[i]) if i < len(c.after) else ""
                loc = _local(c.after[i], c.zone) if i < len(c.after) else ""
                out.append(f"| {b} | {a} | {loc} |")
            out += ["", "</details>"]
    return "\n".join(out)


def as_json(plan: Plan) -> str:
    return json.dumps(
        {
            "summary": headline(plan),
            "pruneBlocked": plan.prune_blocked,
            "changes": [
                {
                    "job": c.key,
                    "action": c.action,
                    "fields": c.fields,
                    "problems": [str(p) for p in c.problems],
                    "summary": c.summary if c.action in (CREATED, UPDATED, DELETED) else "",
                    "before": [_iso(t) for t in c.before],
                    "after": [_iso(t) for t in c.after],
                    "timeZone": c.zone,
                }
                for c in plan.changes
            ],
        },
        indent=2,
    )


RENDERERS = {"text": as_text, "markdown": as_markdown, "json": as_json}
