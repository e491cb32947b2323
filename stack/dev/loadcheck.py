"""Load a running gateway, kill -9 it mid-load, and check the audit trail: every 2xx a client received must have
its committed audit event (the X-Audit-Seq header names it), and the chain must verify. For staging runs by
operators, the benchmark (bench/load.py) and the crash test. Traffic goes only to the URL given."""

from __future__ import annotations

import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg

from stack.audit import verify
from stack.dev.net import wait_answering
from stack.dev.server import DEV_AUDIENCE, DEV_ISSUER


def dev_token(key: Any, sub: str = "load@clinic", groups: Sequence[str] = ("clinicians",), minutes: int = 30) -> str:
    """A token the dev server (stack.dev.server) accepts, signed with the dev IdP's private key."""
    now = dt.datetime.now(dt.UTC)
    claims = {"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "sub": sub, "groups": list(groups), "iat": now}
    return jwt.encode({**claims, "exp": now + dt.timedelta(minutes=minutes)}, key, algorithm="RS256")


def start_dev_gateway(
    env: dict[str, str], port: int, log: Path, cwd: Path, ready_timeout: float = 120.0
) -> subprocess.Popen[bytes]:
    """uvicorn with stack.dev.server:app_from_env on 127.0.0.1:port.

    env: PHISTACK_GATEWAY_* and PHISTACK_DEV_PUBLIC_KEY."""
    command = [sys.executable, "-m", "uvicorn", "--factory", "stack.dev.server:app_from_env"]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=cwd,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    try:
        wait_answering(server, f"http://127.0.0.1:{port}/healthz", ready_timeout, "the gateway")
    except RuntimeError:
        server.kill()
        raise RuntimeError(f"the gateway did not start: {log.read_text()[-2000:]}") from None
    return server


@dataclass(frozen=True)
class DevGateway:
    server: subprocess.Popen[bytes]
    url: str
    key: Any  # the dev IdP's private key: dev_token(key, ...) makes tokens the gateway accepts


@contextmanager
def dev_gateway(
    app_dsn: str, workdir: Path, cwd: Path, extra_env: dict[str, str] | None = None, key: Any = None
) -> Iterator[DevGateway]:
    """The dev gateway on a free loopback port, trusting the dev IdP key given (gateways behind one load balancer
    share one IdP) or a fresh one; stopped (or killed) on exit."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from stack.dev.net import free_port

    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = workdir / "dev-idp.pub.pem"
    pem.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    port = free_port()
    env = {"PHISTACK_GATEWAY_DATABASE_DSN": app_dsn, "PHISTACK_DEV_PUBLIC_KEY": str(pem), **(extra_env or {})}
    server = start_dev_gateway(env, port, workdir / "gateway.log", cwd)
    try:
        yield DevGateway(server, f"http://127.0.0.1:{port}", key)
    finally:
        if server.poll() is None:
            server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a loaded machine: KILL what TERM did not stop in 10 s
            server.kill()
            server.wait()


@dataclass
class LoadResult:
    answered: list[int] = field(default_factory=list)  # audit seq of every 2xx received
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0  # transport errors and non-2xx answers
    seconds: float = 0.0

    def p(self, q: float) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else 0.0
        return statistics.quantiles(self.latencies_ms, n=100)[int(q) - 1]


def _clients(
    url: str, token: str, queries: Sequence[str], clients: int, stop: float, alive: Callable[[], bool], k: int
) -> tuple[LoadResult, list[threading.Thread]]:
    """`clients` threads posting /v1/retrieve in a loop until the monotonic time `stop` (or until a transport error
    finds the server gone); started, not joined."""
    result, lock = LoadResult(), threading.Lock()

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=5, headers={"Authorization": f"Bearer {token}"}) as http:
            i = n
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                try:
                    r = http.post("/v1/retrieve", json={"query": queries[i % len(queries)], "k": k})
                except httpx.HTTPError:
                    with lock:
                        result.errors += 1
                    if not alive():
                        return
                    continue
                with lock:
                    if r.status_code == 200:
                        result.answered.append(int(r.headers["X-Audit-Seq"]))
                        result.latencies_ms.append((time.perf_counter() - t0) * 1000)
                    else:
                        result.errors += 1
                i += clients

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    return result, threads


def load_for(url: str, token: str, queries: Sequence[str], clients: int, seconds: float, k: int = 3) -> LoadResult:
    """The same load as load_then_kill, on a server left running, for `seconds`."""
    started = time.monotonic()
    result, threads = _clients(url, token, queries, clients, started + seconds, lambda: True, k)
    for t in threads:
        t.join(timeout=seconds + 10)
    result.seconds = time.monotonic() - started
    return result


def load_then_kill(
    server: subprocess.Popen[bytes],
    url: str,
    token: str,
    queries: Sequence[str],
    clients: int,
    kill_after: float,
    k: int = 3,
) -> LoadResult:
    """`clients` threads post /v1/retrieve in a loop; after kill_after seconds the server gets SIGKILL. Bounded: the
    clients stop at kill_after + 5 s whatever happens."""
    started = time.monotonic()
    result, threads = _clients(
        url, token, queries, clients, started + kill_after + 5.0, lambda: server.poll() is None, k
    )
    time.sleep(kill_after)
    os.kill(server.pid, signal.SIGKILL)  # mid-load, no chance to flush anything
    for t in threads:
        t.join(timeout=10)
    server.wait(timeout=10)
    result.seconds = time.monotonic() - started
    return result


@dataclass(frozen=True)
class AuditCheck:
    events: int  # events in the verified chain
    missing: tuple[int, ...]  # answered requests whose event is not committed (must be empty)


def check_audit(auditor_dsn: str, answered: Sequence[int]) -> AuditCheck:
    """Verify the whole chain (AuditChainBroken if not), then match every answer to its committed event."""
    with psycopg.connect(auditor_dsn) as conn:
        events = verify(conn)
        committed = {row[0] for row in conn.execute("SELECT seq FROM audit_events")}
    return AuditCheck(events, tuple(sorted(set(answered) - committed)))
