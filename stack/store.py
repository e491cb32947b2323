"""Collections, ingestion and retrieval on PostgreSQL + pgvector, always inside the caller's ACL scope."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from stack.chunking import Chunk, chunk_sections
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
class Source:
    """What a document is a version of: an S3 object, or an HTTP upload's external id or title. A collection holds
    one document per source; ingesting a new version replaces the old one."""

    ref: str  # 's3://<bucket>/<key>', 'external:<id>' or 'title:<title>'
    version: str | None = None  # the S3 version id

    @classmethod
    def upload(cls, title: str, external_id: str | None = None) -> Source:
        return cls(f"external:{external_id}" if external_id else f"title:{title}")

    @classmethod
    def s3(cls, bucket: str, key: str, version: str | None) -> Source:
        return cls(f"s3://{bucket}/{key}", version)


@dataclass(frozen=True)
class Ingested:
    document_id: int
    chunk_ids: tuple[int, ...]
    created: bool  # False: this source already held the same content (nothing written)
    superseded: int | None = None  # the source's previous document, replaced in the same transaction
    superseded_chunks: tuple[int, ...] = ()


def _lock_source(conn: psycopg.Connection[Any], collection: str, source: Source) -> None:
    """One writer per source at a time, until the transaction ends: two versions never race to be current."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 716))", (_lock_name(collection, source),))


def _lock_name(collection: str, source: Source) -> str:
    return f"{collection}\x1f{source.ref}"


@contextmanager
def claimed(conn: psycopg.Connection[Any], collection: str, source: Source) -> Iterator[None]:
    """The source for this connection alone, across its transactions, until the block ends: a syncer reads the
    object now current in the bucket and stores it while no other syncer (thread, process or host) may, so the
    last to store a source is the last to have read it. A session lock: it ends with the connection."""
    name = _lock_name(collection, source)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 717))", (name,))
    try:
        yield
    finally:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 717))", (name,))


def _current(conn: psycopg.Connection[Any], collection: str, source: Source) -> tuple[int, str, str | None] | None:
    row = conn.execute(
        "SELECT id, content_hash, source_version FROM documents WHERE collection_id = %s AND source = %s",
        (collection, source.ref),
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]), row[2])


def _drop(conn: psycopg.Connection[Any], document_id: int) -> tuple[int, ...]:
    """Delete a document and its chunks (inside the caller's transaction); the chunk ids removed."""
    chunk_ids = tuple(
        int(r[0]) for r in conn.execute("DELETE FROM chunks WHERE document_id = %s RETURNING id", (document_id,))
    )
    conn.execute("DELETE FROM documents WHERE id = %s", (document_id,))
    return chunk_ids


def _unchanged(conn: psycopg.Connection[Any], collection: str, source: Source, digest: str) -> Ingested | None:
    """The stored document when this source already holds this content (its version id is brought up to date)."""
    current = _current(conn, collection, source)
    if current is None or current[1] != digest:
        return None
    if source.version is not None and current[2] != source.version:
        conn.execute("UPDATE documents SET source_version = %s WHERE id = %s", (source.version, current[0]))
    ids = conn.execute("SELECT id FROM chunks WHERE document_id = %s ORDER BY ordinal", (current[0],)).fetchall()
    return Ingested(current[0], tuple(int(r[0]) for r in ids), created=False)


def ingest(
    conn: psycopg.Connection[Any],
    embedder: Embedder,
    groups: Sequence[str],
    collection: str,
    title: str,
    document: Extracted | str,
    media_type: str = "text/plain",
    source: Source | None = None,
) -> Ingested:
    """Chunk, embed and store one document as the current version of its source (by default its title), all or
    nothing. The same content again changes nothing; new content replaces the source's previous document in one
    transaction, so a query sees the old version or the new one, never both and never neither."""
    document = Extracted(document) if isinstance(document, str) else document
    source = source or Source.upload(title)
    digest = hashlib.sha256(document.text.encode("utf-8")).hexdigest()
    with scoped(conn, groups):  # the ACL, and the cheap duplicate check, before any embedding work
        _require(conn, groups, collection, "write")
        same = _unchanged(conn, collection, source, digest)
    if same is not None:
        return same
    pieces = chunk_sections(document.text, document.sections)
    if not pieces:
        raise GatewayError("The document has no text to index.")
    vectors = embedder.embed([p.text for p in pieces])  # before the transaction: no lock held while embedding
    with scoped(conn, groups):
        _require(conn, groups, collection, "write")
        _lock_source(conn, collection, source)
        same = _unchanged(conn, collection, source, digest)  # a concurrent writer stored it meanwhile
        if same is not None:
            return same
        previous = _current(conn, collection, source)
        old_chunks = _drop(conn, previous[0]) if previous is not None else ()
        row = conn.execute(
            "INSERT INTO documents (collection_id, title, media_type, content_hash, source, source_version) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (collection, title, media_type, digest, source.ref, source.version),
        ).fetchone()
        assert row is not None
        chunk_ids = _insert_chunks(conn, int(row[0]), collection, document, pieces, vectors)
    return Ingested(int(row[0]), chunk_ids, True, previous[0] if previous is not None else None, old_chunks)


def _insert_chunks(
    conn: psycopg.Connection[Any],
    document_id: int,
    collection: str,
    document: Extracted,
    pieces: Sequence[Chunk],
    vectors: Sequence[Sequence[float]],
) -> tuple[int, ...]:
    rows = []
    for p, v in zip(pieces, vectors, strict=True):
        first, last = document.pages_of(p.start, p.end)
        rows.append(
            (document_id, collection, p.ordinal, p.start, p.end, first, last, p.section, p.text, vector_literal(v))
        )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO chunks (document_id, collection_id, ordinal, start_offset, end_offset, page_start, page_end, "
            "section, text, embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::vector) RETURNING id",
            rows,
            returning=True,
        )
        chunk_ids = []
        while True:
            chunk_ids.append(int(cur.fetchone()[0]))  # type: ignore[index]
            if not cur.nextset():
                break
    return tuple(chunk_ids)


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
    source: str
    version: str | None


def list_documents(conn: psycopg.Connection[Any], groups: Sequence[str], collection: str) -> list[Document]:
    with scoped(conn, groups):
        _require(conn, groups, collection, "read")
        rows = conn.execute(
            "SELECT d.id, d.title, d.media_type, d.content_hash, "
            "(SELECT count(*) FROM chunks c WHERE c.document_id = d.id), "
            "to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), d.source, d.source_version "
            "FROM documents d WHERE d.collection_id = %s ORDER BY d.id",
            (collection,),
        ).fetchall()
    return [Document(int(r[0]), r[1], r[2], r[3], int(r[4]), r[5], r[6], r[7]) for r in rows]


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


def stored_version(conn: psycopg.Connection[Any], groups: Sequence[str], collection: str, source: Source) -> str | None:
    """The version the collection holds from this source (None: nothing from it). NotFound unless the groups may
    write to the collection: a writer asks before it does any work on the source."""
    with scoped(conn, groups):
        _require(conn, groups, collection, "write")
        current = _current(conn, collection, source)
    return None if current is None else current[2]


def sources_under(conn: psycopg.Connection[Any], groups: Sequence[str], prefix: str) -> set[str]:
    """The sources starting with prefix (e.g. s3://bucket/) held in the collections the groups may see."""
    with scoped(conn, groups):
        rows = conn.execute("SELECT source FROM documents WHERE starts_with(source, %s)", (prefix,)).fetchall()
    return {str(r[0]) for r in rows}


def remove_source(
    conn: psycopg.Connection[Any], groups: Sequence[str], collection: str, source: Source
) -> tuple[int, tuple[int, ...]] | None:
    """Delete the source's document and chunks inside the caller's transaction: (document id, chunk ids), or None
    when the collection holds nothing from that source."""
    with scoped(conn, groups):
        _require(conn, groups, collection, "write")
        _lock_source(conn, collection, source)
        current = _current(conn, collection, source)
        if current is None:
            return None
        chunk_ids = _drop(conn, current[0])
    return current[0], chunk_ids


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
    score: float  # cosine similarity to the question, whichever search found the chunk
    page: int | None = None  # the first page the chunk is on
    page_end: int | None = None  # and the last
    section: str | None = None
    source: str | None = None  # s3://bucket/key, external:<id> or title:<title>
    source_version: str | None = None
    coverage: float = 0.0  # the share of the question's distinctive terms it holds, weighted by rarity (hybrid)

    @property
    def relevance(self) -> float:
        """What ranked it: its cosine similarity, plus TEXT_WEIGHT times its coverage of the exact terms."""
        return self.score + TEXT_WEIGHT * self.coverage


# Hybrid retrieval: the vector search and a full-text search each offer CANDIDATES chunks; every candidate is
# ranked by its relevance, its cosine similarity plus TEXT_WEIGHT times the share of the question's distinctive
# terms it holds (each term weighted by its rarity, ln(COMMON / chunks holding it)). Measured on bench/hybrid.py's
# labelled set, this beat reciprocal rank fusion, which ranked meaning questions worse than vectors alone.
CANDIDATES = 40
TEXT_WEIGHT = 0.5
# The text search looks for the question's *distinctive* words only. Each of its lexemes is counted in the chunks
# the caller may read (up to COMMON, cheaply, on the GIN index); words in none are dropped, and so is every word
# more than RARITY_SPREAD times as frequent as the rarest one, keeping at most MAX_TERMS. "What is code E11.641?"
# searches for 'e11.641', not for 'code'; a question with no distinctive word is left to the vectors.
COMMON = 200
RARITY_SPREAD = 10
MAX_TERMS = 4
MAX_LOOKUPS = 12  # words counted per question: those with digits (codes, doses), then the longest
# The ACL: the collections the caller may read, resolved first (_READABLE), so that each search is a plain filter
# the planner estimates well (a join to collections made it choose a sequential scan over the HNSW index).
_READABLE = """SELECT id FROM collections WHERE read_groups && %(groups)s
    AND (%(collections)s::text[] IS NULL OR id = ANY(%(collections)s))"""
# The text search and its counts call chunks_matching[_count] (migration 0005), which apply the same ACL as owner:
# under RLS, PostgreSQL would not use the GIN index for @@, which is not leakproof.
_ACL = "c.collection_id = ANY(%(allowed)s)"
_VECTOR_LEG = f"""
    SELECT c.id FROM chunks c WHERE {_ACL} ORDER BY c.embedding <=> %(v)s::vector LIMIT %(n)s"""
_FREQUENCIES = f"""
    SELECT t.query::text, chunks_matching_count(t.query, %(allowed)s, {COMMON})
    FROM (SELECT lexeme, CAST(%(quote)s || replace(replace(lexeme, '\\', '\\\\'), %(quote)s, %(quote)s || %(quote)s)
                              || %(quote)s AS tsquery) AS query  -- the lexeme as is, never re-parsed
          FROM unnest(tsvector_to_array(to_tsvector('english', %(q)s))) AS lexeme
          ORDER BY lexeme ~ '[0-9]' DESC, length(lexeme) DESC, lexeme LIMIT {MAX_LOOKUPS}) t"""
_TEXT_LEG = "SELECT id FROM chunks_matching(%(any_term)s::tsquery, %(allowed)s, %(n)s)"
_HIT_COLUMNS = """c.id, c.document_id, d.title, c.collection_id, c.ordinal, c.start_offset, c.end_offset, c.text,
    1 - (c.embedding <=> %(v)s::vector) AS score, c.page_start, c.page_end, c.section, d.source, d.source_version"""
_VECTOR_ONLY = f"""
    SELECT {_HIT_COLUMNS}, 0.0 FROM ({_VECTOR_LEG}) v JOIN chunks c ON c.id = v.id
    JOIN documents d ON d.id = c.document_id
    ORDER BY c.embedding <=> %(v)s::vector LIMIT %(k)s"""
_HYBRID = f"""
    WITH candidates AS (SELECT id FROM ({_VECTOR_LEG}) v UNION SELECT id FROM ({_TEXT_LEG}) t),
         ranked AS (
           SELECT {_HIT_COLUMNS}, (SELECT coalesce(sum(w), 0) FROM unnest(%(terms)s::tsquery[], %(weights)s::float8[])
                                   AS term(q, w) WHERE c.lexemes @@ term.q) AS coverage
           FROM candidates JOIN chunks c ON c.id = candidates.id JOIN documents d ON d.id = c.document_id)
    SELECT * FROM ranked ORDER BY score + {TEXT_WEIGHT} * coverage DESC, id LIMIT %(k)s"""


def _distinctive(conn: psycopg.Connection[Any], params: dict[str, Any]) -> bool:
    """Find the question's distinctive terms (see COMMON) and put them in params, with their rarity weights
    summing to 1; False when it has none."""
    counted = [(int(n), str(term)) for term, n in conn.execute(_FREQUENCIES, params) if 0 < n < COMMON]
    if not counted:
        return False
    rarest = min(n for n, _ in counted)
    kept = sorted((n, term) for n, term in counted if n <= rarest * RARITY_SPREAD)[:MAX_TERMS]
    rarity = [math.log(COMMON / n) for n, _ in kept]
    params["terms"] = [term for _, term in kept]  # each a one-lexeme tsquery, quoted by PostgreSQL
    params["weights"] = [r / sum(rarity) for r in rarity]
    params["any_term"] = " | ".join(params["terms"])
    return True


def retrieve(
    conn: psycopg.Connection[Any],
    groups: Sequence[str],
    query_vector: Sequence[float],
    collections: Sequence[str] | None = None,
    k: int = 5,
    ef_search: int = 100,
    query_text: str | None = None,
) -> list[Hit]:
    """The k best chunks the caller may read: nearest by vector alone, or, given the question's text, the
    candidates of the vector search and of PostgreSQL full-text search ranked by relevance (see CANDIDATES). The
    ACL is in the WHERE clause of every search, and RLS backs it up."""
    with scoped(conn, groups):
        conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef_search),))
        # pgvector 0.8: keep scanning the HNSW graph until enough rows pass the filter.
        conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
        params: dict[str, Any] = {
            "v": vector_literal(query_vector),
            "groups": list(groups),
            "collections": list(collections) if collections else None,
            "k": k,
            "n": k,
            "q": (query_text or "").replace("\x00", " "),  # PostgreSQL text holds no NUL
            "quote": "'",
        }
        params["allowed"] = [r[0] for r in conn.execute(_READABLE, params)]
        if not params["allowed"]:
            return []
        hybrid = bool(query_text) and _distinctive(conn, params)
        if hybrid:
            params["n"] = max(k, CANDIDATES)
        rows = conn.execute(_HYBRID if hybrid else _VECTOR_ONLY, params).fetchall()
    return [
        Hit(
            int(r[0]),
            int(r[1]),
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            float(r[8]),
            r[9],
            r[10],
            r[11],
            r[12],
            r[13],
            float(r[14]),
        )
        for r in rows
    ]
