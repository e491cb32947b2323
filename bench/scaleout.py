"""Scale-out on one database: 1, 2 and 4 gateway processes behind a real TCP load balancer (HAProxy, Debian's),
each process a host's gateway, all on one PostgreSQL, loaded by the same clients for the same time. Prints each
throughput as a ratio to one process behind the same balancer (the baseline, measured in the same run), and checks
after each run that every answer has its committed audit event and the one chain verifies.

On this 2-core machine the processes share the cores that embed the queries, so the ratios show what scale-out
costs and whether the shared database or the audit chain serializes anything; on hosts each process has a
machine of its own.

    .venv/bin/python bench/scaleout.py [--processes 1,2,4] [--clients 8] [--seconds 15] [--chunks 20000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from bench.corpus import load  # noqa: E402
from bench.retrieval import fill  # noqa: E402
from infra.sandbox.server import free_port  # noqa: E402
from stack.dev.loadcheck import LoadResult, check_audit, dev_gateway, dev_token, load_for  # noqa: E402
from stack.dev.postgres import LocalPostgres  # noqa: E402
from stack.migrate import migrate  # noqa: E402


@contextlib.contextmanager
def haproxy(backends: list[str], folder: Path) -> Iterator[str]:
    """HAProxy in TCP mode, round robin over the gateways, health-checking each one's /readyz as the NLB does."""
    port = free_port()
    servers = "\n".join(
        f"    server gw{i} {url.removeprefix('http://')} check inter 1s" for i, url in enumerate(backends)
    )
    config = folder / "haproxy.cfg"
    config.write_text(
        "global\n    maxconn 1024\n"
        "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n"
        f"frontend gateways\n    bind 127.0.0.1:{port}\n    default_backend hosts\n"
        "backend hosts\n    balance roundrobin\n    option httpchk GET /readyz\n"
        f"{servers}\n"
    )
    process = subprocess.Popen(["haproxy", "-f", str(config), "-db"], stderr=(folder / "haproxy.log").open("wb"))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"haproxy did not answer: {(folder / 'haproxy.log').read_text()[-1000:]}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def run(pg: LocalPostgres, processes: int, key: Any, args: argparse.Namespace, queries: list[str], tmp: Path) -> float:
    folder = tmp / f"n{processes}"
    with contextlib.ExitStack() as stack:
        gateways = []
        for i in range(processes):
            (folder / str(i)).mkdir(parents=True)
            gateways.append(
                stack.enter_context(dev_gateway(pg.dsn(user="phistack_app"), folder / str(i), ROOT, key=key))
            )
        url = stack.enter_context(haproxy([gw.url for gw in gateways], folder))
        token = dev_token(key, groups=["readers"])
        for _ in range(processes * 2):  # each process loads its model before the clock starts
            warm = httpx.post(f"{url}/v1/retrieve", json={"query": "warm"}, timeout=120,
                              headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert warm.status_code == 200, warm.text
        result: LoadResult = load_for(url, token, queries, args.clients, args.seconds)
    check = check_audit(pg.dsn(user="phistack_auditor"), result.answered)
    rate = len(result.answered) / result.seconds
    print(
        f"  {processes} process(es): {rate:.1f} requests/s, p50 {result.p(50):.0f} ms, p95 {result.p(95):.0f} ms, "
        f"errors {result.errors}; audit chain verified over {check.events} events, {len(check.missing)} missing"
    )
    if check.missing:
        raise SystemExit(1)
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--chunks", type=int, default=20_000, help="chunks loaded (from the cached 100k corpus)")
    args = parser.parse_args()
    if shutil.which("haproxy") is None:
        print("bench/scaleout.py: haproxy is not installed (bash scripts/system-deps.sh installs it)", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts, vectors, queries, _ = load(100_000, 500)  # the cached corpus of bench/retrieval.py
    counts = [int(n) for n in args.processes.split(",")]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # one IdP for every gateway
    rates: dict[int, float] = {}
    print(f"scale-out: {args.clients} clients, {args.seconds:.0f} s each, {args.chunks} chunks, k=3, one database, "
          f"HAProxy round robin ({os.cpu_count()} CPUs)")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="phistack-bench-") as tmp:
        os.chmod(tmp, 0o755)
        pg = LocalPostgres(Path(tmp) / "pg", free_port()).start()
        try:
            migrate(pg.dsn())
            fill(pg.dsn(), texts[: args.chunks], vectors[: args.chunks])
            for n in counts:
                rates[n] = run(pg, n, key, args, list(queries), Path(tmp))
        finally:
            pg.stop()
    base = rates[counts[0]]
    print(f"  baseline: {counts[0]} process(es) behind the same balancer, {base:.1f} requests/s")
    for n in counts[1:]:
        print(f"  {n} processes: {rates[n] / base:.2f}x the baseline's throughput")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
