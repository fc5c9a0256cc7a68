"""The whole system for end-to-end tests: a real redis-server, ``cronplane controller`` (watching a
manifests directory and the API-owned one), ``cronplane worker``, ``cronplane serve`` and an HTTP
target. Jobs are created through the API, as an operator would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from tests.peers.rq_worker import running_worker, wait_until
from tests.peers.serve import ARM, Server, controlling, serving

COLLECTION = """apiVersion: cronplane/v1
kind: JobCollection
metadata: {name: ops}
spec: {plan: standard, quota: {maxRecurrence: {frequency: second, interval: 1}, minRetryInterval: PT1S}}
"""


@dataclass
class System:
    server: Server
    api: httpx.Client
    redis_url: str
    target: HTTPServer
    workdir: Path

    def job_url(self, name: str) -> str:
        return f"{ARM}/jobCollections/ops/jobs/{name}"

    def put_job(self, name: str, **props: Any) -> dict[str, Any]:
        body = {
            "properties": {
                "action": {
                    "type": "Http",
                    "request": {"method": "POST", "uri": self.target.url_for(f"/{name}")},
                    "retryPolicy": {"retryType": "None"},
                },
                **props,
            }
        }
        answer = self.api.put(self.job_url(name), json=body)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def synced(self, name: str, timeout: float = 60) -> dict[str, Any]:
        return wait_for(
            lambda: (j := self.api.get(self.job_url(name)).json())["cronplane"]["condition"] != "Pending" and j, timeout
        )

    def history(self, name: str, **params: Any) -> list[dict[str, Any]]:
        return self.api.get(f"{self.job_url(name)}/history", params=params).json()["value"]


def wait_for(condition: Callable[[], Any], timeout: float = 60.0) -> Any:
    return wait_until(condition, timeout, every=0.25)


@pytest.fixture
def system(redis_url: str, tmp_path: Path, httpserver: HTTPServer) -> Iterator[System]:
    httpserver.expect_request("/", method="POST").respond_with_data("ok")
    httpserver.no_handler_status_code = 200
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "collections.yaml").write_text(COLLECTION)
    api_dir = tmp_path / "api-manifests"
    api_dir.mkdir()
    with (
        serving(redis_url, tmp_path, manifests=[str(manifests)]) as server,
        controlling(redis_url, [str(manifests), str(api_dir)], tmp_path),
        running_worker(redis_url, log=tmp_path / "worker.log"),
        server.client() as api,
    ):
        yield System(server, api, redis_url, httpserver, tmp_path)
