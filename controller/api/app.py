"""The ASGI application: routes, error bodies, authentication, limits, probes, metrics, dashboard.

Every answer to a client mistake is a 4xx with an ARM error body
``{"error": {"code", "message", "details": [...]}}``; a Redis outage is 503 ServerBusy with
``Retry-After: 1`` (one warning line when it starts, one info line when Redis answers again, by
a background ping: ``controller.reconnect``); nothing a client sends produces a traceback or a
5xx (the schemathesis test fuzzes that).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from controller.api import routes
from controller.api.auth import Principal, Tokens
from controller.api.limits import Limits, LimitsMiddleware
from controller.api.service import ApiError, Service
from controller.observability import Probes, metrics_response
from controller.reconnect import OUTAGE, Outage, describe

log = logging.getLogger("cronplane.api")
STATIC = Path(__file__).parent / "static"
CODES = {400: "BadRequest", 401: "AuthenticationFailed", 403: "Forbidden", 404: "ResourceNotFound"}
CODES.update({405: "InvalidHttpVerb", 409: "Conflict", 413: "RequestTooLarge", 415: "UnsupportedMediaType"})


def _error(status: int, code: str, message: str, details: list[dict[str, str]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {"Retry-After": "1"} if status == 503 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        out.append({"code": "BadRequest", "target": where, "message": f"{where}: {err.get('msg', 'invalid')}"})
    return out


def create_app(service: Service, tokens: Tokens, limits: Limits | None = None, probes: Probes | None = None) -> Any:
    app = FastAPI(
        title="cronplane",
        version="1",
        summary="Azure Scheduler's management API on cronplane: job collections, jobs, history, run-now",
        description=(
            "Writes become manifest files in the API-owned directory that the controller watches; "
            "jobs from git or directory sources are read-only here (409). Secrets are write-only "
            "references. Authenticate with `Authorization: Bearer <token>`."
        ),
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service, app.state.tokens = service, tokens
    probes = probes or Probes({"redis": service.reads.ping})

    def authenticate(request: Request, write: bool) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        principal = tokens.check(token.strip() if scheme.lower() == "bearer" else None)
        if principal is None:
            raise ApiError(401, "AuthenticationFailed", "a valid bearer token is required")
        if write and not principal.admin:
            raise ApiError(403, "Forbidden", f"{principal.name} may read but not write (an admin token is needed)")
        return principal

    app.state.authenticate = authenticate

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, exc.details)

    def refused(request: Request) -> JSONResponse | None:
        """FastAPI parses bodies and parameters before a route can authenticate: a request that is
        malformed *and* unauthenticated is answered 401/403, never 400 (a stranger learns nothing)."""
        try:
            authenticate(request, write=request.method not in ("GET", "HEAD", "OPTIONS"))
        except ApiError as e:
            return _error(e.status, e.code, e.message)
        return None

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        return refused(request) or _error(
            400, "BadRequest", f"the request is invalid ({len(details)} problem(s))", details
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        answer = refused(request) if exc.status_code == 400 else None  # a body that cannot be parsed
        return answer or _error(exc.status_code, CODES.get(exc.status_code, "BadRequest"), str(exc.detail))

    outage = Outage("api", log)

    @app.exception_handler(redis.RedisError)
    async def redis_down(_: Request, exc: redis.RedisError) -> JSONResponse:
        if isinstance(exc, OUTAGE):  # one line when it starts, one when a background ping answers
            outage.failed(exc)
            outage.watch(service.reads.ping)
        else:  # Redis answered with an error (out of memory, ...): not an outage, say which
            log.warning("Redis refused a command: %s", describe(exc))
        return _error(503, "ServerBusy", "the store is unavailable; retry shortly")

    app.include_router(routes.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> Response:
        return probes.ready_response()

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        authenticate(request, write=False)
        return metrics_response()

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return LimitsMiddleware(app, limits or Limits())
