"""Walking a document next to its JSON Schema: normalization and typed locations. Pure.

The schemas are the single source of truth for the format, so nothing here lists field paths:

- ``normalize`` folds enum values and property names to the schema's spelling,
  case-insensitively (Azure accepted ``Week``, ``Fixed``, ``Https``, ``ClientCertificate`` and
  SWAGGER's ``Occurrence``), and wraps a bare scalar where the schema wants a list of scalars
  (Azure's older docs allowed ``minutes: 5``). It runs *before* validation and returns the
  canonical spec that ``model.JobSpec.from_dict`` consumes. Nothing else is converted: dates
  and durations stay the strings the author wrote.
- ``typed_locations`` maps every place whose schema is a named definition (``secretRef``,
  ``duration``, ``dateTime``...) to that name, so rules check secrets, durations and instants
  wherever the schema puts them.

Both walk every ``allOf``/``anyOf``/``oneOf``/``then``/``else`` branch without evaluating the
``if``: the branches of our schemas never spell one property two ways, so visiting a branch that
does not apply folds nothing wrongly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

Path = tuple[str | int, ...]
DEFS = "#/$defs/"
MAX_DEPTH = 100  # defensive: our schemas are not recursive and documents are depth-capped


def normalize(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    """``value`` with enum values and property names folded to the schema's spelling."""
    if "$ref" in schema:
        return normalize(value, resolve(root, schema["$ref"]), root)
    value = _wrap_scalar(_fold_enum(value, schema), schema, root)
    if isinstance(value, dict):
        value = _fold_properties(value, schema, root)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        value = [normalize(v, schema["items"], root) for v in value]
    for sub in _branches(schema):
        value = normalize(value, sub, root)
    return value


def typed_locations(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> dict[Path, str]:
    """Path → name of the ``$defs`` entry describing the value there (the outermost one)."""
    found: dict[Path, str] = {}
    _collect(value, schema, root, (), found, 0)
    return found


def value_at(document: Any, path: Path) -> Any:
    """The value at ``path``, or None when the path does not exist."""
    for part in path:
        in_mapping = isinstance(document, Mapping) and part in document
        in_list = isinstance(document, list) and isinstance(part, int) and 0 <= part < len(document)
        if not (in_mapping or in_list):
            return None
        document = document[part]
    return document


def resolve(root: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    """A local ``$ref`` (``#/$defs/name`` or any ``#/`` pointer) inside ``root``."""
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _collect(
    value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], path: Path, out: dict[Path, str], depth: int
) -> None:
    if depth > MAX_DEPTH:
        return
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if ref.startswith(DEFS):
            out.setdefault(path, ref.removeprefix(DEFS))
        _collect(value, resolve(root, ref), root, path, out, depth + 1)
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key, extra)
            if isinstance(sub, Mapping):
                _collect(item, sub, root, (*path, key), out, depth + 1)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            _collect(item, schema["items"], root, (*path, i), out, depth + 1)
    for sub in _branches(schema):
        _collect(value, sub, root, path, out, depth + 1)


def _branches(schema: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for key in ("allOf", "anyOf", "oneOf"):
        yield from (s for s in schema.get(key, ()) if isinstance(s, Mapping))
    for key in ("then", "else"):
        if isinstance(schema.get(key), Mapping):
            yield schema[key]


def _fold_enum(value: Any, schema: Mapping[str, Any]) -> Any:
    if not isinstance(value, str):
        return value
    choices = list(schema.get("enum", ())) + ([schema["const"]] if "const" in schema else [])
    for choice in choices:
        if isinstance(choice, str) and choice.casefold() == value.casefold():
            return choice
    return value


def _wrap_scalar(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    items = schema.get("items")
    if schema.get("type") != "array" or not isinstance(items, Mapping):
        return value
    if "$ref" in items:
        items = resolve(root, items["$ref"])
    if items.get("type") in ("integer", "string") and isinstance(value, int | str) and not isinstance(value, bool):
        return [value]
    return value


def _fold_properties(value: dict[str, Any], schema: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    props: Mapping[str, Any] = schema.get("properties", {})
    lower = {p.casefold(): p for p in props}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = key if key in props else lower.get(str(key).casefold(), key)
        if name in out:  # both spellings given: keep this one as written, so validation reports it
            name = key
        sub = props.get(name)
        if sub is None and isinstance(schema.get("additionalProperties"), Mapping):
            sub = schema["additionalProperties"]
        out[name] = normalize(item, sub, root) if isinstance(sub, Mapping) else item
    return out
