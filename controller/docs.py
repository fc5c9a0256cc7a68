"""Generates the README's manifest reference from the JSON Schemas (the single source of truth).

``python -m controller.docs README.md`` rewrites the section between the markers
``<!-- BEGIN manifest-reference -->`` and ``<!-- END manifest-reference -->``; ``--check``
exits 1 when the README is out of date (a test runs it) and changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from controller.core.schemas import load_schemas

BEGIN, END = "<!-- BEGIN manifest-reference -->", "<!-- END manifest-reference -->"
SECTIONS = [  # (title, kind, $defs name or "" for the document itself)
    ("Job document", "Job", ""),
    ("Job `metadata`", "Job", "@metadata"),
    ("Job `spec`", "Job", "jobSpec"),
    ("`recurrence`", "Job", "recurrence"),
    ("`recurrence.schedule`", "Job", "schedule"),
    ("`action` / `errorAction`", "Job", "action"),
    ("`request` (http, https)", "Job", "request"),
    ("`request.authentication: {type: basic}`", "Job", "basicAuth"),
    ("`request.authentication: {type: clientCertificate}`", "Job", "clientCertAuth"),
    ("`request.authentication: {type: activeDirectoryOAuth}`", "Job", "oauthAuth"),
    ("`queueMessage` (storageQueue)", "Job", "queueMessage"),
    ("`serviceBusQueueMessage` (serviceBusQueue)", "Job", "serviceBusQueueMessage"),
    ("`serviceBusTopicMessage` (serviceBusTopic)", "Job", "serviceBusTopicMessage"),
    ("`brokeredMessageProperties`", "Job", "brokeredMessageProperties"),
    ("`retryPolicy`", "Job", "retryPolicy"),
    ("Secret references", "Job", "secretRef"),
    ("JobCollection `spec`", "JobCollection", "collectionSpec"),
    ("JobCollection `spec.quota`", "JobCollection", "collectionSpec.quota"),
]


def render() -> str:
    schemas = load_schemas()
    out = [BEGIN, "", "_Generated from `schemas/*.schema.json` by `make docs`; do not edit by hand._", ""]
    for title, kind, name in SECTIONS:
        root = schemas[kind]
        node = _section(root, name)
        out += [f"#### {title}", ""]
        if node.get("description"):
            out += [node["description"], ""]
        out += ["| field | type | required | values / notes |", "|---|---|---|---|"]
        required = set(node.get("required", ()))
        for field, sub in node.get("properties", {}).items():
            out.append(
                f"| `{field}` | {_type(sub, root)} | {'yes' if field in required else ''} | {_notes(sub, root)} |"
            )
        out.append("")
    out.append(END)
    return "\n".join(out)


def _section(root: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    if not name:
        return root
    if name == "@metadata":
        return root["properties"]["metadata"]
    first, *rest = name.split(".")
    node = root["$defs"][first]
    for part in rest:
        node = node["properties"][part]
    return node


def _deref(sub: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in sub:
        ref = sub["$ref"].removeprefix("#/$defs/")
        extra = {k: v for k, v in sub.items() if k != "$ref"}
        sub = {**root["$defs"][ref], **extra}
    return sub


def _type(sub: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    if "$ref" in sub:
        name = sub["$ref"].removeprefix("#/$defs/")
        if name in ("secretRef", "duration", "dateTime", "name", "weekDay", "frequency"):
            return {
                "secretRef": "secret reference",
                "duration": "duration",
                "dateTime": "date-time",
                "name": "name",
                "weekDay": "weekday",
                "frequency": "frequency",
            }[name]
        return "object"
    if "anyOf" in sub:
        return " or ".join(_type(s, root) for s in sub["anyOf"])
    kind = sub.get("type", "const" if "const" in sub else "any")
    if kind == "array":
        return f"list of {_type(sub.get('items', {}), root)}"
    return str(kind)


def _notes(sub: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    s = _deref(sub, root)
    parts = []
    if "enum" in s:
        parts.append(" \\| ".join(f"`{v}`" for v in s["enum"]))
    if "const" in s:
        parts.append(f"`{s['const']}`")
    if "minimum" in s or "maximum" in s:
        parts.append(f"{s.get('minimum', '')}..{s.get('maximum', '')}")
    items = _deref(s.get("items", {}), root)
    if "minimum" in items or "maximum" in items:
        parts.append(f"each {items.get('minimum', '')}..{items.get('maximum', '')}")
    if "enum" in items:
        parts.append("each " + " \\| ".join(f"`{v}`" for v in items["enum"]))
    if "maxLength" in s:
        parts.append(f"at most {s['maxLength']} characters")
    if s.get("description"):
        parts.append(str(s["description"]))
    return "; ".join(parts).replace("|", "\\|").replace("\\\\|", "\\|")


def update(readme: Path, check: bool) -> int:
    try:
        text = readme.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        print(f"{readme}: cannot read: {e}", file=sys.stderr)
        return 1
    if BEGIN not in text or END not in text:
        print(f"{readme}: no {BEGIN} ... {END} markers", file=sys.stderr)
        return 1
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + render() + tail
    if check:
        if new != text:
            print(f"{readme}: the manifest reference is out of date; run make docs", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new, encoding="utf-8")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m controller.docs", description="Generate the README manifest reference from the schemas."
    )
    parser.add_argument("readme", type=Path, help="the README to update (README.md)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the reference is out of date; write nothing")
    args = parser.parse_args(argv)
    return update(args.readme, args.check)


if __name__ == "__main__":
    sys.exit(main())
