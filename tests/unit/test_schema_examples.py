"""The schemas are valid 2020-12, the editor schema dispatches on kind, the examples cover the format."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from controller.core.normalize import normalize
from controller.core.schemas import SCHEMA_DIR, load_schemas
from controller.core.yamlpos import load_documents as load_yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "manifests").glob("*.yaml"))
EDITOR_COMMENT = "# yaml-language-server: $schema=../schemas/manifest.schema.json"


def editor_validator() -> Draft202012Validator:
    """manifest.schema.json with its relative $refs resolved the way an editor resolves them."""
    files = {p.name: json.loads(p.read_text()) for p in SCHEMA_DIR.glob("*.schema.json")}
    registry = Registry().with_resources((name, Resource.from_contents(s)) for name, s in files.items())
    return Draft202012Validator(files["manifest.schema.json"], registry=registry)


def documents() -> list[tuple[str, Any]]:
    out = []
    for path in EXAMPLES:
        docs, issues = load_yaml(path.read_bytes())
        assert issues == [], path
        out += [(f"{path.name}:{d.line}", d.value) for d in docs if d.value is not None]
    return out


@pytest.mark.parametrize("path", sorted(SCHEMA_DIR.glob("*.schema.json")), ids=lambda p: p.name)
def test_schema_files_are_valid_2020_12(path: Path) -> None:
    schema = json.loads(path.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_editor_schema_accepts_every_normalized_example() -> None:
    validator, schemas = editor_validator(), load_schemas()
    for where, doc in documents():
        schema = schemas[doc["kind"]]
        errors = [e.message for e in validator.iter_errors(normalize(doc, schema, schema))]
        assert errors == [], where


@pytest.mark.parametrize(
    "doc",
    [
        {"apiVersion": "cronplane/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {}},  # no action
        {"apiVersion": "cronplane/v1", "kind": "JobCollection", "metadata": {"name": "c", "collection": "x"}},
        {
            "apiVersion": "cronplane/v1",
            "kind": "JobCollection",
            "metadata": {"name": "c"},
            "spec": {"cron": "* * * * *"},
        },
        {
            "apiVersion": "cronplane/v1",
            "kind": "Job",
            "metadata": {"name": "Bad"},
            "spec": {"action": {"type": "http"}},
        },
    ],
)
def test_editor_schema_rejects_what_validate_rejects(doc: dict[str, Any]) -> None:
    assert list(editor_validator().iter_errors(doc))


def test_every_example_has_the_editor_comment() -> None:
    assert (ROOT / "schemas" / "manifest.schema.json").exists()
    for path in EXAMPLES:
        assert path.read_text().startswith(EDITOR_COMMENT), path.name


def test_examples_point_at_example_hosts_except_the_demo() -> None:
    for path in EXAMPLES:
        hosts = set(re.findall(r"https?://([^/:\"'\s]+)", path.read_text())) - {"management.core.windows.net"}
        assert hosts == ({"127.0.0.1"} if path.name == "demo.yaml" else {"example.test"}), path.name


COVERAGE = {
    "http action": "type: http",
    "https + basic": "type: basic",
    "https + client certificate (PFX)": "pfx:",
    "https + client certificate (PEM)": "privateKey:",
    "https + Azure AD OAuth": "type: activeDirectoryOAuth",
    "storage queue, Azure envelope": "sasToken: {valueFrom: {env: QUEUE_SAS}}",
    "storage queue, raw": "rawMessage: true",
    "service bus queue": "type: serviceBusQueue",
    "service bus topic": "type: serviceBusTopic",
    "error action": "errorAction:",
    "exponential retries": "retryType: exponential",
    "minutes": "minutes:",
    "hours": "hours:",
    "weekDays": "weekDays:",
    "negative monthDays": "monthDays: [1, -1]",
    "fifth weekday": "occurrence: 5",
    "every such weekday": "{day: sunday}",
    "count": "count:",
    "endTime": "endTime:",
    "interval > 1": "interval: 2",
    "one-time": "name: one-time",
    "one-time without startTime": "name: run-once-now",
    "no startTime": "name: hourly-no-start",
    "timeZone": "timeZone: Europe/Berlin",
    "cron": "cron:",
    "rrule FREQ=SECONDLY": "rrule: FREQ=SECONDLY",
    "dst": "dst: {gap: skip",
    "missedRunPolicy": "missedRunPolicy: latest",
    "concurrencyPolicy": "concurrencyPolicy: forbid",
    "startingDeadline": "startingDeadline:",
    "Azure spelling": "Occurrence: 1",
    "TimeSpan retryInterval": 'retryInterval: "00:01:00"',
    "free plan": "plan: free",
    "suspended collection with quotas": "state: suspended",
    "demo collection": "minRetryInterval: PT1S",
}


@pytest.mark.parametrize("feature", sorted(COVERAGE))
def test_examples_cover_the_format(feature: str) -> None:
    assert any(COVERAGE[feature] in p.read_text() for p in EXAMPLES), feature
