"""YAML text → plain Python documents plus the line/column of every node. Pure, never raises.

Safety bounds for hostile input (``cronplane validate`` must answer any bytes with a clear line):
a size cap, a node budget that stops alias "billion laughs" expansion (aliases, and mappings
merged with ``<<``, are counted each time they are expanded), a nesting cap (libyaml has its own
too), duplicate keys reported with both lines (a key that overrides a ``<<`` merge is not a
duplicate), and no implicit timestamps (dates stay the strings the author wrote).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_BYTES = 1024 * 1024
MAX_NODES = 50_000
MAX_DEPTH = 64
MAX_ISSUES = 20  # per file; the rest are counted in one summary line

Path = tuple[str | int, ...]
MERGE_TAG = "tag:yaml.org,2002:merge"
STR_TAG = "tag:yaml.org,2002:str"


# libyaml's parser when PyYAML has it (about 4x faster), the pure-Python one otherwise.
_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):
    """SafeLoader without the timestamp resolver: '2016-01-01T00:00Z' stays a string."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class YamlIssue:
    line: int
    column: int
    path: Path
    message: str
    more: int = 0  # the summary issue: how many were not recorded


@dataclass
class Document:
    value: Any
    line: int
    column: int
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path, key: bool = False) -> tuple[int, int]:
        """Position of the node at ``path`` (its key when ``key``), else of its nearest ancestor."""
        table = self.key_positions if key else self.positions
        for i in range(len(path), -1, -1):
            found = table.get(path[:i]) or self.positions.get(path[:i])
            if found:
                return found
        return (self.line, self.column)


class _TooBig(Exception):
    pass


def load_documents(data: bytes) -> tuple[list[Document], list[YamlIssue]]:
    """All documents of a YAML stream; issues instead of exceptions."""
    if len(data) > MAX_BYTES:
        return [], [YamlIssue(1, 1, (), f"file is larger than {MAX_BYTES // 1024 // 1024} MiB")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        return [], [YamlIssue(line, 1, (), "file is not valid UTF-8 text")]
    if "\x00" in text:
        return [], [YamlIssue(1, 1, (), "file contains NUL bytes: not a YAML text file")]
    docs: list[Document] = []
    issues: list[YamlIssue] = []
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            doc = Document(None, node.start_mark.line + 1, node.start_mark.column + 1)
            builder = _Builder(loader, doc, issues)
            doc.value = builder.build(node, (), 0)
            docs.append(doc)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        issues.append(YamlIssue(line, col, (), f"YAML syntax error: {e.problem or e.context}"))
    except yaml.YAMLError as e:
        issues.append(YamlIssue(1, 1, (), f"YAML error: {str(e).splitlines()[0]}"))
    except _TooBig as e:
        issues.append(YamlIssue(1, 1, (), str(e)))
    except RecursionError:
        issues.append(YamlIssue(1, 1, (), f"document is nested more than {MAX_DEPTH} levels deep"))
    finally:
        if loader is not None:
            loader.dispose()
    return docs, issues


class _Builder:
    def __init__(self, loader: _Loader, doc: Document, issues: list[YamlIssue]):
        self.loader, self.doc, self.issues, self.nodes = loader, doc, issues, 0

    def issue(self, issue: YamlIssue) -> None:
        """Record an issue; past MAX_ISSUES in a file only count them (50,000 duplicate keys are
        one summary line, not 50,000 problems in every plan and sync record)."""
        issues = self.issues
        if len(issues) < MAX_ISSUES:
            issues.append(issue)
            return
        if len(issues) == MAX_ISSUES:
            issues.append(YamlIssue(issue.line, issue.column, (), "", more=0))
        issues[-1].more += 1
        issues[-1].message = f"... and {issues[-1].more} more YAML problems"

    def build(self, node: yaml.Node, path: Path, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig(f"document expands to more than {MAX_NODES} nodes (alias bomb?)")
        if depth > MAX_DEPTH:
            raise _TooBig(f"document is nested more than {MAX_DEPTH} levels deep")
        self.doc.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*path, i), depth + 1) for i, child in enumerate(node.value)]
        if node.tag == STR_TAG:  # what SafeConstructor's str constructor returns, without its bookkeeping
            return node.value
        try:
            return self.loader.construct_object(node, deep=True)
        except ValueError:  # int() of more than sys.get_int_max_str_digits() digits (found by fuzzing)
            line, col = node.start_mark.line + 1, node.start_mark.column + 1
            self.issue(YamlIssue(line, col, path, f"the number {_short(node.value)} is too long to read"))
            return None

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict[Any, Any]:
        """Keys in order; ``<<`` merges first so that the mapping's own keys override them."""
        merges = [v for k, v in node.value if k.tag == MERGE_TAG]
        out: dict[Any, Any] = {}
        for source in merges:
            for key, value in self._merged(source, path, depth).items():
                out.setdefault(key, value)  # the first merged mapping wins (YAML merge key spec)
        self.doc.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self.build(key_node, (*path, "<key>"), depth + 1)
            line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if not isinstance(key, str | int | float) or isinstance(key, bool):
                self.issue(YamlIssue(line, col, path, f"mapping key {_short(key)} must be a string"))
                continue
            key = str(key)
            if key in seen:
                self.issue(
                    YamlIssue(line, col, (*path, key), f"duplicate key {key!r} (first defined on line {seen[key]})")
                )
                continue
            seen[key] = line
            self.doc.key_positions[(*path, key)] = (line, col)
            out[key] = self.build(value_node, (*path, key), depth + 1)
        return out

    def _merged(self, source: yaml.Node, path: Path, depth: int) -> dict[Any, Any]:
        """The mapping(s) a ``<<`` key merges in; each counts against the node budget."""
        nodes = source.value if isinstance(source, yaml.SequenceNode) else [source]
        out: dict[Any, Any] = {}
        for item in nodes:
            if not isinstance(item, yaml.MappingNode):
                line, col = item.start_mark.line + 1, item.start_mark.column + 1
                self.issue(YamlIssue(line, col, path, "<< (merge) needs a mapping or a list of mappings"))
                continue
            for key, value in self.build(item, path, depth + 1).items():
                out.setdefault(key, value)
        return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
