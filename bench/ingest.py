"""Benchmark: ingestion throughput end to end, against the embedder's own throughput on the same texts, in one run.

Baseline: MiniLM embedding the chunks of the documents, in-process (the floor: embedding dominates ingestion).
Measured: the same documents uploaded to the real gateway over loopback (POST /v1/collections/{id}/documents:
authentication, extraction, chunking, embedding, one transaction with the HNSW index in place, audit event).
Target: at least 0.8x the embedder's chunks per second. Documents are docstrings of installed packages (real text,
bench/corpus.py), the longest first, until --chunks chunks.

    .venv/bin/python bench/ingest.py [--chunks 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from bench.corpus import docstrings  # noqa: E402
from infra.sandbox.server import free_port  # noqa: E402
from stack.chunking import chunk_text  # noqa: E402
from stack.dev.loadcheck import dev_gateway, dev_token  # noqa: E402
from stack.dev.postgres import LocalPostgres  # noqa: E402
from stack.embeddings import MiniLMEmbedder  # noqa: E402
from stack.migrate import migrate  # noqa: E402


def documents(chunks: int) -> list[str]:
    out, count = [], 0
    for doc in docstrings():
        if len(doc) < 3000:
            continue
        out.append(doc)
        count += len(chunk_text(doc))
        if count >= chunks:
            return out
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    docs = documents(args.chunks)
    pieces = [c.text for d in docs for c in chunk_text(d)]
    embedder = MiniLMEmbedder()
    embedder.embed(["warm"])
    started = time.perf_counter()
    for doc in docs:  # per document, as ingestion embeds
        embedder.embed([c.text for c in chunk_text(doc)])
    base = len(pieces) / (time.perf_counter() - started)
    with tempfile.TemporaryDirectory(prefix="phistack-bench-") as tmp:
        os.chmod(tmp, 0o755)
        pg = LocalPostgres(Path(tmp) / "pg", free_port()).start()
        try:
            migrate(pg.dsn())
            with psycopg.connect(pg.dsn()) as conn:
                conn.execute("INSERT INTO collections VALUES ('kb', 'KB', '{readers}', '{writers}')")
            with dev_gateway(pg.dsn(user="phistack_app"), Path(tmp), ROOT) as gw:
                headers = {
                    "Authorization": f"Bearer {dev_token(gw.key, groups=['writers'])}",
                    "Content-Type": "text/plain",
                }
                with httpx.Client(base_url=gw.url, headers=headers, timeout=300) as http:
                    warm = http.post("/v1/collections/kb/documents", params={"title": "warm"}, content=b"warm up text")
                    assert warm.status_code == 201, warm.text
                    started = time.perf_counter()
                    stored = 0
                    for n, doc in enumerate(docs):
                        r = http.post(
                            "/v1/collections/kb/documents", params={"title": f"doc {n}"}, content=doc.encode()
                        )
                        assert r.status_code == 201, r.text
                        stored += r.json()["chunks"]
                    measured = stored / (time.perf_counter() - started)
        finally:
            pg.stop()
    ratio = measured / base
    print(f"ingestion of {len(docs)} documents, {len(pieces)} chunks (1000 characters, 200 overlap)")
    print(f"  baseline: MiniLM embedding in-process      {base:7.1f} chunks/s")
    print(f"  POST .../documents over loopback, end to end {measured:7.1f} chunks/s  ({stored} stored)")
    print(f"  ratio {ratio:.2f}x (target >= 0.8x: {'met' if ratio >= 0.8 else 'MISSED'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
