"""The Python client against a real ``cronplane serve``; the operator commands' answers to user
mistakes (one line, non-zero exit, no traceback); controller and worker /metrics and probes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from controller.client import ApiError, Client
from tests.peers.ports import free_port, stop_process, wait_for_port
from tests.peers.rq_worker import ROOT, wait_until
from tests.peers.serve import ADMIN_TOKEN, READ_TOKEN, env_for, serving

MANIFEST = """apiVersion: cronplane/v1
kind: Job
metadata: {name: nightly, collection: ops, labels: {team: billing}}
spec:
  cron: "0 3 * * *"
  action: {type: http, request: {method: GET, uri: "http://127.0.0.1:9/x", authentication: {type: basic, username: u, password: {valueFrom: {env: PW}}}}}
"""


def test_client_covers_the_api(redis_url: str, tmp_path: Path) -> None:
    (tmp_path / "nightly.yaml").write_text(MANIFEST)
    with serving(redis_url, tmp_path) as s, Client(s.url, ADMIN_TOKEN, subscription="s", resource_group="g") as cp:
        assert cp.put_collection("ops", {"properties": {"sku": {"name": "Standard"}}})["name"] == "ops"
        job = cp.put_job("ops", "nightly", tmp_path / "nightly.yaml")
        assert job["id"].startswith("/subscriptions/s/resourceGroups/g/") and job["cronplane"]["apiOwned"]
        assert "password" not in json.dumps(job)
        assert cp.list_jobs("ops", state="Enabled")["value"][0]["name"] == "ops/nightly"
        assert (
            cp.patch_job("ops", "nightly", {"properties": {"state": "Disabled"}})["properties"]["state"] == "disabled"
        )
        assert cp.list_jobs("ops", state="Enabled")["value"] == []
        cp.disable("ops")
        assert cp.get_collection("ops")["properties"]["state"] == "disabled"
        cp.enable("ops")
        assert [c["name"] for c in cp.list_collections()["value"]] == ["default", "ops"]
        assert list(cp.iter_history("ops", "nightly", page=5)) == []
        with pytest.raises(ApiError) as e:
            cp.run("ops", "nightly")  # not synced by a controller yet
        assert e.value.status == 409
        with pytest.raises(ApiError) as e:
            cp.put_job("ops", "bad", {"properties": {"action": {"type": "http"}, "cron": "61 * * * *"}})
        assert e.value.status == 400 and e.value.details
        with Client(s.url, READ_TOKEN) as reader, pytest.raises(ApiError) as e:
            reader.delete_job("ops", "nightly")
        assert e.value.status == 403 and e.value.code == "Forbidden"
        cp.delete_job("ops", "nightly")
        with pytest.raises(ApiError) as e:
            cp.get_job("ops", "nightly")
        assert e.value.status == 404 and e.value.code == "ResourceNotFound"


def cli(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller.cli", *args, "--redis-url", redis_url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("describe", "job", "ops/none"), 1, "no job ops/none"),
        (("run-now", "Bad_Name"), 2, "is not a job name"),
        (("suspend", "ops/none", "--for", "1h", "--reason", "x"), 1, "no job ops/none"),
        (("suspend", "ops/none", "--for", "soon", "--reason", "x"), 2, "is not a duration"),
        (("suspend", "ops/none", "--for", "P1000D", "--reason", "x"), 2, "between 1 second and 90 days"),
        (("resume", "collection", "nope"), 1, "no collection nope"),
        (("delete", "job", "ops/none"), 1, "job ops/none does not exist"),
        (("get", "jobs", "--collection", "NOPE"), 2, "is not a collection name"),
    ],
)
def test_operator_mistakes_get_one_line(
    redis_url: str, args: tuple[str, ...], code: int, message: str, tmp_path: Path
) -> None:
    out = cli(redis_url, *args, *(("--api-dir", str(tmp_path)) if args[0] == "delete" else ()))
    assert out.returncode == code, out.stdout + out.stderr
    assert message in out.stderr and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_unreachable_redis_is_one_line() -> None:
    out = cli(f"redis://127.0.0.1:{free_port()}/0", "get", "jobs")
    assert (
        out.returncode == 1 and out.stderr.startswith("cronplane: cannot reach Redis") and out.stderr.count("\n") == 1
    )


def test_get_and_describe_without_secrets(redis_url: str, tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "jobs.yaml").write_text(MANIFEST.replace("collection: ops, ", ""))
    assert cli(redis_url, "apply", str(tmp_path / "m")).returncode == 0
    table = cli(redis_url, "get", "jobs")
    assert "default/nightly" in table.stdout and "cron 0 3 * * *" in table.stdout
    described = cli(redis_url, "describe", "job", "nightly")
    assert (
        "Source:" in described.stdout
        and "jobs.yaml:1" in described.stdout
        and "Next runs (UTC / UTC):" in described.stdout
    )
    assert "PW" not in described.stdout and "password" not in described.stdout
    as_yaml = cli(redis_url, "get", "collections", "-o", "yaml")
    assert "collection: default" in as_yaml.stdout


def test_controller_and_worker_expose_metrics_and_probes(redis_url: str, tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "jobs.yaml").write_text(MANIFEST.replace("collection: ops, ", ""))
    procs = []
    try:
        ports = free_port(), free_port()
        for cmd, port in ((["controller", "--manifests", str(tmp_path / "m")], ports[0]), (["worker"], ports[1])):
            args = [sys.executable, "-m", "controller.cli", *cmd, "--redis-url", redis_url, "--metrics-port", str(port)]
            procs.append(
                subprocess.Popen(
                    args, cwd=ROOT, env=env_for(redis_url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
        for port in ports:
            wait_for_port(port, timeout=30)
            assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["checks"] == {"redis": "ok"}
        # the controller's sync process writes the job shortly after the port opens
        synced = 'cronplane_invocations_total{job="default/nightly"'
        wait_until(lambda: synced in httpx.get(f"http://127.0.0.1:{ports[0]}/metrics").text, timeout=30)
        controller = httpx.get(f"http://127.0.0.1:{ports[0]}/metrics").text
        for name in (
            "cronplane_sync_pass_seconds",
            "cronplane_due_to_enqueued_seconds",
            "cronplane_lease_held",
            'cronplane_invocations_total{job="default/nightly",outcome="completed"}',
        ):
            assert name in controller, name
        worker = httpx.get(f"http://127.0.0.1:{ports[1]}/metrics").text
        assert "cronplane_due_to_started_seconds_bucket" in worker and "cronplane_queue_depth" in worker
    finally:
        for p in procs:
            stop_process(p)
