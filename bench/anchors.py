"""Benchmark: verifying the audit trail against its anchors (stack/anchors.py) and against its shipped copy
(stack/crosscheck.py), on the real PostgreSQL, for --events (default 1,000,000) events.

The trail is written straight into audit_events (COPY, hashes and links computed as audit_append computes them,
so it verifies), with an anchor every --every events. Timed in one run:
- baseline: `verify` (every hash and link), streamed;
- `verify_against` the anchors: the same walk, plus every anchor's signature and head;
- `compare` with a shipped copy (the JSON Lines file `audit ship` writes, one line per event).
Each the faster of two runs. Prints seconds, events per second, each ratio to the baseline, and the peak memory
of this process (the walks stream: it does not grow with the trail, except the shipped copy's index by seq).

Then what anchoring costs a request: the latency of --appends audited appends (the gateway's write, one
transaction each, as phistack_app) beside a busy process that never touches the database (the baseline), beside
a process anchoring without pause (the timer does it every 5 minutes: this is far worse), and with nothing beside,
in three alternating rounds, median and 99th percentile, and their ratios to the baseline.

    .venv/bin/python bench/anchors.py [--events 1000000] [--every 10000] [--appends 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from infra.sandbox.server import free_port  # noqa: E402
from stack.anchors import (  # noqa: E402
    Anchor,
    DirectoryStore,
    anchor,
    key_id,
    public_pem,
    read_anchors,
    sign,
    verify_against,  # noqa: E402
)
from stack.audit import GENESIS, AuditEvent, Outcome, append, canonical, verify  # noqa: E402
from stack.crosscheck import compare, lines_from_file  # noqa: E402
from stack.dev.postgres import LocalPostgres  # noqa: E402
from stack.migrate import migrate  # noqa: E402

T = TypeVar("T")
COLUMNS = ("seq", "at", "actor", "groups", "action", "collection", "document_ids", "chunk_ids", "outcome",
           "latency_ms", "query_ref", "answer_ref", "prev_hash", "hash")  # fmt: skip


def populate(dsn: str, events: int, every: int, store: DirectoryStore, shipped: Path) -> int:
    """The trail, its anchors every ``every`` events, and the shipped file; returns the number of anchors."""
    key = Ed25519PrivateKey.generate()
    kid = key_id(key.public_key())
    store.put_new(f"bench/keys/{kid}.pub.pem", public_pem(key.public_key()))
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    previous, anchors = GENESIS, 0
    with psycopg.connect(dsn) as conn, shipped.open("w", encoding="utf-8") as ship:
        with conn.cursor().copy(f"COPY audit_events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for seq in range(1, events + 1):
                at = (start + dt.timedelta(milliseconds=seq)).isoformat()
                row: dict[str, Any] = {
                    "seq": seq, "at": at, "actor": f"user{seq % 97}@clinic", "groups": ["clinicians"],
                    "action": "retrieve", "collection": "cardiology", "document_ids": [], "chunk_ids": [seq, seq + 1],
                    "outcome": "ok", "latency_ms": 12, "query_ref": f"sha256:{seq:064x}", "answer_ref": None,
                    "prev_hash": previous,
                }  # fmt: skip
                row["hash"] = previous = hashlib.sha256(canonical(row)).hexdigest()
                copy.write_row([row[c] for c in COLUMNS])
                ship.write(json.dumps(row) + "\n")
                if seq % every == 0:
                    anchors += 1
                    made = Anchor("bench", anchors, seq, row["hash"], row["at"], kid)
                    store.put_new(made.name, sign(made, key))
    return anchors


def anchor_without_pause(dsn: str, where: str, stop: Any, count: Any) -> None:
    """Another process (as the anchor unit is), anchoring the head again and again until ``stop`` is set."""
    key = Ed25519PrivateKey.generate()
    with psycopg.connect(dsn) as conn:
        while not stop.is_set():
            anchor(conn, DirectoryStore(Path(where)), "bench-live", key)
            count.value += 1


def append_latencies(dsn: str, appends: int) -> list[float]:
    """Milliseconds per audited append, each committed on its own, as the gateway writes one per request."""
    out = []
    with psycopg.connect(dsn) as conn:
        for n in range(appends):
            t0 = time.perf_counter()
            with conn.transaction():
                append(conn, AuditEvent(
                    actor="bench@clinic", groups=("clinicians",), action="retrieve", collection="cardiology",
                    chunk_ids=(n,), outcome=Outcome.OK, latency_ms=1,
                ))  # fmt: skip
            out.append((time.perf_counter() - t0) * 1000)
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def spin(stop: Any, count: Any) -> None:
    """A neighbour as busy as the anchoring one, that never touches the database: the baseline's."""
    count.value = 1
    while not stop.is_set():
        sum(range(10_000))


def request_cost(pg: Any, where: Path, appends: int, rounds: int = 3) -> None:
    """Append latency beside a busy process that never touches the database (the baseline: a busy neighbour
    alone keeps the cores awake and makes appends faster than on an idle machine), beside a process anchoring
    without pause, and with nothing beside, in alternating rounds, pooled per phase; printed with the ratios."""
    import multiprocessing

    app, auditor = pg.dsn(user="phistack_app"), pg.dsn(user="phistack_auditor")
    append_latencies(app, min(500, appends))  # warm-up
    context = multiprocessing.get_context("spawn")
    phases: dict[str, list[float]] = {"beside a busy process": [], "beside anchoring": [], "with nothing beside": []}
    anchors = 0
    for _ in range(rounds):
        for phase, work in (
            ("beside a busy process", spin),
            ("beside anchoring", anchor_without_pause),
            ("with nothing beside", None),
        ):
            if work is None:
                phases[phase] += append_latencies(app, appends // rounds)
                continue
            stop, count = context.Event(), context.Value("i", 0)
            extra = (auditor, str(where)) if work is anchor_without_pause else ()
            worker = context.Process(target=work, args=(*extra, stop, count))
            worker.start()
            try:
                while count.value == 0:
                    time.sleep(0.05)
                phases[phase] += append_latencies(app, appends // rounds)
            finally:
                stop.set()
                worker.join()
            anchors += count.value if work is anchor_without_pause else 0
    base = phases["beside a busy process"]
    print(f"append latency ({appends:,} appends a phase; {anchors} anchors written meanwhile), ratio to the baseline:")
    for phase, values in phases.items():
        said = ", ".join(
            f"{name} {percentile(values, share):.2f} ms ({percentile(values, share) / percentile(base, share):.2f}x)"
            for name, share in (("median", 0.5), ("99th percentile", 0.99))
        )
        print(f"  {phase}{' (baseline)' if values is base else ''}: {said}")


def timed(work: Callable[[], T]) -> tuple[float, T]:
    """The faster of two runs (the first warms PostgreSQL's cache and the page cache), and its result."""
    runs = []
    for _ in range(2):
        t0 = time.perf_counter()
        result = work()
        runs.append((time.perf_counter() - t0, result))
    return min(runs, key=lambda r: r[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=10_000, help="events between two anchors")
    parser.add_argument("--appends", type=int, default=6000, help="appends timed for the request cost")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="phistack-bench-anchors-") as tmp:
        os.chmod(tmp, 0o755)
        pg = LocalPostgres(Path(tmp) / "pg", free_port(), durable=False).start()
        try:
            migrate(pg.dsn())
            store, shipped = DirectoryStore(Path(tmp) / "anchors"), Path(tmp) / "shipped.jsonl"
            t0 = time.perf_counter()
            count = populate(pg.dsn(), args.events, args.every, store, shipped)
            print(f"{args.events:,} events and {count} anchors written in {time.perf_counter() - t0:.1f} s")
            with psycopg.connect(pg.dsn(user="phistack_auditor")) as conn:
                base, events = timed(lambda: verify(conn))
                read, found = timed(lambda: read_anchors(store))
                walk, result = timed(lambda: verify_against(conn, found))
                check, compared = timed(lambda: compare(conn, lines_from_file(shipped)))
            assert events == args.events and result.anchors == count and compared.agrees
            anchored = read + walk
            print(f"baseline, verify (hashes and links): {base:.1f} s, {args.events / base:,.0f} events/s")
            print(
                f"verify --anchors: {anchored:.1f} s (reading {count} anchors {read:.2f} s), "
                f"{args.events / anchored:,.0f} events/s, {anchored / base:.2f}x the baseline"
            )
            print(f"verify --shipped (a {shipped.stat().st_size / 2**20:.0f} MiB file): {check:.1f} s, "
                  f"{check / base:.2f}x the baseline")  # fmt: skip
            print(f"peak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
            request_cost(pg, Path(tmp) / "live-anchors", args.appends)
        finally:
            pg.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
