"""Outbound authentication for HTTP(S) actions (Azure reference §5): Basic, ClientCertificate
(PFX + password, or PEM certificate + key) and ActiveDirectoryOAuth (client credentials).

Secrets are resolved here, per attempt, and live only in local variables, an SSL context and a
0600 temporary file that is deleted before the request is sent. OAuth tokens are cached per
worker process until shortly before they expire, keyed by a hash of the credentials.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import os
import ssl
import tempfile
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12

from worker.settings import WorkerSettings
from worker.targets.base import PermanentTargetError, SecretResolver, TargetContext, TemporaryTargetError

_tokens: dict[str, tuple[str, float]] = {}
_locks: dict[str, asyncio.Lock] = {}


def basic_header(auth: Mapping[str, Any], secrets: SecretResolver) -> str:
    password = secrets(auth.get("password"), "authentication.password")
    raw = f"{auth.get('username', '')}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def ssl_context(auth: Mapping[str, Any] | None, secrets: SecretResolver, settings: WorkerSettings) -> ssl.SSLContext:
    """Trust store (+ settings.ca_bundle) and, for clientCertificate, the client certificate.

    httpx ignores ``cert=`` when ``verify`` is a path (test-peers.md pitfall), so the chain is
    loaded into the context itself.
    """
    if not (auth and auth.get("type") == "clientCertificate"):
        return default_context(settings.ca_bundle)
    ctx = ssl.create_default_context(cafile=settings.ca_bundle) if settings.ca_bundle else ssl.create_default_context()
    _load_client_cert(ctx, auth, secrets)
    return ctx


@functools.cache
def default_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The trust store, loaded once per process (loading it costs more than a local request);
    the worker warms it before forking, so every work horse inherits it."""
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()


def _load_client_cert(ctx: ssl.SSLContext, auth: Mapping[str, Any], secrets: SecretResolver) -> None:
    if auth.get("pfx") is not None:
        pem = _pfx_to_pem(auth, secrets)
    else:
        pem = secrets(auth.get("certificate"), "authentication.certificate") + "\n"
        pem += secrets(auth.get("privateKey"), "authentication.privateKey") + "\n"
    fd, path = tempfile.mkstemp(prefix="cronplane-cert-", suffix=".pem")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem.encode())
        os.close(fd)
        ctx.load_cert_chain(path)
    except (ssl.SSLError, ValueError) as e:
        raise PermanentTargetError(f"client certificate cannot be loaded: {e.__class__.__name__}") from None
    finally:
        os.unlink(path)


def _pfx_to_pem(auth: Mapping[str, Any], secrets: SecretResolver) -> str:
    pfx_text = secrets(auth.get("pfx"), "authentication.pfx")
    password = secrets(auth["password"], "authentication.password") if auth.get("password") else None
    try:
        key, cert, chain = pkcs12.load_key_and_certificates(
            base64.b64decode(pfx_text), password.encode() if password else None
        )
    except ValueError:
        raise PermanentTargetError("authentication.pfx: not a PFX file or wrong password") from None
    if key is None or cert is None:
        raise PermanentTargetError("authentication.pfx: the PFX holds no certificate and key")
    parts = [key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())]
    parts += [c.public_bytes(Encoding.PEM) for c in [cert, *(chain or [])]]
    return b"".join(parts).decode()


async def oauth_header(auth: Mapping[str, Any], ctx: TargetContext) -> str:
    """A bearer token, fetched once per credentials and process (concurrent attempts wait for the
    same fetch) and reused until a minute before it expires."""
    secret = ctx.secrets(auth.get("secret"), "authentication.secret")
    authority = ctx.settings.oauth_authority.rstrip("/")
    ident = "|".join([authority, str(auth.get("tenant")), str(auth.get("audience")), str(auth.get("clientId"))])
    key = hashlib.sha256(f"{ident}|{secret}".encode()).hexdigest()
    async with _locks.setdefault(key, asyncio.Lock()):
        cached = _tokens.get(key)
        if cached and cached[1] > time.time() + 60:
            return "Bearer " + cached[0]
        token, expires_in = await _fetch_token(authority, auth, secret, ctx)
        _tokens[key] = (token, time.time() + expires_in)
    return "Bearer " + token


async def _fetch_token(authority: str, auth: Mapping[str, Any], secret: str, ctx: TargetContext) -> tuple[str, float]:
    url = f"{authority}/{auth.get('tenant')}/oauth2/token"
    form = {
        "grant_type": "client_credentials",
        "client_id": str(auth.get("clientId")),
        "client_secret": secret,
        "resource": str(auth.get("audience")),
    }
    timeout = aiohttp.ClientTimeout(total=ctx.settings.http_timeout)
    ssl_ctx = default_context(ctx.settings.ca_bundle)
    try:
        async with ctx.http_session().post(url, data=form, timeout=timeout, ssl=ssl_ctx) as answer:
            status = answer.status
            body: Any = await answer.json(content_type=None) if status == 200 else None
    except (TimeoutError, aiohttp.ClientError) as e:
        raise TemporaryTargetError(f"token request to {url} failed: {e.__class__.__name__}") from None
    except ValueError:
        raise PermanentTargetError(f"token request to {url}: the answer is not JSON") from None
    if status != 200:
        raise PermanentTargetError(f"token request to {url} answered {status}")
    try:
        return str(body["access_token"]), float(body.get("expires_in", 3600))
    except (TypeError, KeyError, ValueError):
        raise PermanentTargetError(f"token request to {url}: no access_token in the answer") from None
