"""Benchmark: retrieval on 100k real text chunks (MiniLM, 384-d) in PostgreSQL + pgvector, in one run:

1. Vector search: pgvector HNSW (m 16, ef_construction 64, ef_search 100) against exact search (numpy brute force,
   the baseline) on the same vectors: recall@10 and p50/p95 latency. Targets: recall@10 >= 0.98, p95 <= 3 ms.
2. Gateway overhead: POST /v1/retrieve on the real server over loopback (authenticated, ACL in the query, RLS, audit
   event committed) against its baseline, the query's embedding plus the bare SQL search, in-process. Target:
   p95 within 1.2x.
3. Hybrid retrieval: the same requests with full-text search beside the vectors (the gateway's default) against
   vector search alone (PHISTACK_GATEWAY_HYBRID_RETRIEVAL=false). Target: p95 within 1.3x.

The corpus (bench/corpus.py) is embedded once and cached; the database is a throwaway embedded PostgreSQL.

    .venv/bin/python bench/retrieval.py [--chunks 100000] [--queries 500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from bench.corpus import load  # noqa: E402
from infra.sandbox.server import free_port  # noqa: E402
from stack.dev.loadcheck import dev_gateway, dev_token  # noqa: E402
from stack.dev.postgres import LocalPostgres  # noqa: E402
from stack.embeddings import MiniLMEmbedder  # noqa: E402
from stack.migrate import migrate  # noqa: E402
from stack.store import retrieve, vector_literal  # noqa: E402

K = 10
BARE = "SELECT id FROM chunks ORDER BY embedding <=> %s::vector LIMIT 10"


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def fill(dsn: str, texts: list[str], vectors: np.ndarray) -> tuple[int, float]:
    """Load the chunks (one document per 100), then build the HNSW index; return (first chunk id, build seconds)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX chunks_embedding_hnsw")
        conn.execute(
            "INSERT INTO collections VALUES ('corpus', 'Corpus', '{readers}', '{writers}') ON CONFLICT DO NOTHING"
        )
        with conn.transaction():
            doc_ids = [
                conn.execute(
                    "INSERT INTO documents (collection_id, title, media_type, content_hash, source) "
                    "VALUES ('corpus', %s, 'text/plain', %s, %s) RETURNING id",
                    (f"doc {d}", f"h{d}", f"title:doc {d}"),
                ).fetchone()[0]  # type: ignore[index]
                for d in range((len(texts) + 99) // 100)
            ]
            with conn.cursor().copy(
                "COPY chunks (document_id, collection_id, ordinal, start_offset, end_offset, text, embedding) "
                "FROM STDIN"
            ) as copy:
                for i, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
                    clean = text.replace("\x00", "")  # as stack.extract does: PostgreSQL text holds no NUL
                    copy.write_row((doc_ids[i // 100], "corpus", i % 100, 0, len(clean), clean, vector_literal(vector)))
        first = conn.execute("SELECT min(id) FROM chunks").fetchone()[0]  # type: ignore[index]
        conn.execute("SET maintenance_work_mem = '1GB'")
        started = time.perf_counter()
        conn.execute(
            "CREATE INDEX chunks_embedding_hnsw ON chunks USING hnsw (embedding vector_cosine_ops) "
            "WITH (m = 16, ef_construction = 64)"
        )
        build = time.perf_counter() - started
        conn.execute("VACUUM ANALYZE chunks")
    return int(first), build


def vector_search(dsn: str, first: int, vectors: np.ndarray, queries: np.ndarray) -> None:
    exact_ms, exact_ids = [], []
    for q in queries:
        t0 = time.perf_counter()
        scores = vectors @ q
        top = np.argpartition(-scores, K)[:K]
        top = top[np.argsort(-scores[top])]
        exact_ms.append((time.perf_counter() - t0) * 1000)
        exact_ids.append(set(top.tolist()))
    hnsw_ms, recalls = [], []
    with psycopg.connect(dsn) as conn:
        conn.execute("SET hnsw.ef_search = 100")
        for q in queries[:50]:
            conn.execute(BARE, (vector_literal(q),)).fetchall()  # warm the index pages
        for q, truth in zip(queries, exact_ids, strict=True):
            t0 = time.perf_counter()
            rows = conn.execute(BARE, (vector_literal(q),)).fetchall()
            hnsw_ms.append((time.perf_counter() - t0) * 1000)
            recalls.append(len({r[0] - first for r in rows} & truth) / K)
    recall = statistics.fmean(recalls)
    print(f"\n1. vector search, {len(vectors)} chunks, {len(queries)} held-out queries, k={K}")
    print(f"   baseline exact (numpy brute force): p50 {pct(exact_ms, 50):.2f} ms  p95 {pct(exact_ms, 95):.2f} ms")
    print(
        f"   pgvector HNSW ef_search 100:        p50 {pct(hnsw_ms, 50):.2f} ms  p95 {pct(hnsw_ms, 95):.2f} ms  "
        f"({pct(hnsw_ms, 95) / pct(exact_ms, 95):.2f}x exact's p95)"
    )
    print(f"   recall@10 vs exact: {recall:.3f} (target >= 0.98: {'met' if recall >= 0.98 else 'MISSED'}); "
          f"p95 target <= 3 ms: {'met' if pct(hnsw_ms, 95) <= 3 else 'MISSED'}")  # fmt: skip


def gateway_overhead(pg: LocalPostgres, query_texts: list[str], workdir: Path) -> None:
    embedder = MiniLMEmbedder()
    embedder.embed(["warm"])
    app_dsn = pg.dsn(user="phistack_app")
    base_ms = []
    with psycopg.connect(app_dsn) as conn:
        for text in query_texts[:20]:
            retrieve(conn, ["readers"], embedder.embed([text])[0], None, K)
        for text in query_texts:
            t0 = time.perf_counter()
            retrieve(conn, ["readers"], embedder.embed([text])[0], None, K)  # the gateway's own query: ACL + RLS
            base_ms.append((time.perf_counter() - t0) * 1000)
    modes = {}
    for mode, hybrid in (("vector-only", "false"), ("hybrid", "true")):
        gateway_ms = []
        env = {"PHISTACK_GATEWAY_HYBRID_RETRIEVAL": hybrid}
        with dev_gateway(app_dsn, workdir, ROOT, env) as gw:
            headers = {"Authorization": f"Bearer {dev_token(gw.key, groups=['readers'])}"}
            with httpx.Client(base_url=gw.url, headers=headers, timeout=60) as http:
                for text in query_texts[:20]:
                    assert http.post("/v1/retrieve", json={"query": text, "k": K}).status_code == 200
                for text in query_texts:
                    t0 = time.perf_counter()
                    response = http.post("/v1/retrieve", json={"query": text, "k": K})
                    gateway_ms.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200 and len(response.json()["citations"]) == K
        modes[mode] = gateway_ms
    ratio = pct(modes["vector-only"], 95) / pct(base_ms, 95)
    print(f"\n2. gateway overhead, {len(query_texts)} sequential requests over loopback")
    b50, b95 = pct(base_ms, 50), pct(base_ms, 95)
    print(f"   baseline (embed + the SQL vector search, in-process): p50 {b50:.1f} ms  p95 {b95:.1f} ms")
    for mode, ms in modes.items():
        print(f"   POST /v1/retrieve, {mode:11} (auth, ACL, RLS, audit commit): p50 {pct(ms, 50):.1f} ms  "
              f"p95 {pct(ms, 95):.1f} ms")  # fmt: skip
    print(f"   vector-only ratio p95 {ratio:.2f}x the baseline (target <= 1.2x: {'met' if ratio <= 1.2 else 'MISSED'})")
    hybrid = pct(modes["hybrid"], 95) / pct(modes["vector-only"], 95)
    print(f"\n3. hybrid retrieval (full-text search beside the vectors) against vector-only, same run: p95 "
          f"{hybrid:.2f}x (target <= 1.3x: {'met' if hybrid <= 1.3 else 'MISSED'})")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts, vectors, query_texts, queries = load(args.chunks, args.queries)
    with tempfile.TemporaryDirectory(prefix="phistack-bench-") as tmp:
        os.chmod(tmp, 0o755)
        pg = LocalPostgres(Path(tmp) / "pg", free_port()).start()
        try:
            migrate(pg.dsn())
            started = time.perf_counter()
            first, build = fill(pg.dsn(), texts, vectors)
            print(f"loaded {len(texts)} chunks in {time.perf_counter() - started - build:.1f} s; "
                  f"HNSW index built in {build:.1f} s (maintenance_work_mem 1 GB)")  # fmt: skip
            vector_search(pg.dsn(), first, vectors, queries)
            gateway_overhead(pg, query_texts, Path(tmp))
        finally:
            pg.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
