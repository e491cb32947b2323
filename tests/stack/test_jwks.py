"""Logins without egress: the IdP's keys from a file, an SSM parameter (moto) or a private URL, refreshed without a
restart, and a source that cannot be read stops `serve` in one line."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from moto import mock_aws

from stack.auth import Authenticator, Unauthenticated
from stack.jwks import JwksKeys, JwksUnavailable, parse, reader
from tests.stack.test_app import AUDIENCE, ISSUER


def jwks(*keys: tuple[str, Any]) -> str:
    """A JWKS document holding each (kid, private key)'s public half."""
    entries = []
    for kid, key in keys:
        algorithm = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
        entry = json.loads(algorithm.to_jwk(key.public_key()))
        entries.append({**entry, "kid": kid, "use": "sig"})
    return json.dumps({"keys": entries})


def signed(key: Any, kid: str | None) -> str:
    """A valid token for alice@clinic, signed by key and naming kid in its header."""
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice@clinic", "iat": now, "exp": now + 300, "groups": ["staff"]}
    algorithm = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid} if kid else None)


def authenticator(keys: JwksKeys) -> Authenticator:
    def no_database() -> psycopg.Connection[Any]:
        raise AssertionError("a JWT login must not touch the database")

    return Authenticator(ISSUER, AUDIENCE, keys.signing_key, "groups", no_database)


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "old": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "new": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
    }


def test_a_file_source_logs_in_and_picks_up_a_rotated_key_without_a_restart(
    tmp_path: Path, keys: dict[str, Any]
) -> None:
    path = tmp_path / "idp-jwks.json"
    path.write_text(jwks(("k1", keys["old"])))
    store = JwksKeys(f"file://{path}", refresh_s=0.05, min_refresh_s=3600).start()
    try:
        login = authenticator(store)
        assert login(f"Bearer {signed(keys['old'], 'k1')}").subject == "alice@clinic"
        with pytest.raises(Unauthenticated):  # not yet published
            login(f"Bearer {signed(keys['new'], 'k2')}")
        path.write_text(jwks(("k2", keys["new"])))  # the IdP rotated; the engineer republished the file
        deadline = time.monotonic() + 5
        while "k2" not in store.current.keys and time.monotonic() < deadline:
            time.sleep(0.02)
        assert login(f"Bearer {signed(keys['new'], 'k2')}").subject == "alice@clinic"
        with pytest.raises(Unauthenticated):  # the retired key no longer logs in
            login(f"Bearer {signed(keys['old'], 'k1')}")
        path.write_text("not json")  # a broken republish keeps the last good keys
        assert store.refresh() is False
        assert login(f"Bearer {signed(keys['new'], 'k2')}").subject == "alice@clinic"
    finally:
        store.close()


def test_an_unknown_kid_refreshes_early_at_most_once_per_interval(tmp_path: Path, keys: dict[str, Any]) -> None:
    reads: list[int] = []
    current = {"doc": jwks(("k1", keys["old"]))}

    def read() -> bytes:
        reads.append(1)
        return current["doc"].encode()

    store = JwksKeys("file:///unused", refresh_s=3600, min_refresh_s=0.2, read=read)
    login = authenticator(store)
    current["doc"] = jwks(("k1", keys["old"]), ("k2", keys["new"]))
    time.sleep(0.25)
    assert login(f"Bearer {signed(keys['new'], 'k2')}").subject == "alice@clinic"  # found by the early refresh
    assert len(reads) == 2
    for _ in range(5):  # a flood of unknown kids costs no more reads inside the interval
        with pytest.raises(Unauthenticated):
            login(f"Bearer {signed(keys['new'], 'k9')}")
    assert len(reads) == 2


def test_token_headers_that_do_not_fit_the_key_are_401_not_500(tmp_path: Path, keys: dict[str, Any]) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(jwks(("rsa", keys["old"])))
    login = authenticator(JwksKeys(f"file://{path}"))
    for credential in (
        signed(keys["ec"], "rsa"),  # ES256 against an RSA key with the same kid
        signed(keys["new"], None),  # no kid, and not the set's one key
        "a.b.c",
        "eyJhbGciOiJub25lIn0.e30.",  # alg none
        signed(keys["old"], "rsa").replace(".", "x", 1),
    ):
        with pytest.raises(Unauthenticated):
            login(f"Bearer {credential}")
    assert login(f"Bearer {signed(keys['old'], None)}").subject == "alice@clinic"  # a set of one key needs no kid


def test_an_ssm_parameter_source_reads_through_the_endpoint(keys: dict[str, Any]) -> None:
    with mock_aws():
        ssm = boto3.session.Session(region_name="us-east-1").client("ssm")
        ssm.put_parameter(Name="/phistack/clinic-a/idp-jwks", Value=jwks(("k1", keys["ec"])), Type="String")
        store = JwksKeys("ssm:/phistack/clinic-a/idp-jwks", read=reader("ssm:/phistack/clinic-a/idp-jwks", lambda: ssm))
        assert authenticator(store)(f"Bearer {signed(keys['ec'], 'k1')}").subject == "alice@clinic"
        with pytest.raises(
            JwksUnavailable, match=r"^ssm:/phistack/clinic-a/missing: SSM refused \(ParameterNotFound\)"
        ):
            JwksKeys("ssm:/phistack/clinic-a/missing", read=reader("ssm:/phistack/clinic-a/missing", lambda: ssm))


@pytest.fixture
def private_idp(keys: dict[str, Any]) -> Iterator[str]:
    """An IdP's JWKS URL on a 'private network': a loopback HTTP server (the test's stand-in for the IdP)."""
    body = jwks(("k1", keys["old"])).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            status, payload = (200, body) if self.path == "/jwks.json" else (404, b"")
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_private_url_source_is_read_and_a_failing_one_is_named(
    private_idp: str, keys: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import stack.jwks as module

    real = module._read_https
    # The source must be https (settings refuse anything else); the test server speaks plain HTTP on loopback.
    monkeypatch.setattr(module, "_read_https", lambda url, source: real(url.replace("https://", "http://"), source))
    host = private_idp.removeprefix("http://")
    store = JwksKeys(f"https://{host}/jwks.json")
    assert authenticator(store)(f"Bearer {signed(keys['old'], 'k1')}").subject == "alice@clinic"
    with pytest.raises(JwksUnavailable, match=r"/missing.json: answered HTTP 404\.$"):
        JwksKeys(f"https://{host}/missing.json")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff", "not a JSON key set"),
        (b"[]", "no 'keys' list"),
        (b'{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}', "holds no RSA or EC signing key"),
        (b'{"keys": [{"kty": "RSA", "n": 5}]}', "holds no RSA or EC signing key"),
        (b" " * (300 * 1024), "over 262144 bytes"),
    ],
)
def test_key_sets_that_hold_no_usable_key_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(JwksUnavailable, match=message):
        parse(raw, "file:///etc/phistack/idp-jwks.json")


def test_serve_stops_in_one_line_naming_a_jwks_source_it_cannot_read(
    gateway_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from stack.cli import main

    monkeypatch = gateway_env
    monkeypatch.setenv("PHISTACK_GATEWAY_DATABASE_DSN", "postgresql://phistack_app@127.0.0.1:9/phistack")
    monkeypatch.setenv("PHISTACK_GATEWAY_OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("PHISTACK_GATEWAY_OIDC_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("PHISTACK_GATEWAY_OIDC_JWKS_URL", f"file://{tmp_path}/absent.json")
    assert main(["serve"]) == 3
    err = capsys.readouterr().err.strip()
    assert err == (
        f"phistack-gateway: error: PHISTACK_GATEWAY_OIDC_JWKS_URL: file://{tmp_path}/absent.json: "
        "cannot be read (No such file or directory)."
    )
    monkeypatch.setenv("PHISTACK_GATEWAY_OIDC_JWKS_URL", "http://idp.clinic.example/jwks.json")
    assert main(["serve"]) == 2
    assert (
        "PHISTACK_GATEWAY_OIDC_JWKS_URL: Value error, must start with file:, ssm: or https:" in capsys.readouterr().err
    )
