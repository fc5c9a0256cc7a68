"""The JSON Schemas in ``schemas/``: loading, schema-driven normalization, readable errors. Pure.

The schemas are the single source of truth for the format. Two things are derived from them
here rather than written down twice:

- **normalization**: enum values and property names are matched case-insensitively (Azure
  accepted ``Week``, ``Fixed``, ``Occurrence``) and folded to the schema's spelling before
  validation, by walking the schema next to the document;
- **error messages**: jsonschema's errors become ``(path, message)`` pairs a person can act on.

The schema files are read once by the caller (``load_schemas``) and passed in; nothing here
touches the file system at import time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
SCHEMA_FILES = {"Job": "job.schema.json", "JobCollection": "jobcollection.schema.json"}


@cache
def load_schemas() -> dict[str, dict[str, Any]]:
    """Kind → schema (read from ``schemas/`` next to the package; cached for the process)."""
    out = {}
    for kind, name in SCHEMA_FILES.items():
        path = SCHEMA_DIR / name
        if not path.exists():
            raise FileNotFoundError(f"schema {path} is missing: reinstall cronplane from its source tree")
        out[kind] = json.loads(path.read_text())
    return out


@cache
def validator(kind: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schemas()[kind])


def normalize(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    """Fold enum values and property names to the schema's spelling (case-insensitively)."""
    if "$ref" in schema:
        return normalize(value, _resolve(root, schema["$ref"]), root)
    value = _fold_enum(value, schema)
    if isinstance(value, dict):
        value = _fold_properties(value, schema, root)
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        value = [normalize(v, schema["items"], root) for v in value]
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, ()):
            value = normalize(value, sub, root)
    for key in ("then", "else"):
        if isinstance(schema.get(key), Mapping):
            value = normalize(value, schema[key], root)
    return value


def _fold_enum(value: Any, schema: Mapping[str, Any]) -> Any:
    if not isinstance(value, str):
        return value
    choices = list(schema.get("enum", ())) + ([schema["const"]] if "const" in schema else [])
    for choice in choices:
        if isinstance(choice, str) and choice.casefold() == value.casefold():
            return choice
    return value


def _fold_properties(value: dict[str, Any], schema: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    props: Mapping[str, Any] = schema.get("properties", {})
    lower = {p.casefold(): p for p in props}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = key if key in props else lower.get(str(key).casefold(), key)
        if name in out:  # both spellings given: keep the first, validation reports nothing lost
            name = key
        sub = props.get(name)
        if sub is None and isinstance(schema.get("additionalProperties"), Mapping):
            sub = schema["additionalProperties"]
        out[name] = normalize(item, sub, root) if isinstance(sub, Mapping) else item
    return out


def _resolve(root: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def schema_errors(kind: str, document: Any) -> Iterator[tuple[tuple[str | int, ...], str, bool]]:
    """(path, message, points_at_key) for every schema violation, most specific first."""
    for error in sorted(validator(kind).iter_errors(document), key=lambda e: list(e.absolute_path)):
        yield from _explain(error)


def _explain(e: ValidationError) -> Iterator[tuple[tuple[str | int, ...], str, bool]]:
    path = tuple(e.absolute_path)
    v, inst = e.validator, e.instance
    if v in ("anyOf", "oneOf") and e.context:
        yield from _explain(best_match(e.context))
    elif v == "required":
        missing = e.message.split("'")[1] if "'" in e.message else "?"
        yield (*path, missing), "required field is missing", False
    elif v == "additionalProperties":
        for extra in sorted(set(inst) - set(e.schema.get("properties", {}))):
            yield (*path, extra), "unknown field", True
    elif v in ("enum", "const"):
        choices = e.validator_value if v == "enum" else [e.validator_value]
        yield path, f"{inst!r} is not one of: {', '.join(map(str, choices))}", False
    elif v == "type":
        yield path, f"must be of type {e.validator_value} (got {_type_name(inst)})", False
    elif v in ("minimum", "maximum"):
        word = "below the minimum" if v == "minimum" else "above the maximum"
        yield path, f"{inst} is {word} of {e.validator_value}", False
    elif v == "pattern":
        hint = e.schema.get("description") or f"must match {e.validator_value}"
        yield path, f"{inst!r} is not valid: {hint}", False
    elif v == "not":
        yield path, f"{inst!r} is not allowed", False
    else:
        yield path, e.message if len(e.message) < 200 else f"is not valid ({v})", False


def _type_name(value: Any) -> str:
    return {
        dict: "mapping",
        list: "list",
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
        type(None): "null",
    }.get(type(value), type(value).__name__)
