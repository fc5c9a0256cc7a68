"""One manifest file (bytes) → jobs, collections and problems with file:line:column. Pure.

Pipeline per document: YAML with positions (``yamlpos``) → kind and metadata → inline-secret
check → schema-driven normalization (``schemas.normalize``) → JSON Schema validation → the
per-document rules (``rules``) → model objects. A document with any problem yields no model
object, only problems; every problem carries the job (or collection) it belongs to when the
document's metadata is readable, so the sync loop can mark exactly that job Stalled and keep its
last good spec. Nothing here raises for any input bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.core import rules, schemas
from controller.core.model import (
    DEFAULT_COLLECTION,
    Collection,
    Job,
    JobKey,
    JobSpec,
    SourceRef,
    collection_from_dict,
)
from controller.core.yamlpos import Document, load_documents

API_VERSION = "cronplane/v1"
KINDS = tuple(schemas.SCHEMA_FILES)


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    column: int
    field: str
    message: str
    job: JobKey | None = None
    collection: str | None = None
    rejected: bool = False  # a valid manifest refused by a quota (not a format error)

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{self.path}:{self.line}:{self.column}: {where}{self.message}"


@dataclass
class ParsedFile:
    path: str
    jobs: list[Job] = field(default_factory=list)
    collections: list[Collection] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def parse_manifest(path: str, data: bytes) -> ParsedFile:
    result = ParsedFile(path)
    docs, issues = load_documents(data)
    for issue in issues:
        result.problems.append(Problem(path, issue.line, issue.column, field_name(issue.path), issue.message))
    for doc in docs:
        if doc.value is not None:
            _parse_document(path, doc, result)
    return result


def field_name(path: tuple[str | int, ...]) -> str:
    """Dotted field path as people write it: spec fields without the leading ``spec.``."""
    parts = list(path[1:]) if path[:1] == ("spec",) else list(path)
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _parse_document(path: str, doc: Document, result: ParsedFile) -> None:
    value = doc.value
    if not isinstance(value, dict):
        kind = "a list" if isinstance(value, list) else "a scalar"
        result.problems.append(
            Problem(path, doc.line, doc.column, "", f"a manifest document must be a mapping, not {kind}")
        )
        return
    kind = _kind(value)
    owner = _owner(value, kind)
    findings = list(_header_findings(value, kind))
    if not findings:
        secret_paths = {p for p, _ in rules.inline_secrets(value.get("spec"), ("spec",))}
        findings += [(p, rules.INLINE_SECRET, False) for p in sorted(secret_paths, key=str)]
        schema = schemas.load_schemas()[kind]
        value = schemas.normalize(value, schema, schema)
        findings += [f for f in schemas.schema_errors(kind, value) if not _under(f[0], secret_paths)]
        if not findings and kind == "Job":
            findings += [(p, m, False) for p, m in rules.job_rules(value["spec"])]
    job, coll = owner if isinstance(owner, JobKey) else None, owner if isinstance(owner, str) else None
    for fpath, message, at_key in findings:
        line, col = doc.position(fpath, key=at_key)
        result.problems.append(Problem(path, line, col, field_name(fpath), message, job, coll))
    if not findings:
        _build(path, doc, value, kind, result)


def _kind(value: Mapping[str, Any]) -> str:
    kind = value.get("kind")
    for k in KINDS:
        if isinstance(kind, str) and kind.casefold() == k.casefold():
            return k
    return str(kind)


def _header_findings(value: Mapping[str, Any], kind: str) -> list[tuple[tuple[str | int, ...], str, bool]]:
    if value.get("apiVersion") != API_VERSION:
        return [(("apiVersion",), f"must be {API_VERSION} (got {value.get('apiVersion')!r})", False)]
    if kind not in KINDS:
        return [(("kind",), f"unknown kind {value.get('kind')!r} (expected one of: {', '.join(KINDS)})", False)]
    return []


def _owner(value: Mapping[str, Any], kind: str) -> JobKey | str | None:
    meta = value.get("metadata")
    if not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str):
        return None
    if kind == "JobCollection":
        return meta["name"]
    collection = meta.get("collection", DEFAULT_COLLECTION)
    return JobKey(collection if isinstance(collection, str) else DEFAULT_COLLECTION, meta["name"])


def _under(path: tuple[str | int, ...], roots: set[tuple[str | int, ...]]) -> bool:
    return any(path[: len(r)] == r for r in roots)


def _build(path: str, doc: Document, value: dict[str, Any], kind: str, result: ParsedFile) -> None:
    meta = value["metadata"]
    source = SourceRef(path, doc.line)
    if kind == "JobCollection":
        result.collections.append(collection_from_dict(meta["name"], value.get("spec") or {}, source))
        return
    spec = {k: v for k, v in value["spec"].items() if k != "status"}  # Azure's read-only status
    key = JobKey(meta.get("collection", DEFAULT_COLLECTION), meta["name"])
    result.jobs.append(Job(key, JobSpec.from_dict(spec), dict(meta.get("labels") or {}), source))
