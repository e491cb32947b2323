"""Authorization before any work on untrusted input (issue 14, item 3), driven at the ASGI level so the test sees
exactly how much of a body the gateway pulled: an anonymous chunked body is refused with 401 having read none of
it; an authenticated chunked body is cut off with 413 at the cap; an upload to a collection the caller may not
write is refused (404, audited) before its body is read, parsed or embedded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric import rsa

from stack.app import create_app
from stack.embeddings import MiniLMEmbedder
from tests.stack.test_app import Dsn, make_gateway, token
from tests.stack.test_store import seed

MB = b"x" * 1_000_000


def call(app: Any, path: str, headers: dict[str, str], chunks: Iterator[bytes]) -> tuple[int, int]:
    """(status, body chunks the app pulled) for a chunked POST (no Content-Length)."""
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        piece = next(chunks, None)
        if piece is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += 1
        return {"type": "http.request", "body": piece, "more_body": True}

    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    path_only, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path_only, "raw_path": path_only.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8443),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return status, pulled


class CountingEmbedder:
    """The real embedder, counting its calls."""

    def __init__(self, inner: MiniLMEmbedder) -> None:
        self.inner, self.calls = inner, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed(self, texts: list[str]) -> Any:
        self.calls += 1
        return self.inner.embed(texts)


def test_anonymous_chunked_bodies_are_refused_unread(
    database: Dsn, idp_key: rsa.RSAPrivateKey, embedder: MiniLMEmbedder
) -> None:
    app = create_app(make_gateway(database, idp_key, embedder))
    for path in ("/v1/retrieve", "/v1/chat/completions", "/v1/collections/cardiology/documents?title=t"):
        status, pulled = call(app, path, {"Content-Type": "application/json"}, iter([MB] * 400))
        assert (status, pulled) == (401, 0), path


def test_a_chunked_body_is_cut_off_at_its_cap(
    database: Dsn, idp_key: rsa.RSAPrivateKey, embedder: MiniLMEmbedder
) -> None:
    app = create_app(make_gateway(database, idp_key, embedder))  # caps: 10 kB JSON, 200 kB documents
    headers = {"Authorization": f"Bearer {token(idp_key)}", "Content-Type": "application/json"}
    status, pulled = call(app, "/v1/retrieve", headers, iter([MB] * 400))
    assert (status, pulled) == (413, 1)
    seed(database, embedder)
    upload = {**headers, "Authorization": f"Bearer {token(idp_key, groups=['cardiology-editors'])}",
              "Content-Type": "text/plain"}  # fmt: skip
    status, pulled = call(app, "/v1/collections/cardiology/documents?title=big", upload, iter([b"y" * 50_000] * 100))
    assert status == 413 and pulled == 5  # 250 kB read: one chunk past the 200 kB cap, not 5 MB


def test_an_upload_the_caller_may_not_write_is_refused_before_its_body(
    database: Dsn, idp_key: rsa.RSAPrivateKey, embedder: MiniLMEmbedder
) -> None:
    seed(database, embedder)
    counting = CountingEmbedder(embedder)
    app = create_app(make_gateway(database, idp_key, counting))  # type: ignore[arg-type]
    text = [b"Crafted text that would take seconds to chunk and embed. " * 3000]
    for groups, collection in (([], "cardiology"), (["cardiology-editors"], "no-such-collection")):
        headers = {"Authorization": f"Bearer {token(idp_key, groups=groups)}", "Content-Type": "text/plain"}
        status, pulled = call(app, f"/v1/collections/{collection}/documents?title=x", headers, iter(text))
        assert (status, pulled) == (404, 0), (groups, collection)
    assert counting.calls == 0
    with psycopg.connect(database(None)) as conn:
        outcomes = conn.execute("SELECT outcome FROM audit_events WHERE action = 'ingest'").fetchall()
    assert [o for (o,) in outcomes] == ["denied", "denied"]  # refused, and audited


def test_fuzzed_chunked_bodies_are_bounded_and_never_a_server_error(
    database: Dsn, idp_key: rsa.RSAPrivateKey, embedder: MiniLMEmbedder
) -> None:
    """Chunked bodies of random sizes and counts on every body-taking route, anonymous or not: never a 5xx; an
    anonymous one is never read; an authenticated one is read at most one chunk past its cap."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seed(database, embedder)
    app = create_app(make_gateway(database, idp_key, embedder))  # caps: 10 kB JSON, 200 kB documents
    signed = {"Authorization": f"Bearer {token(idp_key, groups=['clinicians', 'cardiology-editors'])}"}
    routes = {"/v1/retrieve": 10_000, "/v1/chat/completions": 10_000, "/v1/collections": 10_000,
              "/v1/collections/cardiology/documents?title=f": 200_000}  # fmt: skip

    @given(
        path=st.sampled_from(sorted(routes)),
        sizes=st.lists(st.integers(0, 60_000), max_size=12),
        byte=st.binary(min_size=1, max_size=1),
        anonymous=st.booleans(),
    )
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(path: str, sizes: list[int], byte: bytes, anonymous: bool) -> None:
        headers = {"Content-Type": "application/json" if "documents" not in path else "text/plain"}
        status, pulled = call(app, path, headers if anonymous else {**headers, **signed}, iter(byte * n for n in sizes))
        assert status < 500, (path, status)
        if anonymous:
            assert (status, pulled) == (401, 0)
        else:
            total, read = 0, 0
            for n in sizes:  # how many chunks the cap allows, plus the one that crosses it
                read += 1
                total += n
                if total > routes[path]:
                    break
            assert pulled <= read, (path, pulled, read)

    run()
