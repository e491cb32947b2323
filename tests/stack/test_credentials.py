"""Every malformed credential is a 401, before any work and never a 500: tokens whose header names another
algorithm (ES256 against RSA keys, HS256 keyed with the public key, none), claims with control characters,
surrogates or absurd sizes, and headers that are not tokens at all (issue 14, item 2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from tests.stack.test_app import bearer, client, token  # noqa: F401 - the client fixture

QUERY = {"query": "x"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(idp_key: rsa.RSAPrivateKey) -> dict[str, Any]:
    return jwt.decode(token(idp_key), options={"verify_signature": False})


def _unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def forged(kind: str, idp_key: rsa.RSAPrivateKey) -> str:
    claims = _claims(idp_key)
    if kind == "es256-against-rsa":
        return jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
    if kind == "hs256-keyed-with-the-public-key":
        public = idp_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims).encode())
        signature = hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(signature)}"
    if kind == "alg-none":
        return _unsigned(claims, {"alg": "none", "typ": "JWT"})
    if kind == "unknown-alg":
        return _unsigned(claims, {"alg": "XS999"}) + "c2ln"
    if kind == "header-not-json":
        return f"{_b64(b'{not json')}.{_b64(b'{}')}.c2ln"
    if kind == "header-a-list":
        return f"{_b64(b'[1, 2]')}.{_b64(b'{}')}.c2ln"
    if kind == "kid-an-object":
        return _unsigned(claims, {"alg": "RS256", "kid": {"a": 1}}) + "c2ln"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    ["es256-against-rsa", "hs256-keyed-with-the-public-key", "alg-none", "unknown-alg", "header-not-json",
     "header-a-list", "kid-an-object"],
)  # fmt: skip
def test_a_token_with_an_unexpected_header_is_a_401(
    client: TestClient,  # noqa: F811
    idp_key: rsa.RSAPrivateKey,
    kind: str,
) -> None:
    response = client.post("/v1/retrieve", json=QUERY, headers=bearer(forged(kind, idp_key)))
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "alice\x00@clinic"},
        {"sub": "alice\x07"},
        {"sub": "alice\n"},
        {"sub": "\u202eevil"},  # a bidirectional override: printable to a terminal, not in a name
        {"sub": ""},
        {"sub": "a" * 10_000},
        {"groups": ["clinicians\x00"]},
        {"groups": ["clini\ncians"]},
        {"groups": [""]},
        {"groups": ["g" * 1000]},
        {"groups": [f"g{i}" for i in range(10_000)]},
        {"groups": [["nested"]]},
    ],
)
def test_claims_that_are_not_printable_bounded_names_are_a_401(
    client: TestClient,  # noqa: F811
    idp_key: rsa.RSAPrivateKey,
    claims: dict[str, Any],
) -> None:
    for method, path, body in (("POST", "/v1/retrieve", QUERY), ("GET", "/v1/collections", None)):
        response = client.request(method, path, json=body, headers=bearer(token(idp_key, **claims)))
        assert response.status_code == 401, (path, response.text)


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic YWxpY2U6eA==", "Bearer a.b", "Bearer phk_\x7f",
                                    "bearer " + "x" * 20_000])  # fmt: skip
def test_headers_that_are_not_credentials_are_a_401(client: TestClient, header: str) -> None:  # noqa: F811
    response = client.post("/v1/retrieve", json=QUERY, headers={"Authorization": header})
    assert response.status_code == 401, response.text
