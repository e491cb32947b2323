"""Collections, ingestion and retrieval on PostgreSQL + pgvector, always inside the caller's ACL scope."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from stack.chunking import chunk_text
from stack.embeddings import Embedder
from stack.errors import GatewayError
from stack.extract import Extracted


class NotFound(GatewayError):
    """A collection that does not exist, or that the caller may not see (the two are not told apart)."""


@contextmanager
def scoped(conn: psycopg.Connection[Any], groups: Sequence[str]) -> Iterator[psycopg.Connection[Any]]:
    """A transaction in which row-level security sees exactly the caller's groups."""
    with conn.transaction():
        conn.execute("SELECT set_config('phistack.groups', %s, true)", ("\x1e".join(groups),))
        yield conn


def vector_literal(values: Sequence[float]) -> str:
    return "[" + ",".join(f"{v:.7g}" for v in values) + "]"


def _require(conn: psycopg.Connection[Any], groups: Sequence[str], collection: str, access: str) -> None:
    """NotFound unless the groups may read (or write) the collection; a missing one looks the same."""
    column = {"read": "read_groups", "write": "write_groups"}[access]
    found = conn.execute(
        f"SELECT 1 FROM collections WHERE id = %s AND {column} && %s",  # noqa: S608  (column from a fixed map)
        (collection, list(groups)),
    ).fetchone()
    if found is None:
        to = "read" if access == "read" else "write to"
        raise NotFound(f"No collection {collection!r} that you may {to}.")


def require_writable(conn: psycopg.Connection[Any], groups: Sequence[str], collection: str) -> None:
    """NotFound unless the groups may write to the collection: checked before an upload's body is read."""
    with scoped(conn, groups):
        _require(conn, groups, collection, "write")


def create_collection(
    conn: psycopg.Connection[Any], cid: str, title: str, read_groups: Sequence[str], write_groups: Sequence[str]
) -> None:
    conn.execute(
        "INSERT INTO collections (id, title, read_groups, write_groups) VALUES (%s, %s, %s, %s)",
        (cid, title, list(read_groups), list(write_groups)),
    )


@dataclass(frozen=True)
class Ingested:
    document_id: int
    chunk_ids: tuple[int, ...]
    created: bool  # False: the same content was already in the collection


def ingest(
    conn: psycopg.Connection[Any],
    embedder: Embedder,
    groups: Sequence[str],
    collection: str,
    title: str,
    document: Extracted | str,
    media_type: str = "text/plain",
) -> Ingested:
    """Chunk, embed and store one document, all or nothing; idempotent by content hash (of the extracted text)."""
    document = Extracted(document) if isinstance(document, str) else document
    digest = hashlib.sha256(document.text.encode("utf-8")).hexdigest()
    pieces = chunk_text(document.text)
    if not pieces:
        raise GatewayError("The document has no text to index.")
    vectors = embedder.embed([p.text for p in pieces])  # before the transaction: no lock held while embedding
    with scoped(conn, groups):
        _require(conn, groups, collection, "write")
        existing = conn.execute(
            "SELECT id FROM documents WHERE collection_id = %s AND content_hash = %s", (collection, digest)
        ).fetchone()
        if existing is not None:
            ids = conn.execute(
                "SELECT id FROM chunks WHERE document_id = %s ORDER BY ordinal", (existing[0],)
            ).fetchall()
            return Ingested(int(existing[0]), tuple(int(r[0]) for r in ids), created=False)
        row = conn.execute(
            "INSERT INTO documents (collection_id, title, media_type, content_hash) "
            "VALUES (%s, %s, %s, %s) RETURNING id",
            (collection, title, media_type, digest),
        ).fetchone()
        assert row is not None
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO chunks (document_id, collection_id, ordinal, start_offset, end_offset, page, text, "
                "embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::vector) RETURNING id",
                [
                    (
                        row[0],
                        collection,
                        p.ordinal,
                        p.start,
                        p.end,
                        document.page_of(p.start),
                        p.text,
                        vector_literal(v),
                    )
                    for p, v in zip(pieces, vectors, strict=True)
                ],
                returning=True,
            )
            chunk_ids = []
            while True:
                chunk_ids.append(int(cur.fetchone()[0]))  # type: ignore[index]
                if not cur.nextset():
                    break
        return Ingested(int(row[0]), tuple(chunk_ids), created=True)


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    read_groups: tuple[str, ...]
    write_groups: tuple[str, ...]
    documents: int


def list_collections(conn: psycopg.Connection[Any], groups: Sequence[str]) -> list[Collection]:
    """The collections the caller may read or write."""
    with scoped(conn, groups):
        rows = conn.execute(
            "SELECT c.id, c.title, c.read_groups, c.write_groups, "
            "(SELECT count(*) FROM documents d WHERE d.collection_id = c.id) "
            "FROM collections c WHERE c.read_groups && %(g)s OR c.write_groups && %(g)s ORDER BY c.id",
            {"g": list(groups)},
        ).fetchall()
    return [Collection(r[0], r[1], tuple(r[2]), tuple(r[3]), int(r[4])) for r in rows]


@dataclass(frozen=True)
class Document:
    id: int
    title: str
    media_type: str
    content_hash: str
    chunks: int
    created_at: str


def list_documents(conn: psycopg.Connection[Any], groups: Sequence[str], collection: str) -> list[Document]:
    with scoped(conn, groups):
        _require(conn, groups, collection, "read")
        rows = conn.execute(
            "SELECT d.id, d.title, d.media_type, d.content_hash, "
            "(SELECT count(*) FROM chunks c WHERE c.document_id = d.id), "
            "to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
            "FROM documents d WHERE d.collection_id = %s ORDER BY d.id",
            (collection,),
        ).fetchall()
    return [Document(int(r[0]), r[1], r[2], r[3], int(r[4]), r[5]) for r in rows]


def delete_document(
    conn: psycopg.Connection[Any], groups: Sequence[str], collection: str, document_id: int
) -> tuple[int, ...]:
    """Delete a document and its chunks inside the caller's transaction; return the chunk ids removed."""
    with scoped(conn, groups):  # a savepoint of the caller's transaction, which commits it with its audit event
        _require(conn, groups, collection, "write")
        chunk_ids = tuple(
            int(r[0])
            for r in conn.execute(
                "DELETE FROM chunks WHERE document_id = %s AND collection_id = %s RETURNING id",
                (document_id, collection),
            )
        )
        deleted = conn.execute(
            "DELETE FROM documents WHERE id = %s AND collection_id = %s RETURNING id", (document_id, collection)
        ).fetchone()
        if deleted is None:
            raise NotFound(f"No document {document_id} in collection {collection!r}.")
    return chunk_ids


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    document_id: int
    document_title: str
    collection: str
    ordinal: int
    start: int
    end: int
    text: str
    score: float  # cosine similarity
    page: int | None = None


def retrieve(
    conn: psycopg.Connection[Any],
    groups: Sequence[str],
    query_vector: Sequence[float],
    collections: Sequence[str] | None = None,
    k: int = 5,
    ef_search: int = 100,
) -> list[Hit]:
    """The k nearest chunks the caller may read. The ACL is in the WHERE clause, and RLS backs it up."""
    with scoped(conn, groups):
        conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef_search),))
        # pgvector 0.8: keep scanning the HNSW graph until k rows pass the filter.
        conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
        vector = vector_literal(query_vector)
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(
                """
            SELECT c.id, c.document_id, d.title, c.collection_id, c.ordinal, c.start_offset, c.end_offset, c.text,
                   c.page,
                   1 - (c.embedding <=> %(v)s::vector) AS score
            FROM chunks c
            JOIN documents d ON d.id = c.document_id
            JOIN collections col ON col.id = c.collection_id
            WHERE col.read_groups && %(groups)s
              AND (%(collections)s::text[] IS NULL OR c.collection_id = ANY(%(collections)s))
            ORDER BY c.embedding <=> %(v)s::vector
            LIMIT %(k)s
            """,
                {
                    "v": vector,
                    "groups": list(groups),
                    "collections": list(collections) if collections else None,
                    "k": k,
                },
            )
            .fetchall()
        )
    return [
        Hit(
            r["id"],
            r["document_id"],
            r["title"],
            r["collection_id"],
            r["ordinal"],
            r["start_offset"],
            r["end_offset"],
            r["text"],
            float(r["score"]),
            r["page"],
        )
        for r in rows
    ]
