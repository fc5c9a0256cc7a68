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

Speed: both walks run on a compiled form of the schema (``_Node``, built once per schema and
cached): ``$ref``s resolved, enum spellings and property names folded into dictionaries, and
each node marked with whether anything below it can fold a value (or name a definition), so the
walk skips the subtrees where nothing can happen. The answers are those of the plain walk.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

Path = tuple[str | int, ...]
DEFS = "#/$defs/"
MAX_DEPTH = 100  # defensive: our schemas are not recursive and documents are depth-capped


def normalize(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    """``value`` with enum values and property names folded to the schema's spelling."""
    return _norm(value, _compiled(schema, root))


def _normalize_plain(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    """The specification of ``normalize`` (a test compares the two on every example)."""
    if "$ref" in schema:
        return _normalize_plain(value, resolve(root, schema["$ref"]), root)
    value = _wrap_scalar(_fold_enum(value, schema), schema, root)
    if isinstance(value, dict):
        value = _fold_properties(value, schema, root)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        value = [_normalize_plain(v, schema["items"], root) for v in value]
    for sub in _branches(schema):
        value = _normalize_plain(value, sub, root)
    return value


def typed_locations(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> dict[Path, str]:
    """Path → name of the ``$defs`` entry describing the value there (the outermost one)."""
    found: dict[Path, str] = {}
    _typed(value, _compiled(schema, root), (), found, 0)
    return found


def _typed_plain(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> dict[Path, str]:
    """The specification of ``typed_locations``."""
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
        out[name] = _normalize_plain(item, sub, root) if isinstance(sub, Mapping) else item
    return out


# -- the compiled walk -----------------------------------------------------------------------
class _Node:
    """One schema node, compiled: what ``normalize`` and ``typed_locations`` read from it."""

    __slots__ = (
        "branches",
        "defs_name",
        "enum",
        "extra",
        "folds",
        "items",
        "lower",
        "props",
        "ref",
        "ref_only",
        "types",
        "wrap",
    )

    def __init__(self) -> None:
        self.ref: _Node | None = None
        self.ref_only = False  # normalize follows a $ref and ignores the node's other keywords
        self.defs_name: str | None = None
        self.enum: dict[str, str] = {}
        self.wrap = False
        self.props: dict[str, _Node | None] = {}
        self.lower: dict[str, str] = {}
        self.extra: _Node | None = None
        self.items: _Node | None = None
        self.branches: tuple[_Node, ...] = ()
        self.folds = True  # something below may change a value (normalize must walk it)
        self.types = True  # something below names a $defs entry (typed_locations must walk it)


_CACHE: dict[tuple[int, int], tuple[Mapping[str, Any], Mapping[str, Any], _Node]] = {}


def _compiled(schema: Mapping[str, Any], root: Mapping[str, Any]) -> _Node:
    hit = _CACHE.get((id(schema), id(root)))
    if hit is not None and hit[0] is schema and hit[1] is root:
        return hit[2]
    nodes: dict[int, _Node] = {}
    node = _compile(schema, root, nodes, 0)
    _mark(node, set())
    _CACHE[(id(schema), id(root))] = (schema, root, node)
    return node


def _compile(schema: Mapping[str, Any], root: Mapping[str, Any], nodes: dict[int, _Node], depth: int) -> _Node:
    if id(schema) in nodes:
        return nodes[id(schema)]
    n = nodes[id(schema)] = _Node()
    if depth > MAX_DEPTH:
        n.folds = n.types = False
        return n

    def sub(s: Any) -> _Node | None:
        return _compile(s, root, nodes, depth + 1) if isinstance(s, Mapping) else None

    ref = schema.get("$ref")
    if "$ref" in schema:
        n.ref_only = True
        n.ref = sub(resolve(root, ref)) if isinstance(ref, str) else None
        if isinstance(ref, str) and ref.startswith(DEFS):
            n.defs_name = ref.removeprefix(DEFS)
    for choice in list(schema.get("enum", ())) + ([schema["const"]] if "const" in schema else []):
        if isinstance(choice, str):
            n.enum.setdefault(choice.casefold(), choice)
    items = schema.get("items")
    if schema.get("type") == "array" and isinstance(items, Mapping):
        target = resolve(root, items["$ref"]) if "$ref" in items else items
        n.wrap = target.get("type") in ("integer", "string")
    props: Mapping[str, Any] = schema.get("properties", {})
    n.props = {k: sub(v) for k, v in props.items()}
    n.lower = {p.casefold(): p for p in props}
    n.extra = sub(schema.get("additionalProperties"))
    n.items = sub(items)
    n.branches = tuple(b for b in (sub(s) for s in _branches(schema)) if b is not None)
    return n


def _mark(n: _Node, done: set[int]) -> tuple[bool, bool]:
    """Whether anything at or below ``n`` can fold a value / names a definition."""
    if id(n) in done:
        return n.folds, n.types
    done.add(id(n))
    children = [c for c in (n.ref, n.extra, n.items, *n.props.values(), *n.branches) if c is not None]
    marks = [_mark(c, done) for c in children]
    n.folds = bool(n.enum) or n.wrap or bool(n.props) or any(f for f, _ in marks)
    n.types = n.defs_name is not None or any(t for _, t in marks)
    return n.folds, n.types


def _norm(value: Any, n: _Node) -> Any:
    if not n.folds:
        return value
    if n.ref_only:
        return _norm(value, n.ref) if n.ref is not None else value
    if n.enum and isinstance(value, str):
        value = n.enum.get(value.casefold(), value)
    if n.wrap and isinstance(value, int | str) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, dict):
        value = _norm_properties(value, n)
    elif isinstance(value, list) and n.items is not None:
        items = n.items
        value = [_norm(v, items) for v in value]
    for b in n.branches:
        value = _norm(value, b)
    return value


def _norm_properties(value: dict[str, Any], n: _Node) -> dict[str, Any]:
    props, lower, extra = n.props, n.lower, n.extra
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = key if key in props else lower.get(str(key).casefold(), key)
        if name in out:
            name = key
        sub = props.get(name) if name in props else extra
        out[name] = _norm(item, sub) if sub is not None else item
    return out


def _typed(value: Any, n: _Node, path: Path, out: dict[Path, str], depth: int) -> None:
    if depth > MAX_DEPTH or not n.types:
        return
    if n.ref is not None or n.defs_name is not None:
        if n.defs_name is not None:
            out.setdefault(path, n.defs_name)
        if n.ref is not None:
            _typed(value, n.ref, path, out, depth + 1)
    if isinstance(value, dict):
        props, extra = n.props, n.extra
        for key, item in value.items():
            sub = props.get(key, extra)
            if sub is not None:
                _typed(item, sub, (*path, key), out, depth + 1)
    elif isinstance(value, list) and n.items is not None:
        for i, item in enumerate(value):
            _typed(item, n.items, (*path, i), out, depth + 1)
    for b in n.branches:
        _typed(value, b, path, out, depth + 1)
