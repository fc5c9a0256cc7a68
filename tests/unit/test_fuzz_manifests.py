"""Fuzzing the manifest loader and validator at the text level (test_manifest_hostile.py mutates
parsed documents): the real example manifests, mutated as a person or a broken tool would
(deleted and duplicated lines, wrong indentation, tabs, unicode, huge numbers, anchors and
aliases, merge keys, tags, truncation), plus alias and nesting bombs.

For every input: no exception escapes, every problem names ``file:line:column`` inside the file
and is one line, the answer comes in bounded time and memory, and the incremental ``Loader`` (what
the sync process runs) gives exactly what ``load_documents`` gives.

``CRONPLANE_FUZZ_EXAMPLES`` sets the number of examples per property (default 60, what
``make test`` runs; ``make chaos`` can run thousands).
"""

from __future__ import annotations

import os
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.core.loader import Loader
from controller.core.quota import LoadResult, load_documents

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
EXAMPLES = int(os.environ.get("CRONPLANE_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a loaded 2-core machine; the time bound is asserted per input instead
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("CRONPLANE_FUZZ_RANDOM") != "1",  # make test is reproducible
)
SECONDS_PER_FILE = 20.0  # generous: the worst valid rrule evaluation is ~0.3 s (benchmarks)
MEMORY_PER_FILE = 200 * 2**20  # traced allocations while loading one mutated file

MANIFESTS = {p.name: p.read_text() for p in sorted((ROOT / "manifests").glob("*.yaml"))}
SNIPPETS = [
    "\t",
    "  ",
    ": ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!python/object:os.system ",
    "!!binary ",
    "!custom ",
    "? ",
    "|\n",
    ">-\n",
    "'",
    '"',
    "#",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "\u202e",
    "\ufeff",
    "\u00e9",
    "\U0001f600",
    "\u200b",
    "\x85",
    "\r",
    "\x7f",
    "9" * 400,
    "1e999",
    "-0x7fffffffffffffff",
    ".nan",
    "~",
    "null",
    "yes",
    "2016-02-30T25:61:61Z",
    "P99999999999Y",
    "FREQ=SECONDLY;BYMONTH=2",
    "valueFrom: {env: X}",
    "kind: JobCollection\n",
    "apiVersion: cronplane/v2\n",
]


def check(files: dict[str, bytes], result: LoadResult) -> None:
    for p in [*result.problems, *result.warnings]:
        assert p.path in files, p
        lines = files[p.path].count(b"\n") + 1
        assert 1 <= p.line <= lines + 1 and p.column >= 1, (str(p), lines)
        text = str(p)
        assert "\n" not in text and "Traceback" not in text and text.startswith(f"{p.path}:{p.line}:{p.column}: ")


def load_bounded(files: dict[str, bytes]) -> LoadResult:
    """``load_documents`` under a time and a traced-memory bound, with the checks above."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = load_documents(files, NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    assert elapsed < SECONDS_PER_FILE, elapsed
    assert peak < MEMORY_PER_FILE, peak
    check(files, result)
    return result


@st.composite
def mutated_file(draw: st.DrawFn) -> tuple[str, str]:
    """(example manifest's name, its text mutated 1-4 times)."""
    name = draw(st.sampled_from(sorted(MANIFESTS)))
    return name, draw(mutations(MANIFESTS[name]))


def mutated() -> st.SearchStrategy[str]:
    return mutated_file().map(lambda pair: pair[1])


@st.composite
def mutations(draw: st.DrawFn, text: str) -> str:
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split("\n")
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        kind = draw(
            st.sampled_from(["insert", "delete-line", "dup-line", "indent", "dedent", "cut", "replace", "swap"])
        )
        if kind == "insert":
            col = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:col] + draw(st.sampled_from(SNIPPETS)) + lines[i][col:]
        elif kind == "delete-line" and len(lines) > 1:
            del lines[i]
        elif kind == "dup-line":
            lines.insert(i, lines[i])
        elif kind == "indent":
            lines[i] = " " * draw(st.integers(1, 9)) + lines[i]
        elif kind == "dedent":
            lines[i] = lines[i].lstrip()
        elif kind == "cut":
            return "\n".join(lines)[: draw(st.integers(0, len(text)))]
        elif kind == "replace" and ":" in lines[i]:
            key, _, _ = lines[i].partition(":")
            lines[i] = f"{key}: {draw(st.sampled_from(SNIPPETS))}"
        elif kind == "swap" and len(lines) > 1:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        text = "\n".join(lines)
    return text


@FUZZ
@given(mutated())
def test_mutated_manifest_text_gives_located_problems_never_an_exception(text: str) -> None:
    load_bounded({"m.yaml": text.encode("utf-8", "surrogatepass")})


@settings(FUZZ, max_examples=max(10, EXAMPLES // 4))  # each step loads every example manifest twice
@given(st.lists(mutated(), min_size=2, max_size=4))
def test_the_incremental_loader_answers_as_load_documents_over_edit_sequences(texts: list[str]) -> None:
    loader = Loader()
    files = {f"{n}.yaml": MANIFESTS[n].encode() for n in sorted(MANIFESTS)}
    for i, text in enumerate(texts):
        files[f"{sorted(MANIFESTS)[i % len(MANIFESTS)]}.yaml"] = text.encode("utf-8", "surrogatepass")
        expected = load_documents(files, NOW)
        got = loader.load(dict(files), NOW)
        assert [str(p) for p in got.problems] == [str(p) for p in expected.problems]
        assert [(str(j.key), j.spec.spec_hash, j.source) for j in got.jobs] == [
            (str(j.key), j.spec.spec_hash, j.source) for j in expected.jobs
        ]
        check(files, got)


@FUZZ
@given(st.text(st.characters(codec="utf-8"), max_size=400))
def test_random_unicode_text(text: str) -> None:
    load_bounded({"u.yaml": text.encode("utf-8", "surrogatepass")})


def bomb(levels: int, width: int) -> str:
    lines = ["a0: &a0 [x]"]
    for n in range(1, levels):
        lines.append(f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * width)}]")
    return "\n".join(lines) + f"\napiVersion: cronplane/v1\nkind: Job\nmetadata: {{name: j}}\nspec: *a{levels - 1}\n"


def merge_bomb(levels: int) -> str:
    lines = ["b0: &b0 {k0: 1}"]
    for n in range(1, levels):
        lines.append(f"b{n}: &b{n} {{<<: [*b{n - 1}, *b{n - 1}, *b{n - 1}], k{n}: {n}}}")
    return "\n".join(lines) + f"\nspec: *b{levels - 1}\n"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (bomb(10, 10), "alias"),  # "billion laughs": 10^9 nodes if expanded
        (bomb(30, 2), "alias"),
        (merge_bomb(25), ""),
        ("a: " + "[" * 5000 + "]" * 5000, "nest"),
        ("a: " + "{b: " * 3000 + "1" + "}" * 3000, "nest"),
        ("- " * 3000 + "x", ""),
        ("&a [*a]", ""),  # an alias to itself (a recursive structure)
        ("a: !!binary " + "A" * 500_000, ""),
        ("x: " + "9" * 500_000, ""),
        ("key: value\n" * 60_000, "more yaml problems"),  # duplicate keys galore, under the size cap
        ("---\n1\n" * 30_000, "more problems in this file"),  # 30,000 documents that are not manifests
        ("---\nkind: X\n" * 20_000, "more problems in this file"),
    ],
    ids=[
        "billion-laughs",
        "deep-aliases",
        "merge-bomb",
        "nested-lists",
        "nested-maps",
        "nested-seq",
        "self-alias",
        "binary",
        "huge-int",
        "dup-keys",
        "many-scalars",
        "many-kinds",
    ],
)
def test_bombs_are_bounded(text: str, fragment: str) -> None:
    files = {"bomb.yaml": text.encode()}
    result = load_bounded(files)
    assert result.problems, "a bomb must be refused with a problem"
    assert len(result.problems) <= 60  # capped per document and per file, with a summary line
    if fragment:
        assert any(fragment in p.message.lower() for p in result.problems), [str(p) for p in result.problems]


def test_every_example_manifest_is_valid_and_the_fuzzer_starts_from_them() -> None:
    files = {n: t.encode() for n, t in MANIFESTS.items()}
    result = load_documents(files, NOW)
    assert not result.problems and len(result.jobs) > 10
