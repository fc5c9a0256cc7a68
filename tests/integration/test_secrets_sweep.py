"""The secrets sweep: a full run with every action type and every authentication type, secrets from
environment variables and files (distinct random values), against real peers — then every place a
secret could leak is searched for every value:

- every Redis key name and value of every type (strings, hashes, lists, sets, sorted sets, streams),
  RQ's zlib-compressed job pickles decompressed;
- the output of the controller, the worker and the API server;
- ``cronplane history`` (text, json), ``plan`` (text, wide, markdown, json), ``status``, ``get``,
  ``describe``;
- every REST API read (collections, jobs, each job, its history, the dashboard's reads) and
  ``/metrics``.

Peers: an HTTP and an HTTPS target that *echo the request's Authorization header* (a target that
reflects what it got must not put the credentials into history), a mutual-TLS target, an OAuth
token endpoint, Azurite (storage queue with ``sasToken`` and with connection strings) and the AMQP
peer (Service Bus queue and topic with connection strings). Failing probes (a refused storage
endpoint, a refused broker) check that error messages carry no secret either.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import subprocess
import sys
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import trustme
from azure.storage.queue import QueueSasPermissions, QueueServiceClient, generate_queue_sas
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, load_pem_private_key, pkcs12
from cryptography.x509 import load_pem_x509_certificate
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.peers.azurite import ACCOUNT, KEY, Azurite
from tests.peers.ports import free_port
from tests.peers.rq_worker import ROOT, burst
from tests.peers.sb_stub import ServiceBusStub
from tests.peers.serve import ARM, READ_TOKEN, serving

NOW = "2026-01-01T00:00:00Z"


def rnd(label: str) -> str:
    return f"{label}-{secrets.token_hex(12)}"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_server(ca: trustme.CA, client_cert: bool) -> HTTPServer:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    if client_cert:
        ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=ctx)
    server.start()
    return server


@pytest.fixture(scope="module")
def peers(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    plain = HTTPServer(host="127.0.0.1", port=0)
    plain.start()
    https = tls_server(ca, client_cert=False)
    mtls = tls_server(ca, client_cert=True)
    azurite = Azurite(tmp_path_factory.mktemp("azurite")).start()
    with ServiceBusStub(topics={"events": ["audit"]}) as stub:
        yield {"plain": plain, "https": https, "mtls": mtls, "azurite": azurite, "sb": stub}
    azurite.stop()
    for server in (plain, https, mtls):
        server.clear()
        server.stop()


def echo(request: Request) -> Response:
    """Reflects the credentials the request carried, as some debugging endpoints do."""
    return Response(f"you sent: {request.headers.get('Authorization')}", status=200)


def echo_401(request: Request) -> Response:
    return Response(f"denied: {request.headers.get('Authorization')}", status=401)


def job(name: str, action: dict[str, Any]) -> str:
    doc = {
        "apiVersion": "cronplane/v1",
        "kind": "Job",
        "metadata": {"name": name, "collection": "sweep"},
        "spec": {"action": {**action, "retryPolicy": {"retryType": "none"}}},
    }
    return "---\n" + json.dumps(doc) + "\n"


def env(name: str) -> dict[str, Any]:
    return {"valueFrom": {"env": name}}


def file(path: Path) -> dict[str, Any]:
    return {"valueFrom": {"file": str(path)}}


def setup_secrets(ca: trustme.CA, peers: dict[str, Any], tmp: Path) -> tuple[dict[str, str], list[str], list[str]]:
    """(worker environment, manifests, needles): every secret value and fragments of the binary ones."""
    secret_dir = tmp / "secrets"
    secret_dir.mkdir()
    values = {n: rnd(n.lower()) for n in ("BASIC_PW", "BASIC_PW_FILE", "PFX_PW", "OAUTH_SECRET", "SB_KEY", "TOKEN")}
    cert = ca.issue_cert("scheduler@example.test")
    key_pem, cert_pem = cert.private_key_pem.bytes(), cert.cert_chain_pems[0].bytes()
    pfx = pkcs12.serialize_key_and_certificates(
        b"client",
        load_pem_private_key(key_pem, None),
        load_pem_x509_certificate(cert_pem),
        None,
        BestAvailableEncryption(values["PFX_PW"].encode()),
    )
    pfx_b64 = base64.b64encode(pfx).decode()
    az: Azurite = peers["azurite"]
    sas = generate_queue_sas(
        ACCOUNT, "jobs", KEY, permission=QueueSasPermissions(add=True), expiry=datetime.now(UTC) + timedelta(hours=2)
    )
    sb: ServiceBusStub = peers["sb"]
    sb_conn = f"Endpoint=sb://127.0.0.1:{sb.port};SharedAccessKeyName=Root;SharedAccessKey={values['SB_KEY']};UseDevelopmentEmulator=true;"
    sb_down = sb_conn.replace(f":{sb.port};", f":{free_port()};")
    files = {
        "basic.pw": values["BASIC_PW_FILE"],
        "client.pfx.b64": pfx_b64,
        "client.key": key_pem.decode(),
        "oauth.secret": values["OAUTH_SECRET"],
        "sas-conn": f"QueueEndpoint={az.endpoint};SharedAccessSignature={sas}",
        "sb-topic": sb_conn,
    }
    for name, text in files.items():
        (secret_dir / name).write_text(text)
        (secret_dir / name).chmod(0o600)
    worker_env = {
        "CP_BASIC_PW": values["BASIC_PW"],
        "CP_PFX_PW": values["PFX_PW"],
        "CP_CERT": cert_pem.decode(),
        "CP_STORAGE": az.connection_string,
        "CP_SAS": "?" + sas,
        "CP_STORAGE_DOWN": az.connection_string.replace(f":{az.port}/", f":{free_port()}/"),
        "CP_SB": sb_conn,
        "CP_SB_DOWN": sb_down,
    }
    needles = [*values.values(), KEY, sas.split("sig=")[1].split("&")[0], pfx_b64[100:140]]
    needles += [line for line in key_pem.decode().splitlines() if "PRIVATE" not in line][1:3]
    needles.append(base64.b64encode(f"scheduler:{values['BASIC_PW']}".encode()).decode())
    needles.append(base64.b64encode(f"scheduler:{values['BASIC_PW_FILE']}".encode()).decode())

    plain, https, mtls = peers["plain"], peers["https"], peers["mtls"]
    plain.expect_request("/echo").respond_with_handler(echo)
    plain.expect_request("/denied").respond_with_handler(echo_401)
    https.expect_request("/echo").respond_with_handler(echo)
    mtls.expect_request("/secure").respond_with_data("cert-ok")
    token = json.dumps({"access_token": values["TOKEN"], "expires_in": 3600})
    plain.expect_request("/contoso/oauth2/token", method="POST").respond_with_data(
        token, content_type="application/json"
    )

    def basic(password: dict[str, Any]) -> dict[str, Any]:
        return {"type": "basic", "username": "scheduler", "password": password}

    def req(uri: str, auth: dict[str, Any] | None = None, kind: str = "http") -> dict[str, Any]:
        request: dict[str, Any] = {"method": "POST", "uri": uri, "body": "tick"}
        if auth:
            request["authentication"] = auth
        return {"type": kind, "request": request}

    oauth = {
        "type": "activeDirectoryOAuth",
        "tenant": "contoso",
        "audience": "https://api.example.test/",
        "clientId": "app-1",
        "secret": file(secret_dir / "oauth.secret"),
    }
    pfx_auth = {"type": "clientCertificate", "pfx": file(secret_dir / "client.pfx.b64"), "password": env("CP_PFX_PW")}
    pem_auth = {
        "type": "clientCertificate",
        "certificate": env("CP_CERT"),
        "privateKey": file(secret_dir / "client.key"),
    }

    def sq(ref: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"type": "storageQueue", "queueMessage": {"queueName": "jobs", "message": "tick", **ref, **extra}}

    def sbq(kind: str, ref: dict[str, Any]) -> dict[str, Any]:
        if kind == "topic":
            return {
                "type": "serviceBusTopic",
                "serviceBusTopicMessage": {"topicPath": "events", "message": "t", "connectionString": ref},
            }
        return {
            "type": "serviceBusQueue",
            "serviceBusQueueMessage": {"queueName": "orders", "message": "q", "connectionString": ref},
        }

    denied = req(plain.url_for("/denied"), basic(env("CP_BASIC_PW")))
    denied["errorAction"] = sq({"storageAccount": ACCOUNT, "sasToken": env("CP_SAS")}, rawMessage=True)
    storage_down = sq({"connectionString": env("CP_STORAGE_DOWN")})
    storage_down["errorAction"] = sbq("queue", env("CP_SB"))
    manifests = [
        "apiVersion: cronplane/v1\nkind: JobCollection\nmetadata: {name: sweep}\nspec: {plan: premium}\n",
        job("http-basic-env", req(plain.url_for("/echo"), basic(env("CP_BASIC_PW")))),
        job("https-basic-file", req(https.url_for("/echo"), basic(file(secret_dir / "basic.pw")), "https")),
        job("https-oauth", req(https.url_for("/echo"), oauth, "https")),
        job("https-pfx", req(mtls.url_for("/secure"), pfx_auth, "https")),
        job("https-pem", req(mtls.url_for("/secure"), pem_auth, "https")),
        job("http-denied", denied),
        job("sq-sas-token", sq({"storageAccount": ACCOUNT, "sasToken": env("CP_SAS")})),
        job("sq-account-key", sq({"connectionString": env("CP_STORAGE")})),
        job("sq-sas-conn", sq({"connectionString": file(secret_dir / "sas-conn")}, rawMessage=True)),
        job("sq-down", storage_down),
        job("sb-queue", sbq("queue", env("CP_SB"))),
        job("sb-topic", sbq("topic", file(secret_dir / "sb-topic"))),
        job("sb-down", sbq("queue", env("CP_SB_DOWN"))),
    ]
    ca_file = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    worker_env |= {
        "CRONPLANE_CA_BUNDLE": str(ca_file),
        "CRONPLANE_OAUTH_AUTHORITY": plain.url_for("/").rstrip("/"),
        "CRONPLANE_STORAGE_QUEUE_URL": f"http://127.0.0.1:{az.port}/{{account}}",
        "CRONPLANE_HTTP_TIMEOUT": "15",
    }
    assert all(len(n) >= 16 for n in needles)
    return worker_env, manifests, needles


def cli(redis_url: str, *args: str, code: int | None = 0) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "controller.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "REDIS_URL": redis_url},
    )
    assert code is None or out.returncode == code, out.stdout + out.stderr
    return out.stdout + out.stderr


def redis_texts(url: str) -> Iterator[tuple[bytes, bytes]]:
    """(key, one value) for every key and every value of every type; key names too; zlib payloads
    (RQ's job pickles) also decompressed."""
    r = redis.Redis.from_url(url)
    for key in r.scan_iter(b"*", count=1000):
        yield key, key
        kind = r.type(key)
        values: list[Any]
        if kind == b"string":
            values = [r.get(key)]
        elif kind == b"hash":
            values = [part for kv in r.hgetall(key).items() for part in kv]
        elif kind == b"list":
            values = r.lrange(key, 0, -1)
        elif kind == b"set":
            values = list(r.smembers(key))
        elif kind == b"zset":
            values = r.zrange(key, 0, -1)
        elif kind == b"stream":
            values = [part for _, fields in r.xrange(key) for kv in fields.items() for part in kv]
        else:
            raise AssertionError(f"unexpected Redis type {kind!r} at {key!r}")
        values.append(r.dump(key))
        for value in values:
            value = value or b""
            yield key, value
            try:
                yield key, zlib.decompress(value)
            except zlib.error:
                pass


def assert_clean(where: str, text: str | bytes, needles: list[str]) -> None:
    data = text.encode() if isinstance(text, str) else text
    for needle in needles:
        assert needle.encode() not in data, f"a secret ({needle[:8]}...) appears in {where}"


def test_no_secret_anywhere_after_a_full_run(
    redis_url: str, redis_client: redis.Redis, peers: dict[str, Any], ca: trustme.CA, tmp_path: Path
) -> None:
    QueueServiceClient.from_connection_string(peers["azurite"].connection_string).create_queue("jobs")
    worker_env, docs, needles = setup_secrets(ca, peers, tmp_path)
    mdir = tmp_path / "manifests"
    mdir.mkdir()
    (mdir / "sweep.yaml").write_text("".join(docs))
    outputs = {"validate": cli(redis_url, "validate", str(mdir))}
    outputs["controller"] = cli(redis_url, "controller", "--manifests", str(mdir), "--once", "--now", NOW)
    outputs["worker"] = burst(redis_url, worker_env)

    jobs = sorted(k.split(":", 2)[2] for k in redis_client.scan_iter("cp:job:*"))
    assert len(jobs) == 13
    entries = {j: [json.loads(e) for e in redis_client.zrange(f"cp:history:{j}", 0, -1)] for j in jobs}
    outcome = {j: sorted((e["action_name"], e["status"]) for e in es) for j, es in entries.items()}
    assert all(("MainAction", "completed") in outcome[f"sweep/{n}"] for n in (
        "http-basic-env", "https-basic-file", "https-oauth", "https-pfx", "https-pem",
        "sq-sas-token", "sq-account-key", "sq-sas-conn", "sb-queue", "sb-topic",
    )), outcome  # fmt: skip
    assert outcome["sweep/http-denied"] == [("ErrorAction", "completed"), ("MainAction", "failed")]
    assert outcome["sweep/sq-down"] == [("ErrorAction", "completed"), ("MainAction", "failed")]
    assert outcome["sweep/sb-down"] == [("MainAction", "failed")]
    echoed = [
        e["message"] for n in ("http-basic-env", "https-basic-file", "https-oauth") for e in entries[f"sweep/{n}"]
    ]
    assert all("you sent: [redacted]" in m for m in echoed), echoed  # the echo reached history, redacted
    assert len(peers["sb"].messages("orders")) == 2 and peers["sb"].messages("events/subscriptions/audit")

    for name in jobs:
        outputs[f"history {name}"] = cli(redis_url, "history", name)
        outputs[f"history {name} json"] = cli(redis_url, "history", name, "--output", "json")
        outputs[f"describe {name}"] = cli(redis_url, "describe", "job", name, "-o", "json")
    for fmt in ("text", "wide", "markdown", "json"):
        outputs[f"plan {fmt}"] = cli(redis_url, "plan", str(mdir), "-o", fmt, "--now", NOW, code=None)
    outputs["status"] = cli(redis_url, "status", "-o", "json")
    outputs["get"] = cli(redis_url, "get", "jobs", "-o", "json")

    with serving(redis_url, tmp_path, manifests=[str(mdir)]) as server, server.client(READ_TOKEN) as api:
        coll = f"{ARM}/jobCollections/sweep"
        paths = [f"{ARM}/jobCollections", coll, f"{coll}/jobs?$top=100", "/api/v1/overview", "/api/v1/plan"]
        paths += ["/api/v1/feed", "/api/v1/whoami", "/metrics"]
        for name in jobs:
            short = name.split("/")[1]
            paths += [f"{coll}/jobs/{short}", f"{coll}/jobs/{short}/history", f"/api/v1/jobs/sweep/{short}/next"]
        for path in paths:
            answer = api.get(path)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
            outputs[f"GET {path}"] = answer.text
        assert "cronplane_invocations_total" in outputs["GET /metrics"]
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        outputs["serve log"] = server.log.read_text()

    for where, text in outputs.items():
        assert "Traceback" not in text or where == "serve log", (where, text[-2000:])
        assert_clean(where, text, needles)
    count = 0
    for key, value in redis_texts(redis_url):
        assert_clean(f"Redis key {key!r}", value, needles)
        count += 1
    assert count > 200  # the scan saw RQ's records, history, status and the desired state
