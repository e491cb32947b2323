"""The gateway over HTTP: authentication on every route, audited retrieval, limits."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from stack.app import create_app
from stack.audit import verify
from stack.auth import API_KEY_PREFIX, Authenticator, hash_api_key
from stack.embeddings import Embedder, MiniLMEmbedder
from stack.gateway import Gateway, Limits
from stack.llm import ChatEngine
from tests.stack.test_store import seed

Dsn = Callable[[str | None], str]
ISSUER, AUDIENCE = "https://idp.clinic.example", "phistack-gateway"


def token(key: rsa.RSAPrivateKey, sub: str = "alice@clinic", groups: list[str] | None = None, **over: Any) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "iat": now,
        "exp": now + dt.timedelta(minutes=5),
        "groups": ["clinicians"] if groups is None else groups,
        **over,
    }
    return jwt.encode(claims, key, algorithm="RS256")


ADMINS = "kb-admins"


def make_gateway(
    database: Dsn, idp_key: rsa.RSAPrivateKey, embedder: Embedder, engine: ChatEngine | None = None, **parts: Any
) -> Gateway:
    """The gateway's real parts, with the test IdP's key in place of a JWKS endpoint."""

    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(database("phistack_app"))

    auth = Authenticator(ISSUER, AUDIENCE, lambda _token: idp_key.public_key(), "groups", connect)
    parts.setdefault("limits", Limits(max_body_bytes=10_000, max_document_bytes=200_000))
    return Gateway(auth, connect, embedder, engine, admin_groups=(ADMINS,), **parts)


@pytest.fixture
def client(database: Dsn, idp_key: rsa.RSAPrivateKey, embedder: MiniLMEmbedder) -> TestClient:
    seed(database, embedder)
    return TestClient(create_app(make_gateway(database, idp_key, embedder)))


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_every_route_but_health_requires_credentials(client: TestClient, idp_key: rsa.RSAPrivateKey) -> None:
    assert client.get("/openapi.json").status_code == 401  # the API's description too (issue 14, item 8)
    signed_in = bearer(token(idp_key))
    assert client.get("/docs").status_code == 401  # anonymous callers learn nothing, not even what exists
    assert client.get("/docs", headers=signed_in).status_code == 404  # no CDN-loading pages at all
    assert client.get("/redoc", headers=signed_in).status_code == 404
    paths = client.get("/openapi.json", headers=bearer(token(idp_key))).json()["paths"]
    assert set(paths) >= {
        "/metrics",
        "/v1/retrieve",
        "/v1/chat/completions",
        "/v1/models",
        "/v1/collections",
        "/v1/collections/{collection}/documents",
        "/v1/collections/{collection}/documents/{document_id}",
    }
    for template, operations in paths.items():
        if template in ("/healthz", "/readyz"):
            continue
        path = template.replace("{collection}", "cardiology").replace("{document_id}", "1")
        for method in operations:
            response = client.request(method.upper(), path, json={"query": "x"})
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    "bad",
    [
        {"aud": "someone-else"},
        {"iss": "https://evil.example"},
        {"exp": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)},
        {"groups": "clinicians"},
    ],
)
def test_bad_tokens_are_refused(client: TestClient, idp_key: rsa.RSAPrivateKey, bad: dict[str, Any]) -> None:
    response = client.post("/v1/retrieve", json={"query": "x"}, headers=bearer(token(idp_key, **bad)))
    assert response.status_code == 401


def test_a_token_signed_by_another_key_is_refused(client: TestClient) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert client.post("/v1/retrieve", json={"query": "x"}, headers=bearer(token(other))).status_code == 401


def test_retrieve_cites_and_audits_before_answering(
    client: TestClient, idp_key: rsa.RSAPrivateKey, database: Dsn
) -> None:
    question = "What INR range should a patient on warfarin stay in?"
    response = client.post("/v1/retrieve", json={"query": question, "k": 3}, headers=bearer(token(idp_key)))
    assert response.status_code == 200, response.text
    first = response.json()["citations"][0]
    assert first["document"] == "Warfarin protocol" and first["end"] > first["start"]
    with psycopg.connect(database("phistack_auditor")) as conn:
        assert verify(conn) == 1
        actor, outcome, chunks, digest = conn.execute(
            "SELECT actor, outcome, chunk_ids, query_ref FROM audit_events"
        ).fetchone()  # type: ignore[misc]
    assert actor == "alice@clinic" and outcome == "ok"
    assert chunks == [c["chunk_id"] for c in response.json()["citations"]]
    assert question not in digest and digest.startswith("sha256:")  # the query is never stored in the clear


def test_a_forbidden_collection_is_not_found_and_audited(
    client: TestClient, idp_key: rsa.RSAPrivateKey, database: Dsn
) -> None:
    response = client.post(
        "/v1/retrieve",
        json={"query": "invoices", "collections": ["billing"]},
        headers=bearer(token(idp_key, groups=["clinicians"])),
    )
    assert response.status_code == 404 and "billing" in response.json()["detail"]
    with psycopg.connect(database("phistack_auditor")) as conn:
        outcome = conn.execute("SELECT outcome, collection FROM audit_events").fetchone()
    assert outcome == ("denied", "billing")


def test_api_keys_are_stored_hashed_and_can_be_revoked(client: TestClient, database: Dsn) -> None:
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    with psycopg.connect(database(None)) as admin:
        admin.execute(
            "INSERT INTO api_keys (key_hash, name, groups) VALUES (%s, 'ingest-bot', %s)",
            (hash_api_key(key), ["radiology"]),
        )
    assert client.get("/metrics", headers=bearer(key)).status_code == 200
    response = client.post("/v1/retrieve", json={"query": "MRI slots"}, headers=bearer(key))
    assert {c["collection"] for c in response.json()["citations"]} == {"radiology"}
    with psycopg.connect(database(None)) as admin:
        admin.execute("UPDATE api_keys SET revoked_at = now()")
        assert admin.execute("SELECT count(*) FROM api_keys WHERE key_hash = %s", (key,)).fetchone() == (0,)
    assert client.get("/metrics", headers=bearer(key)).status_code == 401


def test_oversize_and_malformed_bodies_are_4xx_and_metrics_hold_no_phi(
    client: TestClient, idp_key: rsa.RSAPrivateKey
) -> None:
    headers = bearer(token(idp_key))
    assert client.post("/v1/retrieve", content=b"x" * 20_000, headers=headers).status_code == 413
    assert client.post("/v1/retrieve", json={"query": ""}, headers=headers).status_code == 422
    assert client.post("/v1/retrieve", json={"query": "q", "k": 500}, headers=headers).status_code == 422
    secret_question = "does patient John Q Public have hepatitis"
    client.post("/v1/retrieve", json={"query": secret_question}, headers=headers)
    metrics = client.get("/metrics", headers=headers).text
    assert 'route="/v1/retrieve"' in metrics and "hepatitis" not in metrics and "alice" not in metrics


def test_collection_names_are_validated_at_the_door(client: TestClient, idp_key: rsa.RSAPrivateKey) -> None:
    """Found by schemathesis: a control character in a collection name used to reach the audit writer (a 500)."""
    response = client.post(
        "/v1/retrieve", json={"query": "q", "collections": ["\u001f"]}, headers=bearer(token(idp_key))
    )
    assert response.status_code == 422


def test_operators_create_and_revoke_keys_with_the_cli(
    client: TestClient, database: Dsn, capsys: pytest.CaptureFixture[str]
) -> None:
    from stack.cli import main as gateway_cli

    owner = database(None)
    assert gateway_cli(["keys", "create", "--dsn", owner, "--name", "ingest-bot", "--group", "radiology"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith(API_KEY_PREFIX)
    with psycopg.connect(owner) as admin:  # only the hash is kept
        assert admin.execute("SELECT key_hash FROM api_keys WHERE name = 'ingest-bot'").fetchone() == (
            hash_api_key(key),
        )
    response = client.post("/v1/retrieve", json={"query": "MRI slots"}, headers=bearer(key))
    assert {c["collection"] for c in response.json()["citations"]} == {"radiology"}
    assert gateway_cli(["keys", "create", "--dsn", owner, "--name", "ingest-bot", "--group", "radiology"]) == 2
    assert "a key named 'ingest-bot' exists" in capsys.readouterr().err
    assert gateway_cli(["keys", "revoke", "--dsn", owner, "--name", "ingest-bot"]) == 0
    assert client.get("/metrics", headers=bearer(key)).status_code == 401
    assert gateway_cli(["keys", "revoke", "--dsn", owner, "--name", "ingest-bot"]) == 2
    assert "no live key named 'ingest-bot'" in capsys.readouterr().err
