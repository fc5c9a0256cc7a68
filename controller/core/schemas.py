"""The JSON Schemas in ``schemas/``: loading, validation, and errors a person can act on. Pure.

The schema files are packaged data next to the package (``schemas/`` at the top of the source
tree, found through ``Path(__file__)``). They are read once per process, like time zone data;
a missing or corrupt file is one clear ``PermanentError`` line, never a traceback.

jsonschema's errors become ``(path, message, at_key)`` findings: ``path`` is the absolute path
in the document; ``at_key`` means "point at the key" (an unknown field), otherwise at the value
(a missing field points at its parent mapping). A schema node may carry ``errorMessage`` (the
convention VS Code and yaml-language-server also display) to replace the generic text of a
``pattern``, ``anyOf`` or ``oneOf`` failure.

Speed: a document is first checked by a validator that ``fastjsonschema`` compiled to Python
from the same schema (about 20x faster than jsonschema on a valid document); only a document it
refuses goes through jsonschema, whose errors give the messages. The fast validator may be
stricter than jsonschema (a refusal only costs the slow path), never looser: it is used only
when every keyword of the schema is one it implements (``FAST_KEYWORDS``), and a test checks
both validators agree on every example and hostile document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from controller.errors import PermanentError

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
SCHEMA_FILES = {"Job": "job.schema.json", "JobCollection": "jobcollection.schema.json"}
Finding = tuple[tuple[str | int, ...], str, bool]


class SchemaFilesMissing(PermanentError):
    """cronplane was installed without its ``schemas/`` directory (it needs the source tree)."""


@cache
def load_schemas() -> dict[str, dict[str, Any]]:
    """Kind → schema, read from ``schemas/`` next to the package (cached for the process)."""
    out = {}
    for kind, name in SCHEMA_FILES.items():
        path = SCHEMA_DIR / name
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
            jsonschema.Draft202012Validator.check_schema(schema)
        except FileNotFoundError as e:
            raise SchemaFilesMissing(
                f"schema file {path} is missing: install cronplane from its source tree (pip install -e .)"
            ) from e
        except (OSError, ValueError, jsonschema.SchemaError) as e:
            raise SchemaFilesMissing(f"schema file {path} is unreadable or invalid: {str(e).splitlines()[0]}") from e
        out[kind] = schema
    return out


@cache
def validator(kind: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schemas()[kind])


# Keywords fastjsonschema (draft 7) implements as jsonschema does for our schemas; annotations
# (description, title, errorMessage...) do not validate. Any other keyword disables the fast path.
FAST_KEYWORDS = frozenset(
    (
        *("type", "required", "$ref", "properties", "additionalProperties", "const", "enum"),
        *("minLength", "maxLength", "minimum", "maximum", "pattern", "anyOf", "allOf", "oneOf", "not"),
        *("if", "then", "else", "items", "minItems", "maxItems", "minProperties", "maxProperties"),
        "propertyNames",
    )
)
ANNOTATIONS = frozenset(
    ("$schema", "$id", "$defs", "title", "description", "errorMessage", "examples", "default", "$comment")
)


@cache
def fast_validator(kind: str) -> Any:
    """The compiled validator for ``kind``, or None when the schema uses a keyword it lacks."""
    schema = load_schemas()[kind]
    if not _fast_compatible(schema):
        return None
    return fastjsonschema.compile(_fast_patterns(schema), use_default=False, use_formats=False)


def is_valid(kind: str, document: Any) -> bool:
    fast = fast_validator(kind)
    if fast is not None:
        try:
            fast(document)
            return True
        except fastjsonschema.JsonSchemaException:
            pass  # possibly stricter than jsonschema (``$`` at a trailing newline): ask it
    return validator(kind).is_valid(document)


def _fast_compatible(schema: Any) -> bool:
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, Mapping):
        return False
    for key, sub in schema.items():
        if key in ("properties", "$defs"):
            if not all(_fast_compatible(s) for s in sub.values()):
                return False
        elif key in ("anyOf", "allOf", "oneOf"):
            if not all(_fast_compatible(s) for s in sub):
                return False
        elif key in ("not", "if", "then", "else", "items", "additionalProperties", "propertyNames"):
            if not _fast_compatible(sub):
                return False
        elif key not in FAST_KEYWORDS and key not in ANNOTATIONS:
            return False
    return True


def _fast_patterns(schema: Any) -> Any:
    """fastjsonschema rewrites every unescaped ``$`` to ``\\Z``, even inside a ``[...]`` set,
    where it is an error; a ``$`` inside a set is spelled ``\\x24`` for it (the same set)."""
    if isinstance(schema, list):
        return [_fast_patterns(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {k: _fast_patterns(v) for k, v in schema.items()}
    if isinstance(out.get("pattern"), str):
        out["pattern"] = _dollar_in_sets(out["pattern"])
    return out


def _dollar_in_sets(pattern: str) -> str:
    out, in_set, i = [], False, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[" and not in_set:
            in_set = True
        elif ch == "]" and in_set and out[-1] != "[":
            in_set = False
        out.append("\\x24" if ch == "$" and in_set else ch)
        i += 1
    return "".join(out)


def schema_errors(kind: str, document: Any) -> Iterator[Finding]:
    """Every schema violation of ``document``, in document order, each explained once."""
    if is_valid(kind, document):
        return
    seen: set[tuple[tuple[str | int, ...], str]] = set()
    for error in sorted(validator(kind).iter_errors(document), key=_order):
        for path, message, at_key in _explain(error):
            if (path, message) not in seen:
                seen.add((path, message))
                yield path, message, at_key


def _order(e: ValidationError) -> list[tuple[int, int, str]]:
    return [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in e.absolute_path]


def _explain(e: ValidationError) -> Iterator[Finding]:
    path, v, inst = tuple(e.absolute_path), e.validator, e.instance
    custom = e.schema.get("errorMessage") if isinstance(e.schema, Mapping) else None
    if v in ("anyOf", "oneOf"):
        branch = _matching_branch(e)
        if branch is not None:
            for sub in branch:
                yield from _explain(sub)
        elif isinstance(custom, str):
            yield path, custom, False
        elif e.context:
            yield from _explain(best_match(e.context))
        else:
            yield path, "matches more than one of the allowed forms; give only one", False
    elif v == "required":
        missing = e.message.split("'")[1] if "'" in e.message else "?"
        yield (*path, missing), "required field is missing", False
    elif "propertyNames" in e.relative_schema_path and isinstance(inst, str):
        yield (*path, inst), _simple_message(e, custom), True  # a bad key: point at the key
    elif v == "additionalProperties":
        for extra in sorted(set(inst) - set(e.schema.get("properties", {})), key=str):
            yield (*path, extra), "unknown field", True
    else:
        yield path, _simple_message(e, custom), False


def _matching_branch(e: ValidationError) -> list[ValidationError] | None:
    """The errors of the one alternative whose type fits the value, if exactly one does.

    ``authentication: {anyOf: [object..., null]}`` given a mapping should explain what is wrong
    with the mapping, not say "must be of type null" (what jsonschema's ``best_match`` picks).
    """
    branches: dict[Any, list[ValidationError]] = {}
    for sub in e.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    fitting = [errs for errs in branches.values() if not any(_wrong_type(x) for x in errs)]
    if len(fitting) == 1 and len(branches) > 1:
        return fitting[0]
    return None


def _wrong_type(e: ValidationError) -> bool:
    return e.validator in ("type", "const") and not e.relative_path


def _simple_message(e: ValidationError, custom: Any) -> str:
    v, inst, limit = e.validator, e.instance, e.validator_value
    if v in ("enum", "const"):
        return f"{_short(inst)} is not one of: {', '.join(map(str, limit if v == 'enum' else [limit]))}"
    if v == "type":
        return f"must be of type {' or '.join(limit) if isinstance(limit, list) else limit} (got {type_name(inst)})"
    if v in ("minimum", "maximum"):
        return f"{inst} is {'below the minimum' if v == 'minimum' else 'above the maximum'} of {limit}"
    if v in ("maxLength", "minLength"):
        return f"is {len(inst)} characters long; {'at most' if v == 'maxLength' else 'at least'} {limit} allowed"
    if v in ("maxItems", "minItems", "maxProperties", "minProperties"):
        return f"has {len(inst)} entries; {'at most' if v.startswith('max') else 'at least'} {limit} allowed"
    if v == "pattern":
        return f"{_short(inst)} is not valid: {custom or e.schema.get('description') or 'bad format'}"
    if v == "not":
        return f"{_short(inst)} is not allowed"
    return str(custom) if isinstance(custom, str) else f"is not valid ({v})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def type_name(value: Any) -> str:
    names = {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "integer", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
