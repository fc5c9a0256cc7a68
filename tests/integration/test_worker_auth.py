"""Outbound authentication against real servers: mutual TLS with a PFX (+password) and with PEM
files, and ActiveDirectoryOAuth client credentials with a token cache; the history CLI."""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import trustme
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, load_pem_private_key, pkcs12
from cryptography.x509 import load_pem_x509_certificate
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from controller.cli import main
from tests.integration.test_worker_http import SECRET, assert_no_secret_in_redis, enqueue, history, http, invocation
from tests.peers.rq_worker import burst


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def mtls(ca: trustme.CA) -> Iterator[HTTPServer]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    ca.configure_trust(ctx)
    ctx.verify_mode = ssl.CERT_REQUIRED
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=ctx)
    server.start()
    yield server
    server.clear()
    server.stop()


def client_files(ca: trustme.CA, tmp: Path) -> dict[str, str]:
    cert = ca.issue_cert("scheduler@example.test")
    key_pem = cert.private_key_pem.bytes()
    cert_pem = cert.cert_chain_pems[0].bytes()
    pfx = pkcs12.serialize_key_and_certificates(
        b"client",
        load_pem_private_key(key_pem, None),
        load_pem_x509_certificate(cert_pem),
        None,
        BestAvailableEncryption(SECRET.encode()),
    )
    files = {"CP_PFX": base64.b64encode(pfx).decode(), "CP_CERT": cert_pem.decode(), "CP_KEY": key_pem.decode()}
    ca_file = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return {**files, "CP_PFX_PASSWORD": SECRET, "CRONPLANE_CA_BUNDLE": str(ca_file)}


def ref(env: str) -> dict[str, Any]:
    return {"valueFrom": {"env": env}}


def test_client_certificate_pfx_and_pem(
    redis_url: str, redis_client: redis.Redis, mtls: HTTPServer, ca: trustme.CA, tmp_path: Path
) -> None:
    seen: list[str] = []

    def handler(request: Request) -> Response:
        seen.append(request.environ.get("SSL_CLIENT_CERT", ""))
        return Response("cert-ok")

    mtls.expect_request("/secure").respond_with_handler(handler)
    pfx = {"type": "clientCertificate", "pfx": ref("CP_PFX"), "password": ref("CP_PFX_PASSWORD")}
    pem = {"type": "clientCertificate", "certificate": ref("CP_CERT"), "privateKey": ref("CP_KEY")}
    action = {"type": "https", "request": {"method": "GET", "uri": mtls.url_for("/secure")}}
    enqueue(redis_url, invocation({**action, "request": {**action["request"], "authentication": pfx}}, name="pfx"))
    enqueue(redis_url, invocation({**action, "request": {**action["request"], "authentication": pem}}, name="pem"))
    enqueue(redis_url, invocation(action, name="none"))
    logs = burst(redis_url, client_files(ca, tmp_path))
    assert history(redis_client, "c1/pfx")[0].status == "completed"
    assert history(redis_client, "c1/pem")[0].status == "completed"
    assert history(redis_client, "c1/none")[0].status == "failed"  # the server requires a client certificate
    assert len(seen) == 2 and all("BEGIN CERTIFICATE" in s for s in seen)
    assert SECRET not in logs
    assert_no_secret_in_redis(redis_client)


def test_oauth_client_credentials_token_is_cached(
    redis_url: str, redis_client: redis.Redis, httpserver: HTTPServer
) -> None:
    tokens: list[dict[str, str]] = []

    def token(request: Request) -> Response:
        tokens.append(dict(request.form))
        return Response(json.dumps({"access_token": "t0k", "expires_in": 3600}), content_type="application/json")

    httpserver.expect_request("/contoso/oauth2/token", method="POST").respond_with_handler(token)
    httpserver.expect_request("/api").respond_with_data("ok")
    auth = {
        "type": "activeDirectoryOAuth",
        "tenant": "contoso",
        "audience": "https://api.example.test/",
        "clientId": "app-1",
        "secret": ref("CP_OAUTH"),
    }
    for n in ("o1", "o2"):
        enqueue(redis_url, invocation(http(httpserver.url_for("/api"), "GET", authentication=auth), name=n))
    burst(redis_url, {"CP_OAUTH": SECRET, "CRONPLANE_OAUTH_AUTHORITY": httpserver.url_for("/").rstrip("/")})
    api_calls = [r for r, _ in httpserver.log if r.path == "/api"]
    assert [r.headers["Authorization"] for r in api_calls] == ["Bearer t0k", "Bearer t0k"]
    assert tokens[0]["client_secret"] == SECRET and tokens[0]["resource"] == "https://api.example.test/"
    assert tokens[0]["grant_type"] == "client_credentials" and tokens[0]["client_id"] == "app-1"
    assert_no_secret_in_redis(redis_client)


def test_history_cli_pages_newest_first(
    redis_url: str, redis_client: redis.Redis, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    httpserver.expect_request("/ok").respond_with_data("ok")
    httpserver.expect_request("/bad").respond_with_data("no", status=500)
    for i in range(12):
        enqueue(redis_url, invocation(http(httpserver.url_for("/bad" if i % 3 == 0 else "/ok")), expected=1000 + i))
    burst(redis_url)
    assert main(["history", "c1/j", "--top", "5", "--output", "json", "--redis-url", redis_url]) == 0
    page1 = json.loads(capsys.readouterr().out)
    assert (
        main(
            [
                "history",
                "j",
                "--collection",
                "c1",
                "--top",
                "5",
                "--skip",
                "5",
                "--output",
                "json",
                "--redis-url",
                redis_url,
            ]
        )
        == 0
    )
    page2 = json.loads(capsys.readouterr().out)
    assert len(page1) == 5 and len(page2) == 5
    assert min(e["startTime"] for e in page1) >= max(e["startTime"] for e in page2)
    assert set(page1[0]) >= {
        "invocationId",
        "expectedExecutionTime",
        "startTime",
        "endTime",
        "actionName",
        "status",
        "retryCount",
        "repeatCount",
        "message",
        "gitSha",
    }
    assert main(["history", "c1/j", "--status", "failed", "--output", "json", "--redis-url", redis_url]) == 0
    failed = json.loads(capsys.readouterr().out)
    assert len(failed) == 4 and {e["status"] for e in failed} == {"failed"}
    assert main(["history", "c1/j", "--top", "101", "--redis-url", redis_url]) == 2
    assert "--top must be between 1 and 100" in capsys.readouterr().err
