"""Audit completeness under a crash: load the real server on loopback, kill -9 it mid-load, then check that every
2xx a client received has its committed audit event, and that the chain still verifies. Bounded: 4 clients,
2 seconds of load, 127.0.0.1 only. bench/load.py runs the same at a larger size."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from stack.dev.loadcheck import LoadResult, check_audit, dev_gateway, dev_token, load_for, load_then_kill
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


def test_two_gateways_on_one_database_keep_one_chain_when_one_is_killed(
    database: Dsn, embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    """Scale-out: two gateway processes (two hosts behind the load balancer) on one database, loaded together; one
    gets kill -9 mid-load while the other keeps answering. Every 2xx from either has its committed event, no two
    answers share a sequence number, and the one chain verifies."""
    seed(database, embedder)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    app = database("phistack_app")
    with dev_gateway(app, tmp_path / "a", ROOT) as a, dev_gateway(app, tmp_path / "b", ROOT) as b:
        tokens = {gw.url: dev_token(gw.key) for gw in (a, b)}
        warm = [
            httpx.post(f"{gw.url}/v1/retrieve", json={"query": "warm-up"}, timeout=120,
                       headers={"Authorization": f"Bearer {tokens[gw.url]}"})
            for gw in (a, b)
        ]  # fmt: skip
        assert all(w.status_code == 200 for w in warm), [w.text for w in warm]
        queries = [f"warfarin INR question {i}" for i in range(50)]
        survivor: list[LoadResult] = []
        steady = threading.Thread(
            target=lambda: survivor.append(load_for(b.url, tokens[b.url], queries, clients=2, seconds=3.5))
        )
        steady.start()
        killed = load_then_kill(a.server, a.url, tokens[a.url], queries, clients=2, kill_after=2.0)
        steady.join(timeout=30)
        after = httpx.post(f"{b.url}/v1/retrieve", json={"query": "after the kill"}, timeout=30,
                           headers={"Authorization": f"Bearer {tokens[b.url]}"})  # fmt: skip
    assert after.status_code == 200, after.text
    answered = [*(int(w.headers["X-Audit-Seq"]) for w in warm), *killed.answered, *survivor[0].answered]
    answered.append(int(after.headers["X-Audit-Seq"]))
    sys.stderr.write(f"two gateways: {len(killed.answered)} + {len(survivor[0].answered)} answers, one killed\n")
    assert len(killed.answered) >= 3 and len(survivor[0].answered) >= 3, "too little load to mean anything"
    assert len(set(answered)) == len(answered), "two answers were given the same audit sequence number"
    assert answered[-1] > max(killed.answered)  # the survivor continues the same chain
    check = check_audit(database("phistack_auditor"), answered)  # raises if the chain is broken
    assert check.missing == (), "an answer was sent whose audit event is not committed"
