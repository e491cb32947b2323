"""The gateway's HTTP service. Every route but the health checks requires a principal; every request that touches
the knowledge base leaves an audit event, committed before the response is sent. Nothing a user asked, uploaded or
was shown is logged or used as a metric label."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from stack.gateway import Caller, Gateway
from stack.routes import chat, documents, retrieve

DOCUMENT_UPLOAD = "/documents"


def create_app(gateway: Gateway) -> FastAPI:
    app = FastAPI(title="phistack gateway", version="0.1.0")
    app.state.gateway = gateway
    registry = CollectorRegistry()
    requests = Counter("gateway_requests", "Requests by route and status", ["route", "status"], registry=registry)
    latency = Histogram("gateway_request_seconds", "Request latency", ["route"], registry=registry)
    limits = gateway.limits

    @app.middleware("http")
    async def limits_and_metrics(request: Request, call_next: Callable[[Request], Any]) -> Any:
        started = time.perf_counter()
        upload = request.method == "POST" and request.url.path.endswith(DOCUMENT_UPLOAD)
        cap = limits.max_document_bytes if upload else limits.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > cap):
            response: Any = JSONResponse({"detail": f"Request body over {cap} bytes."}, status_code=413)
        else:
            response = await call_next(request)
        route = request.scope.get("route")
        label = getattr(route, "path", "unmatched")  # the route template, never the URL or its values
        requests.labels(label, str(response.status_code)).inc()
        latency.labels(label).observe(time.perf_counter() - started)
        return response

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

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics(_: Caller) -> str:
        return generate_latest(registry).decode()

    app.include_router(retrieve.router)
    app.include_router(chat.router)
    app.include_router(documents.router)
    return app
