"""Benchmark and crash report: N concurrent clients post /v1/retrieve to the real gateway on loopback for a bounded
time, then the gateway is killed with SIGKILL mid-load. Reports requests served, throughput, latency, errors, and
checks that every 2xx received has its committed audit event and that the chain verifies (tests/stack/test_crash.py
runs the same check at a small size). Baseline for the throughput: the same queries embedded
one at a time in-process: query embedding, the work that bounds a CPU-only gateway, measured in the same run;
the audit trail's own append rate (its serialized part: one chain tip) is printed too.

    .venv/bin/python bench/load.py [--clients 8] [--seconds 20] [--chunks 20000]
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

from bench.corpus import load  # noqa: E402
from bench.retrieval import fill  # noqa: E402
from infra.sandbox.server import free_port  # noqa: E402
from stack.audit import AuditEvent, Outcome, append  # noqa: E402
from stack.dev.loadcheck import check_audit, dev_gateway, dev_token, load_then_kill  # noqa: E402
from stack.dev.postgres import LocalPostgres  # noqa: E402
from stack.migrate import migrate  # noqa: E402


def embed_rate(queries: list[str]) -> float:
    from stack.embeddings import MiniLMEmbedder

    embedder = MiniLMEmbedder()
    embedder.embed(["warm"])
    started = time.perf_counter()
    for query in queries:
        embedder.embed([query])
    return len(queries) / (time.perf_counter() - started)


def append_rate(dsn: str, count: int = 500) -> float:
    with psycopg.connect(dsn) as conn:
        started = time.perf_counter()
        for i in range(count):
            with conn.transaction():
                append(
                    conn,
                    AuditEvent(
                        actor="bench",
                        groups=("readers",),
                        action="retrieve",
                        collection="corpus",
                        chunk_ids=(i,),
                        outcome=Outcome.OK,
                        latency_ms=1,
                        query_ref="sha256:x",
                    ),
                )
        return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--chunks", type=int, default=20_000, help="chunks loaded (from the cached 100k corpus)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts, vectors, queries, _ = load(100_000, 500)  # the cached corpus of bench/retrieval.py
    texts, vectors = texts[: args.chunks], vectors[: args.chunks]
    with tempfile.TemporaryDirectory(prefix="phistack-bench-") as tmp:
        os.chmod(tmp, 0o755)
        pg = LocalPostgres(Path(tmp) / "pg", free_port()).start()
        try:
            migrate(pg.dsn())
            fill(pg.dsn(), texts, vectors)
            with dev_gateway(pg.dsn(user="phistack_app"), Path(tmp), ROOT) as gw:
                token = dev_token(gw.key, groups=["readers"])
                warm = httpx.post(
                    f"{gw.url}/v1/retrieve",
                    json={"query": "warm"},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=60,
                )
                assert warm.status_code == 200, warm.text
                result = load_then_kill(gw.server, gw.url, token, queries, args.clients, args.seconds)
            answered = [int(warm.headers["X-Audit-Seq"]), *result.answered]
            check = check_audit(pg.dsn(user="phistack_auditor"), answered)
            appends = append_rate(pg.dsn(user="phistack_app"))
        finally:
            pg.stop()
    embeds = embed_rate(list(queries))
    served = len(result.answered)
    rate = served / args.seconds
    print(f"load: {args.clients} clients, {args.seconds:.0f} s, then kill -9 ({len(texts)} chunks, k=3)")
    print(f"  served {served} requests ({rate:.1f}/s), p50 {result.p(50):.0f} ms, p95 {result.p(95):.0f} ms")
    print(f"  errors {result.errors} (requests in flight or sent after the kill)")
    print(f"  baseline: query embedding alone, in-process {embeds:.1f}/s; the gateway serves {rate / embeds:.2f}x")
    print(f"  audit appends alone (the serialized part): {appends:.0f}/s, {appends / rate:.0f}x the load's rate")
    print(
        f"  audit: chain verified over {check.events} events; answers without a committed event: {len(check.missing)}"
    )
    return 0 if not check.missing else 1


if __name__ == "__main__":
    raise SystemExit(main())
