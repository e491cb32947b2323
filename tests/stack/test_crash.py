"""Audit completeness under a crash: load the real server on loopback, kill -9 it mid-load, then check that every
2xx a client received has its committed audit event, and that the chain still verifies. Bounded: 4 clients,
at most a few seconds, 127.0.0.1 only."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.sandbox.server import free_port
from stack.audit import verify
from stack.devserver import DEV_AUDIENCE, DEV_ISSUER
from stack.embeddings import MiniLMEmbedder
from tests.stack.test_store import seed

Dsn = Callable[[str | None], str]
ROOT = Path(__file__).resolve().parents[2]


def test_every_answer_sent_before_a_kill_9_has_its_audit_event(
    database: Dsn, embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    seed(database, embedder)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "dev-idp.pub.pem"
    pem.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    now = dt.datetime.now(dt.UTC)
    token = jwt.encode(
        {
            "iss": DEV_ISSUER,
            "aud": DEV_AUDIENCE,
            "sub": "load@clinic",
            "groups": ["clinicians"],
            "iat": now,
            "exp": now + dt.timedelta(minutes=5),
        },
        key,
        algorithm="RS256",
    )
    port = free_port()
    env = {
        **os.environ,
        "PHISTACK_GATEWAY_DATABASE_DSN": database("phistack_app"),
        "PHISTACK_DEV_PUBLIC_KEY": str(pem),
        "HF_HUB_OFFLINE": "1",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "stack.devserver:app_from_env",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "server.log").open("w"),
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        warm = httpx.post(
            f"http://127.0.0.1:{port}/v1/retrieve",
            json={"query": "warm-up"},
            timeout=120,
            headers={"Authorization": f"Bearer {token}"},
        )  # loads the model before the clock starts
        assert warm.status_code == 200, warm.text
        answered: list[int] = [int(warm.headers["X-Audit-Seq"])]
        errors = 0
        lock = threading.Lock()
        stop = time.monotonic() + 6.0  # a hard bound, even if the kill below never happened

        def client(n: int) -> None:
            nonlocal errors
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}", timeout=5, headers={"Authorization": f"Bearer {token}"}
            ) as http:
                i = 0
                while time.monotonic() < stop:
                    try:
                        r = http.post("/v1/retrieve", json={"query": f"warfarin INR question {n}-{i}", "k": 3})
                    except httpx.HTTPError:
                        with lock:
                            errors += 1
                        if server.poll() is not None:
                            return
                        continue
                    if r.status_code == 200:
                        with lock:
                            answered.append(int(r.headers["X-Audit-Seq"]))
                    i += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        os.kill(server.pid, signal.SIGKILL)  # mid-load, no chance to flush anything
        for t in threads:
            t.join(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=10)
    sys.stderr.write(f"crash test: {len(answered)} answers, {errors} failed requests (the kill)\n")  # with -s
    assert len(answered) >= 5, f"too little load to mean anything ({len(answered)} answers)"
    with psycopg.connect(database("phistack_auditor")) as conn:
        events = verify(conn)  # the chain is whole after the crash
        committed = {row[0] for row in conn.execute("SELECT seq FROM audit_events")}
    assert set(answered) <= committed, "an answer was sent whose audit event is not committed"
    assert events >= len(answered)
