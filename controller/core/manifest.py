"""One manifest file (bytes) → jobs, collections and problems with file:line:column. Pure.

Pipeline per document: YAML with positions (``yamlpos``) → apiVersion and kind → schema-driven
normalization (``normalize``) → inline-secret check → JSON Schema validation (``schemas``) →
the per-document rules (``rules``) → model objects. A document with any problem yields no model
object, only problems; every problem names the job (or collection) it belongs to when the
document's metadata is readable, so the sync loop can mark exactly that job Stalled and keep its
last good spec. Warnings (``ParsedFile.warnings``, severity ``warning``) are kept apart from
problems: they are printed by ``validate`` and change nothing else. Nothing here raises for any
input bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.core import limits, rules, schemas
from controller.core.model import (
    DEFAULT_COLLECTION,
    Collection,
    Job,
    JobKey,
    JobSpec,
    SourceRef,
    collection_from_dict,
)
from controller.core.normalize import normalize, typed_locations
from controller.core.yamlpos import Document, load_documents

API_VERSION = "cronplane/v1"
KINDS = tuple(schemas.SCHEMA_FILES)
Finding = tuple[tuple[str | int, ...], str, bool]  # path, message, point at the key
ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    column: int
    field: str
    message: str
    job: JobKey | None = None
    collection: str | None = None
    rejected: bool = False  # a valid manifest refused by a quota (Azure: 409), not a format error
    severity: str = ERROR  # WARNING: printed by validate, never makes a manifest invalid

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        level = "warning: " if self.severity == WARNING else ""
        return f"{self.path}:{self.line}:{self.column}: {where}{level}{self.message}"


@dataclass(frozen=True)
class ParsedFile:
    path: str
    jobs: list[Job] = field(default_factory=list)
    collections: list[Collection] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # severity WARNING; not in problems
    documents: dict[int, Document] = field(default_factory=dict, repr=False)  # by SourceRef.line


def parse_manifest(path: str, data: bytes) -> ParsedFile:
    """Every document of one file; problems instead of exceptions."""
    result = ParsedFile(path)
    docs, issues = load_documents(data)
    for issue in issues:
        result.problems.append(Problem(path, issue.line, issue.column, field_name(issue.path), issue.message))
    for doc in docs:
        if doc.value is not None:  # an empty document (a lone ---, only comments) is ignored
            result.documents[doc.line] = doc
            _parse_document(path, doc, result)
    _cap_anonymous(result)
    return result


def _cap_anonymous(result: ParsedFile) -> None:
    """At most MAX_ANONYMOUS_PROBLEMS problems per file that belong to no job or collection (a
    file of 150,000 scalar documents is one summary line, not 150,000 problems in every plan, log
    and sync record). Problems of a job are all kept: they are what keeps that job Stalled rather
    than deleted."""
    anonymous = [i for i, p in enumerate(result.problems) if p.job is None and p.collection is None]
    if len(anonymous) <= limits.MAX_ANONYMOUS_PROBLEMS:
        return
    cut = set(anonymous[limits.MAX_ANONYMOUS_PROBLEMS :])
    last = result.problems[anonymous[limits.MAX_ANONYMOUS_PROBLEMS]]
    kept = [p for i, p in enumerate(result.problems) if i not in cut]
    kept.append(Problem(result.path, last.line, last.column, "", f"... and {len(cut)} more problems in this file"))
    result.problems[:] = kept


def field_name(path: tuple[str | int, ...]) -> str:
    """Dotted field path as people write it: spec fields without the leading ``spec.``."""
    parts = list(path[1:]) if path[:1] == ("spec",) and len(path) > 1 else list(path)
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
    findings = _header_findings(value, kind)
    if not findings:
        schema = schemas.load_schemas()[kind]
        value = normalize(value, schema, schema)
        findings = _findings(kind, value, schema)
    owner = _owner(value, kind)
    job, coll = (owner, None) if isinstance(owner, JobKey) else (None, owner)
    located = sorted((doc.position(p, key=k), field_name(p), m) for p, m, k in findings)
    for (line, col), name, message in located[: limits.MAX_PROBLEMS_PER_DOCUMENT]:
        result.problems.append(Problem(path, line, col, name, message, job, coll))
    if len(located) > limits.MAX_PROBLEMS_PER_DOCUMENT:
        more = len(located) - limits.MAX_PROBLEMS_PER_DOCUMENT
        result.problems.append(Problem(path, doc.line, doc.column, "", f"... and {more} more problems", job, coll))
    if not findings:
        _build(path, doc, value, kind, result)
        if kind == "Job":
            for p, message in rules.job_warnings(value["spec"]):
                line, col = doc.position(p)
                result.warnings.append(Problem(path, line, col, field_name(p), message, job, severity=WARNING))


def _findings(kind: str, value: dict[str, Any], schema: Mapping[str, Any]) -> list[Finding]:
    typed = typed_locations(value, schema, schema)
    secrets = rules.secret_findings(value, typed)
    hidden = {p for p, _ in secrets}  # a secret's own schema errors would only repeat the point
    findings: list[Finding] = [(p, m, False) for p, m in secrets]
    findings += [f for f in schemas.schema_errors(kind, value) if not any(f[0][: len(h)] == h for h in hidden)]
    if findings:
        return findings  # the rules below assume a document the schema accepts
    findings += [(p, m, False) for p, m in rules.typed_findings(value, typed)]
    found = rules.job_rules(value["spec"]) if kind == "Job" else rules.collection_rules(value.get("spec") or {})
    return findings + [(p, m, False) for p, m in found]


def _kind(value: Mapping[str, Any]) -> str:
    kind = value.get("kind")
    for k in KINDS:
        if isinstance(kind, str) and kind.casefold() == k.casefold():
            return k
    return str(kind)


def _header_findings(value: Mapping[str, Any], kind: str) -> list[Finding]:
    if value.get("apiVersion") != API_VERSION:
        return [(("apiVersion",), f"must be {API_VERSION} (got {value.get('apiVersion')!r:.60})", False)]
    if kind not in KINDS:
        return [(("kind",), f"unknown kind {value.get('kind')!r:.60} (expected one of: {', '.join(KINDS)})", False)]
    return []


def _owner(value: Mapping[str, Any], kind: str) -> JobKey | str | None:
    meta = value.get("metadata")
    if not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str):
        return None
    if kind == "JobCollection":
        return meta["name"]
    if kind != "Job":
        return None
    collection = meta.get("collection", DEFAULT_COLLECTION)
    return JobKey(collection if isinstance(collection, str) else DEFAULT_COLLECTION, meta["name"])


def _build(path: str, doc: Document, value: dict[str, Any], kind: str, result: ParsedFile) -> None:
    meta = value["metadata"]
    source = SourceRef(path, doc.line)
    try:
        if kind == "JobCollection":
            result.collections.append(collection_from_dict(meta["name"], value.get("spec") or {}, source))
            return
        spec = {k: v for k, v in value["spec"].items() if k != "status"}  # Azure's read-only status
        key = JobKey(meta.get("collection", DEFAULT_COLLECTION), meta["name"])
        result.jobs.append(Job(key, JobSpec.from_dict(spec), dict(meta.get("labels") or {}), source))
    except Exception as e:  # the last guard: validation should have refused what the model cannot take
        owner = _owner(value, kind)
        job, coll = (owner, None) if isinstance(owner, JobKey) else (None, owner)
        message = f"cannot be loaded ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        result.problems.append(Problem(path, doc.line, doc.column, "", message, job, coll))
