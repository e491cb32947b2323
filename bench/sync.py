"""Benchmark: the knowledge base's sync service (stack/sync.py) on emulated S3 and SQS (a moto server, over HTTP)
and the real PostgreSQL + pgvector, with the real MiniLM embedder, in one run:

1. Latency: documents put into the versioned document bucket one at a time (every PACE seconds, below the
   service's throughput), the service consuming the bucket's event queue; for each, the time from the put
   returning to the document being retrievable (its chunks committed). p50/p95 over --documents (>= 200).
2. Throughput: the same number of new documents put at once; documents and chunks synced per second, as a ratio
   to the baseline, the embedder's own throughput on the same chunks, measured in the same run (before and after
   the sync run, the faster of the two). Target: >= 0.8x.

The documents are ICD-10-CM passages (bench/evalset.py, public domain), five to a document (2-3 chunks each).

    .venv/bin/python bench/sync.py [--documents 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
import psycopg  # noqa: E402

from bench.evalset import passages  # noqa: E402
from infra.sandbox.server import free_port, moto_server  # noqa: E402
from stack.chunking import chunk_text  # noqa: E402
from stack.db import pooled  # noqa: E402
from stack.dev.postgres import LocalPostgres  # noqa: E402
from stack.embeddings import MiniLMEmbedder  # noqa: E402
from stack.migrate import migrate  # noqa: E402
from stack.store import create_collection  # noqa: E402
from stack.sync import QueueWorker, Syncer  # noqa: E402

BUCKET, PACE = "clinic-docs", 1.0


def documents(count: int, offset: int = 0) -> list[str]:
    texts = [p.text for p in passages()]
    return ["\n\n".join(texts[(i * 5 + j) % len(texts)] for j in range(5)) + f"\n\n(edition {offset + i})"
            for i in range(count)]  # fmt: skip


def plumbing(url: str) -> tuple[Any, Any, str, str]:
    session = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1")
    s3, sqs = session.client("s3", endpoint_url=url), session.client("sqs", endpoint_url=url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    dead = sqs.create_queue(QueueName="docs-events-dlq")["QueueUrl"]
    queue = sqs.create_queue(QueueName="docs-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    return s3, sqs, queue, dead


def stored(conn: psycopg.Connection[Any], keys: list[str]) -> set[str]:
    refs = [f"s3://{BUCKET}/{k}" for k in keys]
    with conn.transaction():
        rows = conn.execute(
            "SELECT d.source FROM documents d WHERE d.source = ANY(%s) AND EXISTS "
            "(SELECT 1 FROM chunks c WHERE c.document_id = d.id)",
            (refs,),
        ).fetchall()
    return {str(r[0]).removeprefix(f"s3://{BUCKET}/") for r in rows}


def latency(s3: Any, watcher: psycopg.Connection[Any], texts: list[str]) -> list[float]:
    seconds = []
    for n, text in enumerate(texts):
        key = f"policies/paced-{n}.txt"
        s3.put_object(Bucket=BUCKET, Key=key, Body=text.encode(), ContentType="text/plain")
        put = time.perf_counter()
        while not stored(watcher, [key]):
            time.sleep(0.01)
        seconds.append(time.perf_counter() - put)
        time.sleep(max(0.0, PACE - seconds[-1]))
    return seconds


def throughput(s3: Any, watcher: psycopg.Connection[Any], texts: list[str]) -> float:
    keys = [f"policies/burst-{n}.txt" for n in range(len(texts))]
    started = time.perf_counter()
    for key, text in zip(keys, texts, strict=True):
        s3.put_object(Bucket=BUCKET, Key=key, Body=text.encode(), ContentType="text/plain")
    while len(stored(watcher, keys)) < len(keys):
        time.sleep(0.1)
    return time.perf_counter() - started


def cpu_s(*needles: bytes) -> float:
    """CPU seconds used so far by the processes whose command line holds every needle (the emulator, the
    database's backends): they share this machine's cores with the embedder."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes()
            if all(needle in argv for needle in needles):
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue
    return total


def embedder_alone(embedder: MiniLMEmbedder, texts: list[str]) -> float:
    """The baseline: seconds for the embedder alone on the documents' chunks, one call per document as
    ingestion makes it (measured before and after the sync run; the faster counts)."""
    started = time.perf_counter()
    for text in texts:
        embedder.embed([c.text for c in chunk_text(text)])
    return time.perf_counter() - started


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--skip-latency", action="store_true", help="throughput only (faster)")
    parser.add_argument("--concurrency", type=int, default=2, help="as PHISTACK_SYNC_CONCURRENCY (default 2)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    embedder = MiniLMEmbedder()
    embedder.embed(["warm"])
    paced, burst = documents(args.documents), documents(args.documents, offset=args.documents)
    chunks = sum(len(chunk_text(t)) for t in burst)
    before_run = embedder_alone(embedder, burst)
    with tempfile.TemporaryDirectory(prefix="phistack-bench-") as tmp, moto_server() as url:
        os.chmod(tmp, 0o755)
        pg = LocalPostgres(Path(tmp) / "pg", free_port()).start()
        stop = threading.Event()
        try:
            migrate(pg.dsn())
            with psycopg.connect(pg.dsn()) as admin:
                create_collection(admin, "policies", "Policies", ["staff"], ["kb-sync"])
            s3, sqs, queue, dead = plumbing(url)
            _, connect = pooled(pg.dsn(user="phistack_app"), 4)  # as the service's wiring does
            syncer = Syncer(s3, connect, embedder, BUCKET, ("kb-sync",), 20_000_000)
            worker = QueueWorker(syncer, sqs, queue, dead, wait_s=1, concurrency=args.concurrency)
            thread = threading.Thread(target=worker.run, kwargs={"stop": stop.is_set}, daemon=True)
            thread.start()
            with psycopg.connect(pg.dsn(), autocommit=True) as watcher:  # one connection, polling
                waited = [0.0, 0.0] if args.skip_latency else latency(s3, watcher, paced)
                moto, port = b"infra.sandbox.motoserver", url.rsplit(":", 1)[1].encode()
                before = cpu_s(moto, port), cpu_s(b"postgres: ")
                took = throughput(s3, watcher, burst)
                emulator, database = cpu_s(moto, port) - before[0], cpu_s(b"postgres: ") - before[1]
            stop.set()
            thread.join(timeout=30)
        finally:
            stop.set()
            pg.stop()
    alone = min(before_run, embedder_alone(embedder, burst))  # the faster of two: the stricter baseline
    print(f"{args.documents} documents of {chunks / len(burst):.1f} chunks on average; emulated S3 + SQS "
          f"(moto server over HTTP), real PostgreSQL + pgvector, MiniLM on the CPU")  # fmt: skip
    print(f"\n1. put -> retrievable, one put every {PACE:.0f} s: p50 {pct(waited, 50):.2f} s  "
          f"p95 {pct(waited, 95):.2f} s  max {max(waited):.2f} s")  # fmt: skip
    ratio = (chunks / took) / (chunks / alone)
    print(f"\n2. {len(burst)} documents put at once: all retrievable in {took:.1f} s "
          f"({len(burst) / took:.1f} documents/s, {chunks / took:.1f} chunks/s)")  # fmt: skip
    print(f"   baseline, the embedder alone on the same chunks: {alone:.1f} s ({chunks / alone:.1f} chunks/s)")
    print(f"   sync throughput {ratio:.2f}x the embedder's (target >= 0.8x: {'met' if ratio >= 0.8 else 'MISSED'})")
    cores = os.cpu_count() or 1
    print(f"   meanwhile, of this machine's {cores * took:.0f} CPU-seconds ({cores} cores): the emulated S3 and SQS "
          f"used {emulator:.1f}, PostgreSQL (indexing each chunk: HNSW, full text) {database:.1f}")  # fmt: skip
    print(json.dumps({"p50_s": pct(waited, 50), "p95_s": pct(waited, 95), "ratio": ratio}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
