"""Collections and documents: create a collection (administrators), ingest a document (writers), list them
(readers), delete a document (writers). Every request leaves an audit event, committed with its change."""

from __future__ import annotations

from typing import Annotated

import psycopg
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from stack.audit import Outcome
from stack.errors import EngineError, EngineUnavailable
from stack.extract import MalformedDocument, UnsupportedMediaType, extract
from stack.gateway import Audit, Caller, CollectionId, GroupName, Parts, Title, clean_title, record_ingest
from stack.store import (
    NotFound,
    Source,
    create_collection,
    delete_document,
    ingest,
    list_collections,
    list_documents,
    require_writable,
    scoped,
)

router = APIRouter()
CollectionPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


class NewCollection(BaseModel):
    id: CollectionId
    title: Title
    read_groups: list[GroupName] = Field(min_length=1, max_length=50)
    write_groups: list[GroupName] = Field(min_length=1, max_length=50)


class CollectionOut(BaseModel):
    id: str
    title: str
    read_groups: list[str]
    write_groups: list[str]
    documents: int


class DocumentOut(BaseModel):
    id: int
    title: str
    media_type: str
    content_hash: str
    chunks: int
    created_at: str
    source: str
    version: str | None


class IngestOut(BaseModel):
    document_id: int
    chunks: int
    created: bool
    replaced: int | None = None  # the document this upload superseded (same title or external id)


@router.post("/v1/collections", status_code=201, response_model=CollectionOut)
def create(body: NewCollection, caller: Caller, parts: Parts) -> CollectionOut:
    audit = Audit(caller, "collection-create")
    with parts.connect() as conn:
        if not set(caller.groups) & set(parts.admin_groups):
            audit.refuse(conn, 403, "Only administrators may create collections.", Outcome.DENIED, body.id)
        try:
            # Administrators act through the collection's own write groups, so row-level security still applies.
            with scoped(conn, body.write_groups):
                create_collection(conn, body.id, body.title, body.read_groups, body.write_groups)
                audit.record(conn, Outcome.OK, body.id)
        except psycopg.errors.UniqueViolation:
            audit.refuse(conn, 409, f"Collection {body.id!r} already exists.", Outcome.CONFLICT, body.id)
    return CollectionOut(**body.model_dump(), documents=0)


@router.get("/v1/collections", response_model=list[CollectionOut])
def collections(caller: Caller, parts: Parts) -> list[CollectionOut]:
    audit = Audit(caller, "collection-list")
    with parts.connect() as conn:
        found = list_collections(conn, caller.groups)
        with conn.transaction():
            audit.record(conn, Outcome.OK)
    return [
        CollectionOut(**{**c.__dict__, "read_groups": list(c.read_groups), "write_groups": list(c.write_groups)})
        for c in found
    ]


@router.get("/v1/collections/{collection}/documents", response_model=list[DocumentOut])
def documents(collection: CollectionPath, caller: Caller, parts: Parts) -> list[DocumentOut]:
    audit = Audit(caller, "document-list")
    with parts.connect() as conn:
        try:
            found = list_documents(conn, caller.groups, collection)
        except NotFound as exc:
            audit.refuse(conn, 404, str(exc), Outcome.DENIED, collection)
        with conn.transaction():
            audit.record(conn, Outcome.OK, collection, [d.id for d in found])
    return [DocumentOut(**d.__dict__) for d in found]


@router.post("/v1/collections/{collection}/documents", status_code=201, response_model=IngestOut)
async def upload(
    collection: CollectionPath,
    request: Request,
    caller: Caller,
    parts: Parts,
    response: Response,
    title: Annotated[str, Query(min_length=1, max_length=300)],
    external_id: Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")] = None,
) -> IngestOut:
    """The body is the document itself; its Content-Type says how to read it (see stack.extract.MEDIA_TYPES).
    A document is a version of its source: its external_id when given, else its title. Uploading new content
    for a source replaces the previous version in one transaction; the same content again changes nothing."""
    name = clean_title(title)
    source = Source.upload(name, external_id)
    media_type = request.headers.get("content-type", "")
    await run_in_threadpool(_may_write, parts, caller, collection)  # the ACL before a byte of the body is read
    data = await request.body()  # bounded by stack.guard, which counts every body against its cap as it arrives
    return await run_in_threadpool(_ingest, parts, caller, collection, (name, source), media_type, data, response)


def _may_write(parts: Parts, caller: Caller, collection: str) -> None:
    with parts.connect() as conn:
        try:
            require_writable(conn, caller.groups, collection)
        except NotFound as exc:
            Audit(caller, "ingest").refuse(conn, 404, str(exc), Outcome.DENIED, collection)


def _ingest(
    parts: Parts,
    caller: Caller,
    collection: str,
    named: tuple[str, Source],
    media_type: str,
    data: bytes,
    response: Response,
) -> IngestOut:
    audit = Audit(caller, "ingest")
    title, source = named
    with parts.connect() as conn:
        try:
            document = extract(data, media_type, parts.limits.ocr)
            kind = media_type.split(";")[0]
            result = ingest(conn, parts.embedder, caller.groups, collection, title, document, kind, source)
        except UnsupportedMediaType as exc:
            audit.refuse(conn, 415, str(exc), Outcome.REFUSED, collection)
        except MalformedDocument as exc:
            audit.refuse(conn, 422, str(exc), Outcome.REFUSED, collection)
        except NotFound as exc:
            audit.refuse(conn, 404, str(exc), Outcome.DENIED, collection)
        except (EngineUnavailable, EngineError) as exc:
            audit.refuse(conn, 503, str(exc), Outcome.ENGINE_UNAVAILABLE, collection)
        with conn.transaction():
            record_ingest(audit, conn, collection, result)
    if not result.created:
        response.status_code = 200
    return IngestOut(
        document_id=result.document_id,
        chunks=len(result.chunk_ids),
        created=result.created,
        replaced=result.superseded,
    )


@router.delete("/v1/collections/{collection}/documents/{document_id}", status_code=204)
def delete(
    collection: CollectionPath, document_id: Annotated[int, Path(ge=1, le=2**63 - 1)], caller: Caller, parts: Parts
) -> Response:
    audit = Audit(caller, "delete")
    with parts.connect() as conn:
        try:
            with conn.transaction():  # the deletion and its audit event commit together, or neither does
                removed = delete_document(conn, caller.groups, collection, document_id)
                audit.record(conn, Outcome.OK, collection, [document_id], removed)
        except NotFound as exc:
            audit.refuse(conn, 404, str(exc), Outcome.DENIED, collection, [document_id])
    return Response(status_code=204)
