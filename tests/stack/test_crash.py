"""Audit completeness under a crash: load the real server on loopback, kill -9 it mid-load, then check that every
2xx a client received has its committed audit event, and that the chain still verifies. Bounded: 4 clients,
2 seconds of load, 127.0.0.1 only. bench/load.py runs the same at a larger size."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from stack.dev.loadcheck import check_audit, dev_gateway, dev_token, load_then_kill
from stack.embeddings import MiniLMEmbedder
from tests.stack.test_store import seed

Dsn = Callable[[str | None], str]
ROOT = Path(__file__).resolve().parents[2]


def test_every_answer_sent_before_a_kill_9_has_its_audit_event(
    database: Dsn, embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    seed(database, embedder)
    with dev_gateway(database("phistack_app"), tmp_path, ROOT) as gw:
        token = dev_token(gw.key)
        warm = httpx.post(
            f"{gw.url}/v1/retrieve",
            json={"query": "warm-up"},
            timeout=120,
            headers={"Authorization": f"Bearer {token}"},
        )  # loads the model before the clock starts
        assert warm.status_code == 200, warm.text
        queries = [f"warfarin INR question {i}" for i in range(50)]
        result = load_then_kill(gw.server, gw.url, token, queries, clients=4, kill_after=2.0)
    answered = [int(warm.headers["X-Audit-Seq"]), *result.answered]
    sys.stderr.write(f"crash test: {len(answered)} answers, {result.errors} failed requests (the kill)\n")
    assert len(answered) >= 5, f"too little load to mean anything ({len(answered)} answers)"
    check = check_audit(database("phistack_auditor"), answered)  # raises if the chain is broken
    assert check.missing == (), "an answer was sent whose audit event is not committed"
    assert check.events >= len(answered)
