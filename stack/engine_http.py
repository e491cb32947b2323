"""What the OpenAI-compatible engine clients (chat in stack.llm, embeddings in stack.embeddings) share: the HTTP
client, and the retry policy for what is safe to retry (refused or timed-out connections, 429/502/503/504)."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx

from stack.errors import EngineUnavailable

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


def engine_client(
    base_url: str, timeout: float, connect_timeout: float, api_key: str | None, verify: ssl.SSLContext | bool
) -> httpx.Client:
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
        verify=verify,
    )


def attempts(retries: int, backoff: float) -> Iterator[int]:
    """The attempt numbers, sleeping with exponential backoff before each retry."""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        yield attempt


def post_retrying(
    http: httpx.Client, path: str, payload: dict[str, Any], retries: int, backoff: float, what: str
) -> httpx.Response:
    """The first answer that is not worth retrying; EngineUnavailable naming the engine when none comes."""
    last = "no attempt made"
    for _ in attempts(retries, backoff):
        try:
            response = http.post(path, json=payload)
        except httpx.TransportError as exc:  # connect, read and pool timeouts, refused connections
            last = exc.__class__.__name__
            continue
        if response.status_code in RETRYABLE_STATUS:
            last = f"HTTP {response.status_code}"
            continue
        return response
    raise EngineUnavailable(f"The {what} engine at {http.base_url} is unavailable ({last}).")
