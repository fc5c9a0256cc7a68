"""No input escapes as an exception: mutated real manifests, YAML-shaped noise, random bytes.

Random bytes rarely get past the YAML parser, so the main fuzzer starts from the example
manifests and swaps one node for a tricky value (out-of-range dates, bad durations, impossible
rrules, huge numbers, control characters...). That reaches the rules, the quota checks and the
model constructors with inputs the schema accepts.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.core.quota import load_documents
from controller.core.yamlpos import load_documents as load_yaml

SCALE = int(os.environ.get("CRONPLANE_FUZZ_EXAMPLES", "60")) / 60  # make chaos runs more

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # a DST change in Europe within the sampled window
TRICKY: list[Any] = [
    None,
    True,
    0,
    -1,
    1001,
    2**70,
    1.5,
    float("inf"),
    "",
    " ",
    "x" * 3000,
    "\x00",
    "\u202e",
    "\r\n",
    "00:99:00",
    "99.23:59:59",
    "P0D",
    "PT0S",
    "P99999999Y",
    "PT0.5S",
    "9998-12-31T23:59:59-12:00",
    "1970-01-01T00:00:00+14:00",
    "1970-01-01",
    "2016-02-29",
    "2016-02-30",
    "2026-03-29T02:30:00",
    "FREQ=SECONDLY",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31",
    "FREQ=MINUTELY;BYSECOND=99",
    "RRULE:FREQ=DAILY;COUNT=1",
    "FREQ=MONTHLY;BYDAY=5FR",
    "* * * * *",
    "0 0 31 2 *",
    "61 * * * *",
    "@hourly",
    "Europe/Berlin",
    "Etc/GMT+14",
    "../zoneinfo",
    "http://",
    "https://x.test:0/",
    "http://[::1/",
    "monday",
    "Month",
    "Fixed",
    "second",
    [],
    [0],
    [-31],
    [99],
    ["sunday"] * 8,
    [{"day": "friday", "occurrence": 5}],
    {},
    {"valueFrom": {"env": "X"}},
    {"valueFrom": {}},
    {"frequency": "month", "interval": 18},
    {"frequency": "minute", "schedule": {"minutes": [0, 1]}},
    {"<<": 1},
]


def _examples() -> list[Any]:
    out = []
    for path in sorted((ROOT / "manifests").glob("*.yaml")):
        docs, _ = load_yaml(path.read_bytes())
        out += [d.value for d in docs if d.value is not None]
    return out


EXAMPLES = _examples()
COLLECTIONS = [d for d in EXAMPLES if d["kind"] == "JobCollection"]  # so mutated jobs reach the quota checks


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: (_replace(v, rest, new) if k == head else v) for k, v in value.items()}
    return [(_replace(v, rest, new) if i == head else v) for i, v in enumerate(value)]


def _check(files: dict[str, bytes]) -> None:
    result = load_documents(files, NOW)
    for p in result.problems:
        assert p.path in files and p.line >= 1 and p.column >= 1 and "Traceback" not in p.message
        assert str(p).count("\n") == 0
    for job in result.jobs:
        assert job.spec.raw and job.source is not None


@settings(max_examples=int(400 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_examples_never_raise(data: st.DataObject) -> None:
    picked = data.draw(st.lists(st.sampled_from(EXAMPLES), min_size=1, max_size=2))
    docs = COLLECTIONS + picked
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(docs) - 1))
        path = data.draw(st.sampled_from(_paths(docs[i])))
        docs[i] = _replace(docs[i], path, data.draw(st.sampled_from(TRICKY)))
    text = yaml.safe_dump_all(docs, allow_unicode=True, sort_keys=False)
    _check({"m.yaml": text.encode("utf-8", "surrogatepass")})


TOKENS = [*":-{}[]&*!|>'\"#,?%@`\n\t abc019", "<<", "apiVersion: cronplane/v1\n", "kind: Job\n", "&a ", "*a", "---\n"]
YAMLISH = st.lists(st.sampled_from(TOKENS), max_size=120).map("".join)


@settings(max_examples=int(300 * SCALE), deadline=None)
@given(YAMLISH)
def test_yaml_shaped_noise_never_raises(text: str) -> None:
    _check({"n.yaml": text.encode()})


@settings(max_examples=int(200 * SCALE), deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    _check({"b.yaml": data})


def test_credentials_in_a_uri_are_refused_without_echoing_them() -> None:
    text = (
        "apiVersion: cronplane/v1\nkind: Job\nmetadata: {name: j}\nspec:\n"
        "  action: {type: http, request: {method: GET, uri: 'http://u:hunter2@example.test/'}}\n"
    )
    [problem] = load_documents({"m.yaml": text.encode()}, NOW).problems
    assert str(problem).startswith("m.yaml:5:52: action.request.uri: may not carry credentials")
    assert "hunter2" not in str(problem)


def test_a_number_too_long_for_python_is_a_located_problem() -> None:
    text = "apiVersion: cronplane/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  maxConcurrentCalls: " + "9" * 5000
    problems = [str(p) for p in load_documents({"m.yaml": text.encode()}, NOW).problems]
    assert any(p.startswith("m.yaml:5:23: maxConcurrentCalls: the number '999") for p in problems), problems
