"""What every route shares: the gateway's parts, the caller, and the audit event each request leaves."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, NoReturn, TypedDict

import psycopg
from fastapi import Depends, Header, HTTPException, Request
from pydantic import BeforeValidator, StringConstraints

from stack.audit import CONTROL, AuditEvent, Outcome, append
from stack.auth import Principal, Unauthenticated
from stack.db import Connect
from stack.embeddings import Embedder
from stack.guard import PRINCIPAL
from stack.llm import ChatEngine
from stack.sealing import HashSealer, Sealer
from stack.store import Ingested, scoped


def valid_unicode(value: object) -> object:
    """Refuse text UTF-8 cannot hold (a lone surrogate, which JSON can spell as \\ud800): it could not be stored,
    embedded or logged safely. The error names no part of the text."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


Text = Annotated[str, BeforeValidator(valid_unicode)]  # every free-text field a caller sends
log = logging.getLogger(__name__)
CollectionId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]  # as the database's CHECK
GroupName = Annotated[str, BeforeValidator(valid_unicode), StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,200}$")]
Title = Annotated[str, BeforeValidator(valid_unicode), StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,300}$")]


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1_000_000  # JSON requests
    max_document_bytes: int = 20_000_000  # uploaded documents
    default_k: int = 5
    max_context_chars: int = 6000  # retrieved text put in front of the model
    max_tokens: int = 512  # the default answer length; callers may ask for less or more, up to 4096
    max_conversation_chars: int = 16_000  # a conversation's text in all: with the sources, inside an 8k context
    # Relevance (cosine similarity, raised for a chunk holding the question's exact terms: stack.store.Hit) below
    # which a chunk is never given to the model: with all-MiniLM-L6-v2, questions scored 0.44-0.92 against their
    # passage here, and 0.23 at most against unrelated clinic text.
    min_relevance: float = 0.30
    hybrid: bool = True  # full-text search fused with the vector search; False: vectors alone
    ocr: str | None = None  # tesseract's languages for scanned PDFs (e.g. "eng"); None: no OCR


@dataclass(frozen=True)
class Gateway:
    authenticate: Callable[[str | None], Principal]
    connect: Connect
    embedder: Embedder
    engine: ChatEngine | None = None
    sealer: Sealer = field(default_factory=HashSealer)
    admin_groups: tuple[str, ...] = ()  # may create collections
    limits: Limits = field(default_factory=Limits)


def gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


def _principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    """The caller stack.guard authenticated before the body was read (or, without the guard, now)."""
    known = request.scope.get("state", {}).get(PRINCIPAL)
    if isinstance(known, Principal):
        return known
    try:
        return gateway(request).authenticate(authorization)
    except Unauthenticated as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None


Caller = Annotated[Principal, Depends(_principal)]
Parts = Annotated[Gateway, Depends(gateway)]


class Touched(TypedDict, total=False):
    """What a request touched, as its audit event records it."""

    collection: str | None
    document_ids: Sequence[int]
    chunk_ids: Sequence[int]
    query_ref: str | None


class Audit:
    """The audit event of one request; `record` appends it inside the caller's open transaction."""

    def __init__(self, caller: Principal, action: str) -> None:
        self.caller, self.action, self.started = caller, action, time.perf_counter()

    def record(
        self,
        conn: psycopg.Connection[Any],
        outcome: Outcome,
        collection: str | None = None,
        document_ids: Sequence[int] = (),
        chunk_ids: Sequence[int] = (),
        query_ref: str | None = None,
        answer_ref: str | None = None,
        action: str | None = None,
        source: str | None = None,
    ) -> int:
        event = AuditEvent(
            actor=self.caller.subject,
            groups=self.caller.groups,
            action=action or self.action,
            collection=collection,
            document_ids=tuple(document_ids),
            chunk_ids=tuple(chunk_ids),
            outcome=outcome,
            latency_ms=int((time.perf_counter() - self.started) * 1000),
            query_ref=query_ref,
            answer_ref=answer_ref,
            source=source,
        )
        seq, _ = append(conn, event)
        return seq

    def record_failure(self, connect: Connect, where: Touched) -> None:
        """Best effort, after an unexpected failure: an "error" event for what the request touched. If even that
        cannot be written (the database is gone), the failure's kind is logged, never what was asked."""
        try:
            with connect() as conn, conn.transaction():
                self.record(conn, Outcome.ERROR, **where)
        except Exception as exc:  # noqa: BLE001 - the original failure is re-raised by the caller
            log.error("could not audit a failed %s request (%s)", self.action, exc.__class__.__name__)  # noqa: TRY400

    def refuse(
        self,
        conn: psycopg.Connection[Any],
        status: int,
        detail: str,
        outcome: Outcome,
        collection: str | None = None,
        document_ids: Sequence[int] = (),
        chunk_ids: Sequence[int] = (),
        query_ref: str | None = None,
    ) -> NoReturn:
        """Commit an event for a refused request, then raise the HTTP error."""
        with conn.transaction():
            self.record(conn, outcome, collection, document_ids, chunk_ids, query_ref)
        raise HTTPException(status, detail)


def record_ingest(
    audit: Audit, conn: psycopg.Connection[Any], collection: str, result: Ingested, source: str | None = None
) -> int:
    """The event of an ingestion: ok (a new source), replaced (naming the new document, then the superseded one,
    and the chunks of both) or unchanged (nothing written)."""
    if not result.created:
        outcome = Outcome.UNCHANGED
    elif result.superseded is not None:
        outcome = Outcome.REPLACED
    else:
        outcome = Outcome.OK
    documents = [result.document_id] + ([result.superseded] if result.superseded is not None else [])
    chunks = result.chunk_ids + result.superseded_chunks
    return audit.record(conn, outcome, collection, documents, chunks, source=source)


def require_readable(
    conn: psycopg.Connection[Any], audit: Audit, requested: Sequence[str] | None, query_ref: str | None
) -> None:
    """Refuse (404, audited as denied) a request naming any collection the caller may not read."""
    missing = unreadable(conn, audit.caller.groups, requested)
    if missing:
        message = f"No collection {missing[0]!r} that you may read."
        audit.refuse(conn, 404, message, Outcome.DENIED, ",".join(missing), query_ref=query_ref)


def unreadable(conn: psycopg.Connection[Any], groups: Sequence[str], requested: Sequence[str] | None) -> list[str]:
    """The requested collections the caller may not read (a missing one and a forbidden one look the same)."""
    if not requested:
        return []
    with scoped(conn, groups):
        visible = {r[0] for r in conn.execute("SELECT id FROM collections WHERE read_groups && %s", (list(groups),))}
    return sorted(set(requested) - visible)


def clean_title(title: str) -> str:
    title = title.strip()
    if not title or len(title) > 300 or CONTROL.search(title):
        raise HTTPException(422, "title: 1 to 300 characters, no control characters.")
    return title
