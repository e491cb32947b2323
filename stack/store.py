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


class NotFound(GatewayError):
    """A collection that does not exist, or that the caller may not see (the two are not told apart)."""


@contextmanager
def scoped(conn: psycopg.Connection[Any], groups: Sequence[str]) -> Iterator[psycopg.Connection[Any]]:
    """A transaction in which row-level security sees exactly the caller's groups."""
    with conn.transaction():
        conn.execute("SELECT set_config('phistack.groups', %s, true)", ("\x1e".join(groups),))
        yield conn


def _vector(values: Sequence[float]) -> str:
    return "[" + ",".join(f"{v:.7g}" for v in values) + "]"


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
    chunks: int
    created: bool  # False: the same content was already in the collection


def ingest(
    conn: psycopg.Connection[Any],
    embedder: Embedder,
    groups: Sequence[str],
    collection: str,
    title: str,
    text: str,
    media_type: str = "text/plain",
) -> Ingested:
    """Chunk, embed and store one document, all or nothing; idempotent by content hash."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    pieces = chunk_text(text)
    if not pieces:
        raise GatewayError("The document has no text to index.")
    vectors = embedder.embed([p.text for p in pieces])  # before the transaction: no lock held while embedding
    with scoped(conn, groups):
        if (
            conn.execute(
                "SELECT 1 FROM collections WHERE id = %s AND write_groups && %s", (collection, list(groups))
            ).fetchone()
            is None
        ):
            raise NotFound(f"No collection {collection!r} that you may write to.")
        existing = conn.execute(
            "SELECT id FROM documents WHERE collection_id = %s AND content_hash = %s", (collection, digest)
        ).fetchone()
        if existing is not None:
            count = conn.execute("SELECT count(*) FROM chunks WHERE document_id = %s", (existing[0],)).fetchone()
            return Ingested(int(existing[0]), int(count[0]) if count else 0, created=False)
        row = conn.execute(
            "INSERT INTO documents (collection_id, title, media_type, content_hash) "
            "VALUES (%s, %s, %s, %s) RETURNING id",
            (collection, title, media_type, digest),
        ).fetchone()
        assert row is not None
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO chunks (document_id, collection_id, ordinal, start_offset, end_offset, text, embedding) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s::vector)",
                [
                    (row[0], collection, p.ordinal, p.start, p.end, p.text, _vector(v))
                    for p, v in zip(pieces, vectors, strict=True)
                ],
            )
        return Ingested(int(row[0]), len(pieces), created=True)


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
        vector = _vector(query_vector)
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(
                """
            SELECT c.id, c.document_id, d.title, c.collection_id, c.ordinal, c.start_offset, c.end_offset, c.text,
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
        )
        for r in rows
    ]
