"""A small typed Python client for cronplane's REST API (``cronplane serve``).

    from controller.client import Client

    with Client("http://127.0.0.1:8080", token="...") as cp:
        cp.put_collection("ops", {"properties": {"sku": {"name": "Standard"}}})
        cp.put_job("ops", "nightly", "manifests/nightly.yaml")        # a manifest file, or a dict
        cp.patch_job("ops", "nightly", {"properties": {"state": "Disabled"}})
        cp.run("ops", "nightly", reason="after the fix")
        for entry in cp.iter_history("ops", "nightly", status="Failed"):
            print(entry["properties"]["startTime"], entry["properties"]["message"])
        cp.suspend("ops", "nightly", "1h", reason="incident 42")
        cp.delete_job("ops", "nightly")

Every method returns the API's JSON (Azure's shapes: ``{id, type, name, properties, cronplane}``);
an error answer raises ``ApiError`` with the status, Azure error code, message and details.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypedDict

import httpx
import yaml


class Resource(TypedDict, total=False):
    id: str
    type: str
    name: str
    location: str
    properties: dict[str, Any]
    cronplane: dict[str, Any]


class Page(TypedDict):
    value: list[Resource]
    nextLink: str | None


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]]):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details


def job_body(definition: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """A PUT body from an Azure job definition (dict) or a cronplane manifest (dict or file)."""
    doc: Any = definition
    if isinstance(definition, str | Path):
        doc = yaml.safe_load(Path(definition).read_text())
    if not isinstance(doc, Mapping):
        raise ValueError("a job definition is a mapping (Azure JSON or a cronplane manifest)")
    if doc.get("kind") == "Job":
        body: dict[str, Any] = {"properties": dict(doc.get("spec") or {})}
        labels = (doc.get("metadata") or {}).get("labels")
        if labels:
            body["tags"] = dict(labels)
        return body
    return dict(doc)


class Client:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        subscription: str = "local",
        resource_group: str = "local",
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout, transport=transport)
        self.arm = f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Scheduler"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                error = response.json().get("error", {})
            except ValueError:
                error = {}
            raise ApiError(
                response.status_code,
                str(error.get("code", "Error")),
                str(error.get("message", response.text[:200])),
                list(error.get("details") or []),
            )
        return response.json() if response.content else None

    def _coll(self, collection: str) -> str:
        return f"{self.arm}/jobCollections/{collection}"

    def _job(self, collection: str, name: str) -> str:
        return f"{self._coll(collection)}/jobs/{name}"

    # --- collections ---------------------------------------------------------------------------
    def list_collections(self) -> Page:
        return self._call("GET", f"{self.arm}/jobCollections")

    def get_collection(self, collection: str) -> Resource:
        return self._call("GET", self._coll(collection))

    def put_collection(self, collection: str, body: Mapping[str, Any]) -> Resource:
        return self._call("PUT", self._coll(collection), json=dict(body))

    def patch_collection(self, collection: str, body: Mapping[str, Any]) -> Resource:
        return self._call("PATCH", self._coll(collection), json=dict(body))

    def delete_collection(self, collection: str) -> None:
        self._call("DELETE", self._coll(collection))

    def enable(self, collection: str) -> None:
        self._call("POST", f"{self._coll(collection)}/enable")

    def disable(self, collection: str) -> None:
        self._call("POST", f"{self._coll(collection)}/disable")

    # --- jobs ----------------------------------------------------------------------------------
    def list_jobs(self, collection: str, *, top: int = 100, skip: int = 0, state: str | None = None) -> Page:
        params: dict[str, Any] = {"$top": top, "$skip": skip}
        if state:
            params["$filter"] = f"state eq '{state}'"
        return self._call("GET", f"{self._coll(collection)}/jobs", params=params)

    def get_job(self, collection: str, name: str) -> Resource:
        return self._call("GET", self._job(collection, name))

    def put_job(self, collection: str, name: str, definition: Mapping[str, Any] | str | Path) -> Resource:
        return self._call("PUT", self._job(collection, name), json=job_body(definition))

    def patch_job(self, collection: str, name: str, patch: Mapping[str, Any]) -> Resource:
        return self._call("PATCH", self._job(collection, name), json=dict(patch))

    def delete_job(self, collection: str, name: str) -> None:
        self._call("DELETE", self._job(collection, name))

    def run(self, collection: str, name: str, reason: str = "") -> dict[str, Any]:
        return self._call("POST", f"{self._job(collection, name)}/run", json={"reason": reason})

    def suspend(self, collection: str, name: str, length: str, reason: str) -> dict[str, Any]:
        body = {"for": length, "reason": reason}
        return self._call("POST", f"{self._job(collection, name)}/suspend", json=body)

    def resume(self, collection: str, name: str) -> dict[str, Any]:
        return self._call("POST", f"{self._job(collection, name)}/resume")

    def history(self, collection: str, name: str, *, top: int = 100, skip: int = 0, status: str | None = None) -> Page:
        params: dict[str, Any] = {"$top": top, "$skip": skip}
        if status:
            params["$filter"] = f"status eq '{status}'"
        return self._call("GET", f"{self._job(collection, name)}/history", params=params)

    def iter_history(
        self, collection: str, name: str, *, status: str | None = None, page: int = 100
    ) -> Iterator[Resource]:
        """Every history entry, newest first, page by page."""
        skip = 0
        while True:
            result = self.history(collection, name, top=page, skip=skip, status=status)
            yield from result["value"]
            if not result["nextLink"]:
                return
            skip += page
