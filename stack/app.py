"""The gateway's HTTP service. Every route but the health checks requires a principal; every retrieval is audited
in the same transaction as the read, committed before the response is sent. Nothing a user asked or was shown is
logged or used as a metric label."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Annotated, Any

import psycopg
from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field, StringConstraints

from stack.audit import AuditEvent, append
from stack.auth import Authenticator, Principal, Unauthenticated
from stack.embeddings import Embedder
from stack.store import retrieve

log = logging.getLogger(__name__)


CollectionId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]  # as the database's CHECK


class RetrieveRequest(BaseModel):
    query: str = Field(min_length=1, max_length=4000)
    collections: list[CollectionId] | None = Field(None, max_length=20)
    k: int | None = Field(None, ge=1, le=50)


class Citation(BaseModel):
    document_id: int
    document: str
    collection: str
    chunk_id: int
    chunk: int
    start: int
    end: int
    score: float
    text: str


class RetrieveResponse(BaseModel):
    citations: list[Citation]


def _principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    try:
        principal: Principal = request.app.state.authenticate(authorization)
    except Unauthenticated as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    return principal


Caller = Annotated[Principal, Depends(_principal)]


def create_app(
    authenticate: Authenticator,
    connect: Callable[[], psycopg.Connection[Any]],
    embedder: Embedder,
    max_body_bytes: int = 1_000_000,
    default_k: int = 5,
) -> FastAPI:
    app = FastAPI(title="phistack gateway", version="0.1.0")
    registry = CollectorRegistry()
    requests = Counter("gateway_requests", "Requests by route and status", ["route", "status"], registry=registry)
    latency = Histogram("gateway_request_seconds", "Request latency", ["route"], registry=registry)

    @app.middleware("http")
    async def limits_and_metrics(request: Request, call_next: Callable[[Request], Any]) -> Any:
        started = time.perf_counter()
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
            response: Any = JSONResponse({"detail": f"Request body over {max_body_bytes} bytes."}, status_code=413)
        else:
            response = await call_next(request)
        route = request.scope.get("route")
        label = getattr(route, "path", "unmatched")  # the route template, never the URL or its values
        requests.labels(label, str(response.status_code)).inc()
        latency.labels(label).observe(time.perf_counter() - started)
        return response

    app.state.authenticate = authenticate

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        try:
            with connect() as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            raise HTTPException(503, "The database is not reachable.") from None
        return {"status": "ready"}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics(_: Caller) -> str:
        return generate_latest(registry).decode()

    @app.post("/v1/retrieve", response_model=RetrieveResponse)
    def retrieve_route(body: RetrieveRequest, caller: Caller, response: Response) -> RetrieveResponse:
        started = time.perf_counter()
        digest = "sha256:" + hashlib.sha256(body.query.encode()).hexdigest()  # the query itself is never stored
        vector = embedder.embed([body.query])[0]
        with connect() as conn:
            if body.collections:
                with conn.transaction():
                    conn.execute("SELECT set_config('phistack.groups', %s, true)", ("\x1e".join(caller.groups),))
                    visible = {
                        r[0]
                        for r in conn.execute(
                            "SELECT id FROM collections WHERE read_groups && %s", (list(caller.groups),)
                        )
                    }
                missing = sorted(set(body.collections) - visible)
                if missing:
                    with conn.transaction():
                        append(
                            conn,
                            AuditEvent(
                                caller.subject,
                                caller.groups,
                                "retrieve",
                                ",".join(missing),
                                (),
                                "denied",
                                _ms(started),
                                digest,
                            ),
                        )
                    raise HTTPException(404, f"No collection {missing[0]!r} that you may read.")
            with conn.transaction():  # the read and its audit event commit together, before we answer
                hits = retrieve(conn, caller.groups, vector, body.collections, body.k or default_k)
                seq, _ = append(
                    conn,
                    AuditEvent(
                        caller.subject,
                        caller.groups,
                        "retrieve",
                        ",".join(sorted({h.collection for h in hits})) or None,
                        tuple(h.chunk_id for h in hits),
                        "ok",
                        _ms(started),
                        digest,
                    ),
                )
        response.headers["X-Audit-Seq"] = str(seq)  # this answer's audit event, committed above
        return RetrieveResponse(
            citations=[
                Citation(
                    document_id=h.document_id,
                    document=h.document_title,
                    collection=h.collection,
                    chunk_id=h.chunk_id,
                    chunk=h.ordinal,
                    start=h.start,
                    end=h.end,
                    score=round(h.score, 4),
                    text=h.text,
                )
                for h in hits
            ]
        )

    return app


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
