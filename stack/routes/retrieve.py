"""POST /v1/retrieve: search only, with citations; the read and its audit event commit together."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from stack.audit import Outcome
from stack.auth import Principal
from stack.errors import EngineError, EngineUnavailable
from stack.gateway import Audit, Caller, CollectionId, Gateway, Parts, Text, require_readable
from stack.store import Hit, retrieve

router = APIRouter()


class RetrieveRequest(BaseModel):
    query: Text = Field(min_length=1, max_length=4000)
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
    page: int | None = None  # the first page the chunk is on (PDF)
    page_end: int | None = None  # and the last: a chunk that spans pages names the range
    section: str | None = None  # the heading the chunk sits under (DOCX, Markdown)
    source: str | None = None  # what the document is a version of: s3://bucket/key, external:<id> or title:<title>
    version: str | None = None  # the S3 version id of the object the text came from
    score: float  # cosine similarity to the query
    relevance: float  # what ranked it: score, raised when it holds the query's exact distinctive terms (hybrid)
    text: str


class RetrieveResponse(BaseModel):
    citations: list[Citation]


def citation(hit: Hit) -> Citation:
    return Citation(
        document_id=hit.document_id,
        document=hit.document_title,
        collection=hit.collection,
        chunk_id=hit.chunk_id,
        chunk=hit.ordinal,
        start=hit.start,
        end=hit.end,
        page=hit.page,
        page_end=hit.page_end,
        section=hit.section,
        source=hit.source,
        version=hit.source_version,
        score=round(hit.score, 4),
        relevance=round(hit.relevance, 4),
        text=hit.text,
    )


def embed_query(parts: Parts, text: str) -> list[float]:
    try:
        return parts.embedder.embed([text])[0]
    except EngineUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
    except EngineError as exc:
        raise HTTPException(502, str(exc)) from None


def search(
    conn: psycopg.Connection[Any],
    parts: Gateway,
    caller: Principal,
    query: str,
    vector: list[float],
    collections: list[str] | None,
    k: int | None,
) -> list[Hit]:
    """The caller's best chunks for a query: hybrid (full-text fused with vectors) unless the gateway is set to
    vectors alone."""
    return retrieve(
        conn,
        caller.groups,
        vector,
        collections,
        k or parts.limits.default_k,
        query_text=query if parts.limits.hybrid else None,
    )


@router.post("/v1/retrieve", response_model=RetrieveResponse)
def retrieve_route(body: RetrieveRequest, caller: Caller, parts: Parts, response: Response) -> RetrieveResponse:
    audit = Audit(caller, "retrieve")
    query_ref = parts.sealer.seal(body.query, "query")  # the query itself is never stored
    vector = embed_query(parts, body.query)
    with parts.connect() as conn:
        require_readable(conn, audit, body.collections, query_ref)
        with conn.transaction():  # the read and its audit event commit together, before we answer
            hits = search(conn, parts, caller, body.query, vector, body.collections, body.k)
            seq = audit.record(
                conn,
                Outcome.OK,
                ",".join(sorted({h.collection for h in hits})) or None,
                sorted({h.document_id for h in hits}),
                [h.chunk_id for h in hits],
                query_ref,
            )
    response.headers["X-Audit-Seq"] = str(seq)  # this answer's audit event, committed above
    return RetrieveResponse(citations=[citation(h) for h in hits])
