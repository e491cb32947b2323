"""Text that is not valid Unicode (a lone surrogate, which JSON can spell as \\ud800) in any field a user sends
is a 422 naming the field, never a 500, and nothing the user sent reaches a log or comes back in the error
(issue 14, item 5). An unexpected error is a generic 500, counted in /metrics, with no traceback in the log."""

from __future__ import annotations

import logging

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from stack.app import create_app
from tests.stack.test_app import ADMINS, Dsn, bearer, client, make_gateway, token  # noqa: F401 - the client fixture

MARKER = "PATIENT-MRN-4471"  # stands for PHI: must appear in no log and no error body
BAD = f'"{MARKER} \\ud800"'  # a JSON string holding a lone surrogate

CASES = [
    ("POST", "/v1/retrieve", f'{{"query": {BAD}}}', ["clinicians"]),
    ("POST", "/v1/chat/completions", f'{{"messages": [{{"role": "user", "content": {BAD}}}]}}', ["clinicians"]),
    ("POST", "/v1/chat/completions",
     f'{{"messages": [{{"role": "user", "content": [{{"type": "text", "text": {BAD}}}]}}]}}', ["clinicians"]),
    ("POST", "/v1/chat/completions", f'{{"model": {BAD}, "messages": [{{"role": "user", "content": "x"}}]}}',
     ["clinicians"]),
    ("POST", "/v1/collections", f'{{"id": "c1", "title": {BAD}, "read_groups": ["a"], "write_groups": ["a"]}}',
     [ADMINS]),
    ("POST", "/v1/collections", f'{{"id": "c1", "title": "t", "read_groups": [{BAD}], "write_groups": ["a"]}}',
     [ADMINS]),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "groups"), CASES)
def test_a_lone_surrogate_is_a_422_and_never_logged(  # noqa: PLR0913
    client: TestClient,  # noqa: F811
    idp_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    body: str,
    groups: list[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {**bearer(token(idp_key, groups=groups)), "Content-Type": "application/json"}
    response = client.request(method, path, content=body.encode(), headers=headers)
    assert response.status_code == 422, response.text
    assert MARKER not in response.text and "must be valid Unicode" in response.text
    assert MARKER not in caplog.text


def test_a_surrogate_spelled_in_a_query_string_title_never_reaches_the_store_as_one(
    client: TestClient,  # noqa: F811
    idp_key: rsa.RSAPrivateKey,
) -> None:
    headers = bearer(token(idp_key, groups=["cardiology-editors", "clinicians"]))
    response = client.post(
        "/v1/collections/cardiology/documents?title=%ED%A0%80",  # UTF-8 of U+D800, which UTF-8 cannot hold
        content=b"text",
        headers={**headers, "Content-Type": "text/plain"},
    )
    assert response.status_code == 201, response.text  # decoded with replacement characters, not a surrogate
    titles = [d["title"] for d in client.get("/v1/collections/cardiology/documents", headers=headers).json()]
    assert all(t.encode("utf-8") for t in titles) and "\ufffd\ufffd\ufffd" in titles


def test_an_unexpected_error_is_a_counted_500_without_a_traceback_in_the_log(
    database: Dsn,
    idp_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Exploding:
        dimension = 384

        def embed(self, texts: list[str]) -> list[list[float]]:
            raise RuntimeError(f"embedding failed for {texts[0]}")  # a message that holds the query

    app = create_app(make_gateway(database, idp_key, Exploding()))  # type: ignore[arg-type]
    caplog.set_level(logging.DEBUG)
    with TestClient(app, raise_server_exceptions=False) as http:
        response = http.post("/v1/retrieve", json={"query": MARKER}, headers=bearer(token(idp_key)))
        metrics = http.get("/metrics", headers=bearer(token(idp_key))).text
    assert response.status_code == 500 and MARKER not in response.text
    assert MARKER not in caplog.text and "Traceback" not in caplog.text
    assert "RuntimeError" in caplog.text  # the kind of failure is logged, for operators
    assert 'gateway_requests_total{route="/v1/retrieve",status="500"} 1.0' in metrics
