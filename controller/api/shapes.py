"""Azure's management-API JSON shapes (reference §8.1, §1.2–§1.4) ↔ cronplane manifests. Pure.

A job resource is ``{id, type, name, properties}`` where ``properties`` is the manifest's
``spec`` (the same field names, so an Azure job definition can be PUT unchanged once its
secrets are references); a collection is ``{id, type, name, location, properties: {sku, state,
quota}}``. cronplane's own read-only facts (condition, source file:line, git SHA, next runs,
overrides) travel in a top-level ``cronplane`` object, which a PUT ignores.

Secrets are write-only (reference §9 E): ``redact`` drops every secret reference
(``{valueFrom: ...}``) and every field Azure never returned (password, pfx, secret, sasToken,
sasKey, connection strings, PEM material) from anything that leaves the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker.contract import HistoryEntry

PROVIDER = "Microsoft.Scheduler"
SECRET_FIELDS = frozenset(
    {"password", "pfx", "secret", "sasToken", "sasKey", "connectionString", "certificate", "privateKey"}
)
AZURE_STATUS = ("executionCount", "failureCount", "faultedCount", "lastExecutionTime", "nextExecutionTime")
HISTORY_STATUS = {"completed": "Completed", "failed": "Failed", "postponed": "Postponed"}
HISTORY_STATUS.update(missed="Missed", skipped="Skipped")


def redact(value: Any) -> Any:
    """A copy without secrets: secret fields and secret references vanish (write-only)."""
    if isinstance(value, Mapping):
        return {
            k: redact(v)
            for k, v in value.items()
            if k not in SECRET_FIELDS and not (isinstance(v, Mapping) and "valueFrom" in v)
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: ``null`` removes a field (Azure: ``authentication: null``)."""
    if not isinstance(patch, Mapping):
        return patch
    out = dict(target) if isinstance(target, Mapping) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def collection_id(base: str, collection: str) -> str:
    return f"{base}/providers/{PROVIDER}/jobCollections/{collection}"


def job_id(base: str, collection: str, name: str) -> str:
    return f"{collection_id(base, collection)}/jobs/{name}"


def job_manifest(collection: str, name: str, properties: Mapping[str, Any], labels: Any = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "collection": collection}
    if labels:
        metadata["labels"] = dict(labels)
    spec = {k: v for k, v in properties.items() if k != "status"}
    return {"apiVersion": "cronplane/v1", "kind": "Job", "metadata": metadata, "spec": spec}


def collection_manifest(name: str, body: Mapping[str, Any]) -> dict[str, Any]:
    props = body.get("properties") or {}
    spec: dict[str, Any] = {}
    if props.get("state") is not None:
        spec["state"] = props["state"]
    sku = props.get("sku") or {}
    if isinstance(sku, Mapping) and sku.get("name") is not None:
        spec["plan"] = sku["name"]
    if props.get("quota") is not None:
        spec["quota"] = props["quota"]
    if body.get("location") is not None:
        spec["region"] = body["location"]
    metadata: dict[str, Any] = {"name": name}
    if body.get("tags"):
        metadata["labels"] = body["tags"]
    return {"apiVersion": "cronplane/v1", "kind": "JobCollection", "metadata": metadata, "spec": spec}


def job_state(spec: Mapping[str, Any], condition: str) -> str:
    """Azure's job state: enabled | disabled, or the final completed | faulted."""
    if condition in ("Completed", "Faulted"):
        return condition.lower()
    return str(spec.get("state", "enabled"))


def job_resource(
    base: str, key: str, spec: Mapping[str, Any], status: Mapping[str, str], extras: Mapping[str, Any]
) -> dict[str, Any]:
    collection, name = key.split("/", 1)
    props = redact(spec)
    props["state"] = job_state(spec, str(extras.get("condition", "")))
    azure_status = {k: _number(status[k]) for k in AZURE_STATUS if k in status}
    if azure_status:
        props["status"] = azure_status
    return {
        "id": job_id(base, collection, name),
        "type": f"{PROVIDER}/jobCollections/jobs",
        "name": f"{collection}/{name}",
        "properties": props,
        "cronplane": dict(extras),
    }


def collection_resource(base: str, name: str, spec: Mapping[str, Any], extras: Mapping[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {
        "sku": {"name": str(spec.get("plan", "standard"))},
        "state": str(spec.get("state", "enabled")),
    }
    if spec.get("quota"):
        props["quota"] = redact(spec["quota"])
    return {
        "id": collection_id(base, name),
        "type": f"{PROVIDER}/jobCollections",
        "name": name,
        "location": str(spec.get("region", "local")),
        "properties": props,
        "cronplane": dict(extras),
    }


def history_resource(base: str, entry: HistoryEntry) -> dict[str, Any]:
    collection, name = entry.job.split("/", 1)
    history_id = f"{entry.invocation_id}-{entry.action_name}-{entry.retry_count}"
    props: dict[str, Any] = {
        "startTime": entry.start_time,
        "endTime": entry.end_time,
        "expectedExecutionTime": entry.expected_execution_time,
        "actionName": entry.action_name,
        "status": HISTORY_STATUS.get(entry.status, entry.status.title()),
        "message": entry.message,
        "retryCount": entry.retry_count,
        "repeatCount": entry.repeat_count,
    }
    extras: dict[str, Any] = {"invocationId": entry.invocation_id, "gitSha": entry.git_sha}
    if entry.trigger:
        extras["trigger"] = dict(entry.trigger)
    return {
        "id": f"{job_id(base, collection, name)}/history/{history_id}",
        "type": f"{PROVIDER}/jobCollections/jobs/history",
        "name": f"{collection}/{name}/{history_id}",
        "properties": props,
        "cronplane": extras,
    }


def _number(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text
