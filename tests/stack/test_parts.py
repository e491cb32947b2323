"""The gateway's small parts on their own: sealing, document extraction, the HTTP engine clients' error paths
(those use httpx.MockTransport, a stand-in engine, named as such: the happy paths run against llama.cpp in
test_chat.py)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from stack.embeddings import OpenAIEmbedder
from stack.errors import EngineError, EngineUnavailable
from stack.extract import MalformedDocument, extract
from stack.llm import Message, OpenAIChatClient
from stack.sealing import AesGcmSealer, HashSealer, SealError
from tests.stack.pdfs import tiny_pdf


def test_hash_sealing_keeps_only_a_digest() -> None:
    ref = HashSealer().seal("Does Jane Roe have HIV?", "query")
    assert ref == "sha256:" + __import__("hashlib").sha256(b"Does Jane Roe have HIV?").hexdigest()


def test_aes_gcm_sealing_round_trips_and_binds_its_purpose(tmp_path: Path) -> None:
    sealer = AesGcmSealer(bytes(32))
    ref = sealer.seal("Does Jane Roe have HIV?", "query")
    assert "Jane" not in ref and ref != sealer.seal("Does Jane Roe have HIV?", "query")  # random nonce
    assert sealer.open(ref, "query") == "Does Jane Roe have HIV?"
    with pytest.raises(SealError, match="another purpose"):
        sealer.open(ref, "answer")
    prefix, key_id, payload = ref.split(":")
    flipped = bytearray(base64.b64decode(payload))
    flipped[-1] ^= 1
    with pytest.raises(SealError, match="altered"):
        sealer.open(f"{prefix}:{key_id}:{base64.b64encode(bytes(flipped)).decode()}", "query")
    b64 = tmp_path / "b64.key"
    b64.write_text(base64.b64encode(bytes(32)).decode() + "\n")  # what `openssl rand -base64 32` writes
    assert AesGcmSealer.from_file(b64).open(ref, "query") == "Does Jane Roe have HIV?"
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    with pytest.raises(SealError, match="bad.key: not a 32-byte key"):
        AesGcmSealer.from_file(bad)
    with pytest.raises(SealError, match="cannot read"):
        AesGcmSealer.from_file(tmp_path / "missing.key")


def test_extraction_keeps_pdf_pages_and_drops_html_scripts() -> None:
    doc = extract(tiny_pdf(["First page text.", "Second page (with parentheses)."]), "application/pdf")
    assert doc.text == "First page text.\n\nSecond page (with parentheses)."
    assert [doc.page_of(0), doc.page_of(doc.text.index("Second"))] == [1, 2]
    html = extract(b"<style>p{}</style><h1>Title</h1><p>One &amp; two</p><script>x()</script>", "text/html")
    assert html.text == "Title\n\nOne & two" and html.page_of(0) is None
    with pytest.raises(MalformedDocument, match="no text"):
        extract(b"<script>only()</script>", "text/html")


def _engine(handler: Callable[[httpx.Request], httpx.Response]) -> OpenAIChatClient:
    client = OpenAIChatClient("http://engine.test", "m", retries=2, backoff=0)
    client._http = httpx.Client(base_url="http://engine.test", transport=httpx.MockTransport(handler))
    return client


def test_chat_client_retries_what_is_safe_and_names_what_failed() -> None:
    calls: list[int] = []

    def busy_then_ok(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            return httpx.Response(503)
        return httpx.Response(200, json={"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]})

    assert _engine(busy_then_ok).complete([Message("user", "q")], 8, 0).content == "ok" and len(calls) == 3
    with pytest.raises(EngineUnavailable, match=r"unavailable \(HTTP 503\)"):
        _engine(lambda r: httpx.Response(503)).complete([Message("user", "q")], 8, 0)
    with pytest.raises(EngineError, match="HTTP 400"):
        _engine(lambda r: httpx.Response(400, json={"error": "bad"})).complete([Message("user", "q")], 8, 0)
    with pytest.raises(EngineError, match="not an OpenAI chat completion"):
        _engine(lambda r: httpx.Response(200, json={"nope": 1})).complete([Message("user", "q")], 8, 0)
    garbage = httpx.Response(200, text="data: {not json}\n\n", headers={"content-type": "text/event-stream"})
    with pytest.raises(EngineError, match="stream"):
        list(_engine(lambda r: garbage).stream([Message("user", "q")], 8, 0))


def test_embeddings_client_checks_dimensions_and_normalizes() -> None:
    def endpoint(dims: int) -> Callable[[httpx.Request], httpx.Response]:
        return lambda r: httpx.Response(
            200,
            json={
                "data": [
                    {"index": 1, "embedding": [0.0] * (dims - 1) + [2.0]},
                    {"index": 0, "embedding": [3.0] + [0.0] * (dims - 1)},
                ]
            },
        )

    embedder = OpenAIEmbedder("http://embed.test", "minilm", backoff=0)
    embedder._http = httpx.Client(base_url="http://embed.test", transport=httpx.MockTransport(endpoint(384)))
    first, second = embedder.embed(["a", "b"])
    assert first[0] == 1.0 and second[-1] == 1.0  # ordered by index, unit length
    embedder._http = httpx.Client(base_url="http://embed.test", transport=httpx.MockTransport(endpoint(576)))
    with pytest.raises(EngineError, match="2 vectors of 576 dimensions; the store needs 2 of 384"):
        embedder.embed(["a", "b"])
    down = OpenAIEmbedder("http://127.0.0.1:9", "minilm", retries=0)
    with pytest.raises(EngineUnavailable, match="127.0.0.1:9"):
        down.embed(["a"])
