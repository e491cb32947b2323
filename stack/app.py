"""The gateway's HTTP service. Every route but the health checks requires a principal; every request that touches
the knowledge base leaves an audit event, committed before the response is sent. Nothing a user asked, uploaded or
was shown is logged or used as a metric label."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import psycopg
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from stack.gateway import Caller, Gateway
from stack.guard import Guard
from stack.routes import chat, documents, retrieve

log = logging.getLogger(__name__)


def _safe(part: object) -> object:
    """A location part as JSON can carry it (a caller's dict key may hold a lone surrogate)."""
    return part.encode("utf-8", "replace").decode() if isinstance(part, str) else part


def validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Which field and why, never the value: pydantic's default echoes the input, which may be PHI (and may not
    even be encodable)."""
    return [
        {"loc": [_safe(p) for p in e.get("loc", ())], "msg": str(_safe(e.get("msg", ""))), "type": e.get("type", "")}
        for e in exc.errors()
    ]


def create_app(gateway: Gateway) -> FastAPI:
    # No /docs or /redoc (their pages load scripts from a public CDN, which a private network cannot reach and
    # should not try), and the OpenAPI document only for authenticated callers (route below).
    app = FastAPI(title="phistack gateway", version="0.1.0", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.gateway = gateway
    registry = CollectorRegistry()
    requests = Counter("gateway_requests", "Requests by route and status", ["route", "status"], registry=registry)
    latency = Histogram("gateway_request_seconds", "Request latency", ["route"], registry=registry)
    limits = gateway.limits

    # Inner first: the guard (authentication, then the body within its cap), then the metrics around everything.
    app.add_middleware(
        Guard, authenticate=gateway.authenticate, caps=(limits.max_body_bytes, limits.max_document_bytes)
    )

    @app.middleware("http")
    async def metrics_and_last_resort(request: Request, call_next: Callable[[Request], Any]) -> Any:
        started = time.perf_counter()
        route_of: Callable[[], str] = lambda: getattr(request.scope.get("route"), "path", "unmatched")  # noqa: E731
        try:
            response = await call_next(request)
        except Exception as exc:  # noqa: BLE001 - the last resort: counted, and logged without its message
            # The message and the traceback may hold what the caller sent; the kind and the route do not.
            log.error("unhandled %s on %s %s", exc.__class__.__name__, request.method, route_of())  # noqa: TRY400
            response = JSONResponse({"detail": "Internal error; the operators have been told."}, status_code=500)
        label = route_of()  # the route template, never the URL or its values
        requests.labels(label, str(response.status_code)).inc()
        latency.labels(label).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_detail(exc)}, status_code=422)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        try:
            with gateway.connect() as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            raise HTTPException(503, "The database is not reachable.") from None
        ready = getattr(gateway.engine, "ready", None)
        if ready is not None and not ready():
            raise HTTPException(503, "The language model engine is not reachable.")
        return {"status": "ready"}

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_: Caller) -> dict[str, Any]:
        return app.openapi()

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics(_: Caller) -> str:
        return generate_latest(registry).decode()

    app.include_router(retrieve.router)
    app.include_router(chat.router)
    app.include_router(documents.router)
    return app
