"""The REST API against a real ``cronplane serve`` and redis-server: Azure shapes and status codes,
manifests written to the API-owned directory, validation messages, quotas, read-only sources,
secrets write-only, authentication roles, size and rate limits, probes and metrics."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from controller.cli import main
from tests.peers.rq_worker import ROOT
from tests.peers.serve import ARM, READ_TOKEN, Server, serving
from worker.contract import HistoryEntry, Keys

SECRET = "s3cr3t-value-never-returned"
READ_ONLY = """apiVersion: cronplane/v1
kind: JobCollection
metadata: {name: git-owned}
spec: {plan: standard}
---
apiVersion: cronplane/v1
kind: Job
metadata: {name: from-git, collection: git-owned}
spec:
  cron: "0 * * * *"
  action: {type: http, request: {method: GET, uri: "http://127.0.0.1:9/x"}}
---
apiVersion: cronplane/v1
kind: JobCollection
metadata: {name: hobby}
spec: {plan: free}
"""
COLLECTION = {"location": "West Europe", "properties": {"sku": {"name": "Standard"}, "state": "Enabled"}}


def azure_job(**overrides: object) -> dict[str, object]:
    """An Azure job definition as Azure's docs wrote it, the secret given as a reference."""
    props: dict[str, object] = {
        "startTime": "2026-01-01T00:00:00Z",
        "recurrence": {"frequency": "Hour", "interval": 1},
        "action": {
            "type": "Http",
            "request": {
                "method": "GET",
                "uri": "http://127.0.0.1:9/hook",
                "authentication": {
                    "type": "Basic",
                    "username": "u",
                    "password": {"valueFrom": {"env": "HOOK_PASSWORD"}},
                },
            },
            "retryPolicy": {"retryType": "Fixed", "retryInterval": "00:01:00", "retryCount": 2},
        },
        "state": "Enabled",
    }
    props.update(overrides)
    return {"properties": props}


@pytest.fixture
def server(redis_url: str, tmp_path: Path) -> Iterator[Server]:
    source = tmp_path / "git-manifests"
    source.mkdir()
    (source / "jobs.yaml").write_text(READ_ONLY)
    with serving(redis_url, tmp_path, manifests=[str(source)]) as s:
        yield s


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def coll(name: str = "ops") -> str:
    return f"{ARM}/jobCollections/{name}"


def test_put_get_list_patch_delete_round_trip(api: httpx.Client, server: Server) -> None:
    assert api.put(coll(), json=COLLECTION).status_code == 201
    assert api.put(coll(), json=COLLECTION).status_code == 200
    created = api.put(f"{coll()}/jobs/hourly", json=azure_job())
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == f"{ARM}/jobCollections/ops/jobs/hourly" and body["name"] == "ops/hourly"
    assert body["type"] == "Microsoft.Scheduler/jobCollections/jobs"
    auth = body["properties"]["action"]["request"]["authentication"]
    assert auth == {"type": "basic", "username": "u"}  # the password (even its reference) is write-only
    assert body["properties"]["action"]["retryPolicy"]["retryInterval"] == "00:01:00"
    assert body["properties"]["state"] == "enabled" and body["cronplane"]["apiOwned"] is True
    manifest = server.api_dir / "ops" / "hourly.yaml"
    assert "HOOK_PASSWORD" in manifest.read_text() and "kind: Job" in manifest.read_text()
    assert api.put(f"{coll()}/jobs/hourly", json=azure_job()).status_code == 200
    assert api.get(f"{coll()}/jobs/hourly").json()["properties"]["recurrence"]["frequency"] == "hour"
    api.put(f"{coll()}/jobs/off", json=azure_job(state="Disabled"))
    listed = api.get(f"{coll()}/jobs", params={"$filter": "state eq 'Enabled'"}).json()
    assert [j["name"] for j in listed["value"]] == ["ops/hourly"]
    page = api.get(f"{coll()}/jobs", params={"$top": 1}).json()
    assert len(page["value"]) == 1 and page["nextLink"]
    patched = api.patch(f"{coll()}/jobs/hourly", json={"properties": {"action": {"request": {"authentication": None}}}})
    assert patched.status_code == 200 and "authentication" not in patched.json()["properties"]["action"]["request"]
    assert "HOOK_PASSWORD" not in manifest.read_text()
    assert api.delete(f"{coll()}/jobs/hourly").status_code == 200
    assert not manifest.exists()
    assert api.get(f"{coll()}/jobs/hourly").status_code == 404
    assert api.delete(coll()).status_code == 409  # still holds "off"
    api.delete(f"{coll()}/jobs/off")
    assert api.delete(coll()).status_code == 200


def test_validation_answers_400_with_the_messages_of_validate(api: httpx.Client, tmp_path: Path) -> None:
    api.put(coll(), json=COLLECTION)
    bad = azure_job(recurrence={"frequency": "Month", "interval": 19})
    answer = api.put(f"{coll()}/jobs/bad", json=bad)
    assert answer.status_code == 400
    details = answer.json()["error"]["details"]
    # the same message as `cronplane validate` on the same manifest
    (tmp_path / "bad.yaml").write_text(
        (Path(tmp_path / "api-manifests" / "ops" / "_collection.yaml").read_text()) + "---\n"
    )
    import yaml

    from controller.api.shapes import job_manifest

    with (tmp_path / "bad.yaml").open("a") as f:
        f.write(yaml.safe_dump(job_manifest("ops", "bad", bad["properties"])))  # type: ignore[arg-type]
    out = subprocess.run(
        [sys.executable, "-m", "controller.cli", "validate", str(tmp_path / "bad.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    expected = {line.split(": ", 1)[1] for line in out.stdout.splitlines()}
    assert expected and {d["message"].split(": ", 1)[1] for d in details} == expected
    assert any("19 is above the maximum of 18" in d["message"] for d in details)
    assert not (tmp_path / "api-manifests" / "ops" / "bad.yaml").exists()
    missing = api.put(f"{coll()}/jobs/x", json={"properties": {"startTime": "2026-01-01T00:00:00Z"}})
    assert missing.status_code == 400 and missing.json()["error"]["details"][0]["target"] == "properties.action"
    assert api.put(f"{coll('nope')}/jobs/x", json=azure_job()).status_code == 404
    assert api.get(f"{coll()}/jobs", params={"$top": 101}).status_code == 400
    assert api.get(f"{coll()}/jobs", params={"$filter": "colour eq 'red'"}).status_code == 400
    assert api.put(f"{ARM}/jobCollections/Bad_Name/jobs/x", json=azure_job()).status_code == 400


def test_quota_409_and_read_only_sources_409_naming_the_file(api: httpx.Client) -> None:
    minute = azure_job(recurrence={"frequency": "Minute", "interval": 1})
    minute["properties"]["action"]["request"].pop("authentication")  # type: ignore[index]
    rejected = api.put(f"{coll('hobby')}/jobs/too-often", json=minute)
    assert rejected.status_code == 409
    assert "allows at most once every 1 hour (plan free)" in rejected.text
    for verb in ("put", "delete"):
        answer = api.request(verb, f"{coll('git-owned')}/jobs/from-git", json=azure_job() if verb == "put" else None)
        assert answer.status_code == 409 and "jobs.yaml:6" in answer.json()["error"]["message"]
    assert api.put(coll("git-owned"), json=COLLECTION).status_code == 409


def test_inline_secrets_are_refused_and_never_echoed(api: httpx.Client, server: Server) -> None:
    api.put(coll(), json=COLLECTION)
    inline = azure_job()
    inline["properties"]["action"]["request"]["authentication"]["password"] = SECRET  # type: ignore[index]
    answer = api.put(f"{coll()}/jobs/leaky", json=inline)
    assert answer.status_code == 400 and "inline secrets are not allowed" in answer.text
    assert SECRET not in answer.text
    assert not list(server.api_dir.rglob("leaky*"))
    queue = azure_job(
        action={
            "type": "StorageQueue",
            "queueMessage": {
                "storageAccount": "a",
                "queueName": "q",
                "sasToken": {"valueFrom": {"env": "SAS"}},
                "message": "m",
            },
        }
    )
    body = api.put(f"{coll()}/jobs/queue", json=queue).json()
    assert "sasToken" not in body["properties"]["action"]["queueMessage"]
    everything = " ".join(
        api.get(p).text for p in (f"{coll()}/jobs", f"{coll()}/jobs/queue", "/api/v1/overview", "/api/v1/plan")
    )
    assert "SAS" not in everything.replace("SASL", "") and "HOOK_PASSWORD" not in everything
    assert SECRET not in server.log.read_text()


def test_roles_and_tokens(server: Server) -> None:
    with server.client(None) as anonymous, server.client(READ_TOKEN) as reader, server.client("x" * 30) as wrong:
        assert anonymous.get(f"{ARM}/jobCollections").status_code == 401
        assert anonymous.get(f"{ARM}/jobCollections").headers["www-authenticate"] == "Bearer"
        assert wrong.get(f"{ARM}/jobCollections").status_code == 401
        assert reader.get(f"{ARM}/jobCollections").status_code == 200
        denied = reader.put(coll(), json=COLLECTION)
        assert denied.status_code == 403 and "may read but not write" in denied.text
        assert reader.get("/api/v1/whoami").json() == {"name": "read-token-1", "role": "read", "authRequired": True}
        assert anonymous.get("/healthz").status_code == 200 and anonymous.get("/readyz").json()["status"] == "ok"
        assert anonymous.get("/metrics").status_code == 401
        metrics = reader.get("/metrics").text
        assert "cronplane_leader_present" in metrics and "cronplane_queue_depth" in metrics
        assert anonymous.get("/").status_code == 200 and "cronplane" in anonymous.get("/").text


def test_size_and_rate_limits(redis_url: str, tmp_path: Path) -> None:
    with (
        serving(redis_url, tmp_path, extra_args=["--rate", "1", "--burst", "6", "--max-body", "2048"]) as s,
        s.client() as api,
    ):
        huge = api.put(coll(), content=b"{" + b" " * 4096 + b"}", headers={"content-type": "application/json"})
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "RequestTooLarge"
        codes = [api.get(f"{ARM}/jobCollections").status_code for _ in range(10)]
        assert 429 in codes and codes[0] == 200
        limited = api.get(f"{ARM}/jobCollections")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_refuses_to_listen_beyond_loopback_without_tokens(
    redis_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("CRONPLANE_API_ADMIN_TOKENS", "CRONPLANE_API_READ_TOKENS"):
        monkeypatch.delenv(var, raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--redis-url", redis_url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refusing to listen on 0.0.0.0 without API tokens" in err
    monkeypatch.setenv("CRONPLANE_API_ADMIN_TOKENS", "short")
    assert main(["serve", "--redis-url", redis_url]) == 2
    assert "shorter than 16 characters" in capsys.readouterr().err


def test_history_filters_by_every_status_a_worker_writes(api: httpx.Client, redis_url: str) -> None:
    """abandoned (a worker died mid-call) and interrupted (handed back at shutdown) too."""
    assert api.put(coll(), json=COLLECTION).status_code in (200, 201)
    assert api.put(f"{coll()}/jobs/h", json=azure_job()).status_code in (200, 201)
    r = redis.Redis.from_url(redis_url)
    for i, status in enumerate(("abandoned", "completed", "interrupted")):
        entry = HistoryEntry(
            job="ops/h",
            invocation_id=f"ops_h-{i}",
            expected_execution_time="2026-12-02T00:00:00Z",
            start_time=f"2026-12-02T00:00:0{i}Z",
            end_time=f"2026-12-02T00:00:0{i}Z",
            action_name="mainAction",
            status=status,  # type: ignore[arg-type]
            retry_count=0,
            repeat_count=1,
            message="",
        )
        r.zadd(Keys("cp").history("ops/h"), {entry.to_json(): time.time() * 1000 + i})
    for status in ("Abandoned", "Interrupted", "Completed"):
        found = api.get(f"{coll()}/jobs/h/history", params={"$filter": f"status eq '{status}'"})
        assert found.status_code == 200, found.text
        assert [h["properties"]["status"].lower() for h in found.json()["value"]] == [status.lower()]
