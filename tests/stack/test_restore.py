"""The host engine's restore path, on a real database: the hosts' data volume is backed up by AWS Backup as EBS
snapshots, which are crash-consistent (the image a power loss at that instant would leave; PostgreSQL's data and
WAL are on the one volume). So a restore is PostgreSQL's crash recovery on that image. Here: the gateway under
load, the whole PostgreSQL killed at once (kill -9, no shutdown: the snapshot instant), its data directory copied
(the snapshot), the original destroyed, a new server started on the copy (the restored volume). Every answer the
gateway had sent is there with its audit event, and the chain verifies.

What this cannot show: a killed process leaves the kernel's page cache, a snapshot does not. That is what
fsync at commit (on, on the hosts and here) is for; that it holds on EBS is AWS's and PostgreSQL's guarantee."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psycopg

from stack.dev.loadcheck import LoadResult, check_audit, dev_gateway, dev_token, load_for
from stack.dev.net import free_port
from stack.dev.postgres import LocalPostgres
from stack.embeddings import MiniLMEmbedder
from stack.migrate import migrate
from tests.stack.test_store import seed

ROOT = Path(__file__).resolve().parents[2]


def _cluster_pids(postmaster: int) -> list[int]:
    """The postmaster and every process it started (from /proc: no dependency for one lookup)."""
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                pids.append(int(entry.name))
    return pids


def power_loss(pg: LocalPostgres) -> None:
    """Every process of the cluster killed at once, as a power loss (or an EBS snapshot's instant) leaves it."""
    postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
    for pid in _cluster_pids(postmaster):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while Path(f"/proc/{postmaster}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_volume_restored_from_a_crash_consistent_image_loses_no_committed_event(
    embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    base = Path(tempfile.mkdtemp(prefix="phistack-pg-restore-"))
    os.chmod(base, 0o755)
    pg = LocalPostgres(base / "original", free_port(), durable=True).start()  # fsync on, as on the hosts
    restored: LocalPostgres | None = None
    try:
        migrate(pg.dsn())
        seed(lambda role: pg.dsn(user=role), embedder)
        with psycopg.connect(pg.dsn()) as conn:
            chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()
        assert chunks is not None and chunks[0] > 0
        with dev_gateway(pg.dsn(user="phistack_app"), tmp_path, ROOT) as gw:
            token = dev_token(gw.key)
            warm = httpx.post(f"{gw.url}/v1/retrieve", json={"query": "warm-up"}, timeout=120,
                              headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert warm.status_code == 200, warm.text
            results: list[LoadResult] = []
            queries = [f"warfarin INR question {i}" for i in range(50)]
            load = threading.Thread(target=lambda: results.append(load_for(gw.url, token, queries, 2, 3.0)))
            load.start()
            time.sleep(1.5)
            power_loss(pg)  # the snapshot's instant, mid-load
            load.join(timeout=30)
        answered = [int(warm.headers["X-Audit-Seq"]), *results[0].answered]
        assert len(answered) >= 5, f"too little load before the power loss to mean anything ({len(answered)})"
        (base / "restored").mkdir()
        subprocess.run(["cp", "-a", str(pg.data), str(base / "restored")], check=True)  # the snapshot, owners kept
        shutil.rmtree(base / "original")  # the volume is gone
        restored = LocalPostgres(base / "restored", free_port(), durable=True).start()  # crash recovery runs here
        log = (base / "restored" / "server.log").read_text()
        assert "automatic recovery in progress" in log  # a crash image, recovered: not a clean shutdown's copy
        check = check_audit(restored.dsn(user="phistack_auditor"), answered)  # raises if the chain is broken
        assert check.missing == (), "an answer was sent whose audit event did not survive the restore"
        with psycopg.connect(restored.dsn()) as conn:  # and the knowledge base came back whole
            assert conn.execute("SELECT count(*) FROM chunks").fetchone() == chunks
    finally:
        if restored is not None:
            restored.stop()
        if (base / "original" / "data" / "postmaster.pid").exists():
            power_loss(pg)
        shutil.rmtree(base, ignore_errors=True)
