"""Normalization: Azure spellings are accepted and folded to the canonical spec; nothing else changes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from controller.core.manifest import parse_manifest
from controller.core.normalize import normalize
from controller.core.quota import load_documents
from controller.core.schemas import load_schemas
from controller.core.yamlpos import load_documents as load_yaml

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 1, 1, tzinfo=UTC)

AZURE_JOB = """apiVersion: cronplane/v1
kind: Job
metadata: {name: imported}
spec:
  State: Enabled
  startTime: 2016-01-01T09:00:00
  recurrence:
    Frequency: Month
    interval: 1
    schedule:
      Minutes: 5
      monthlyOccurrences: [{Day: Friday, Occurrence: 1}, {day: FRIDAY, Occurrence: -1}]
  action:
    type: Https
    request:
      method: post
      uri: https://example.test/azure
      headers: {Content-Type: application/json, x-Custom: A}
      authentication: {type: ClientCertificate, pfx: {valueFrom: {env: PFX}}, password: {valueFrom: {env: PFX_PASSWORD}}}
    retryPolicy: {retryType: Fixed, retryInterval: "00:01:00", retryCount: 2}
    errorAction:
      type: ServiceBusQueue
      serviceBusQueueMessage:
        namespace: contoso
        queueName: failures
        transportType: AMQP
        authentication: {type: SharedAccessKey, sasKeyName: send, sasKey: {valueFrom: {env: SB_KEY}}}
        message: failed
        customMessageProperties: {AppName: FromScheduler}
  status: {executionCount: 3, nextExecutionTime: "2016-02-05T09:05:00Z"}
"""


def test_azure_shaped_job_imports_without_reshaping() -> None:
    result = load_documents({"azure.yaml": AZURE_JOB.encode()}, NOW)
    assert result.problems == []
    raw = result.jobs[0].spec.raw
    assert raw["state"] == "enabled" and "status" not in raw
    assert raw["startTime"] == "2016-01-01T09:00:00"  # an unquoted YAML timestamp stays the text written
    assert raw["recurrence"]["frequency"] == "month"
    assert raw["recurrence"]["schedule"] == {
        "minutes": [5],
        "monthlyOccurrences": [{"day": "friday", "occurrence": 1}, {"day": "friday", "occurrence": -1}],
    }
    action = raw["action"]
    assert (action["type"], action["request"]["method"]) == ("https", "POST")
    assert action["request"]["headers"] == {"Content-Type": "application/json", "x-Custom": "A"}  # names kept
    assert action["request"]["authentication"]["type"] == "clientCertificate"
    assert action["retryPolicy"] == {"retryType": "fixed", "retryInterval": "00:01:00", "retryCount": 2}
    sb = action["errorAction"]["serviceBusQueueMessage"]
    assert (action["errorAction"]["type"], sb["transportType"], sb["authentication"]["type"]) == (
        "serviceBusQueue",
        "amqp",
        "sharedAccessKey",
    )
    assert sb["customMessageProperties"] == {"AppName": "FromScheduler"}  # free-form keys are not folded


def _schema_words() -> tuple[set[str], set[str]]:
    """Every enum/const string and every property name the schemas define."""
    enums: set[str] = set()
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            enums.update(v for v in node.get("enum", ()) if isinstance(v, str))
            if isinstance(node.get("const"), str):
                enums.add(node["const"])
            names.update(node.get("properties", {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for schema in load_schemas().values():
        walk(schema)
    return enums - {"cronplane/v1"}, names


def _recase(value: Any, enums: set[str], names: set[str], upper: bool) -> Any:
    flip = str.upper if upper else str.title
    if isinstance(value, dict):
        return {(flip(k) if k in names else k): _recase(v, enums, names, upper) for k, v in value.items()}
    if isinstance(value, list):
        return [_recase(v, enums, names, upper) for v in value]
    return flip(value) if isinstance(value, str) and value in enums else value


def _example_documents() -> Iterator[Any]:
    for path in sorted((ROOT / "manifests").glob("*.yaml")):
        docs, issues = load_yaml(path.read_bytes())
        assert issues == []
        yield from (d.value for d in docs if d.value is not None)


@pytest.mark.parametrize("upper", [True, False])
def test_every_enum_value_and_property_name_is_case_insensitive(upper: bool) -> None:
    enums, names = _schema_words()
    schemas = load_schemas()
    documents = list(_example_documents())
    assert len(documents) > 20
    for doc in documents:
        schema = schemas[doc["kind"]]
        canonical = normalize(doc, schema, schema)
        shouted = _recase(doc, enums, names - {"kind", "apiVersion"}, upper)
        assert normalize(shouted, schema, schema) == canonical, doc["metadata"]


def test_kind_is_case_insensitive_api_version_is_not() -> None:
    doc = "apiVersion: cronplane/v1\nkind: job\nmetadata: {name: j}\nspec: {action: {type: http, request: {method: GET, uri: 'http://x.test/'}}}\n"
    assert parse_manifest("m.yaml", doc.encode()).jobs
    bad = parse_manifest("m.yaml", doc.replace("cronplane/v1", "Cronplane/V1").encode())
    assert [str(p) for p in bad.problems] == ["m.yaml:1:13: apiVersion: must be cronplane/v1 (got 'Cronplane/V1')"]


def test_bare_scalars_become_lists_only_where_the_schema_wants_a_list_of_scalars() -> None:
    doc = "apiVersion: cronplane/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  recurrence: {frequency: week, schedule: {weekDays: Monday, hours: 5}}\n  action: {type: http, request: {method: GET, uri: 'http://x.test/'}}\n"
    job = parse_manifest("m.yaml", doc.encode()).jobs[0]
    assert job.spec.raw["recurrence"]["schedule"] == {"weekDays": ["monday"], "hours": [5]}
    occ = doc.replace("{weekDays: Monday, hours: 5}", "{monthlyOccurrences: {day: friday}}").replace("week", "month")
    problems = [str(p) for p in parse_manifest("m.yaml", occ.encode()).problems]
    column = occ.splitlines()[4].index("{day") + 1
    assert problems == [
        f"m.yaml:5:{column}: recurrence.schedule.monthlyOccurrences: must be of type array (got mapping)"
    ]


def test_normalized_spec_is_what_the_model_consumes() -> None:
    doc = (ROOT / "manifests" / "reports.yaml").read_bytes()
    parsed = parse_manifest("reports.yaml", doc)
    job = next(j for j in parsed.jobs if j.key.name == "nightly-report")
    assert job.spec.raw["startTime"] == "2016-01-01T00:00:00Z" and job.labels == {"team": "billing"}
    assert job.source is not None and (job.source.path, job.source.line) == ("reports.yaml", 11)
    assert str(job.key) == "reports/nightly-report"
