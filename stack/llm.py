"""The language model behind a small interface: an OpenAI-compatible chat client (vLLM in production, llama.cpp's
server for CPU hosts and tests). Timeouts, retries of what is safe to retry, and errors that say what is wrong
without repeating a word of the conversation."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from stack.engine_http import RETRYABLE_STATUS, attempts, engine_client, post_retrying
from stack.errors import EngineError, EngineUnavailable


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class Completion:
    content: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


class ChatEngine(Protocol):
    model: str

    def complete(self, messages: Sequence[Message], max_tokens: int, temperature: float) -> Completion: ...

    def stream(self, messages: Sequence[Message], max_tokens: int, temperature: float) -> Iterator[str]:
        """Content deltas; raises EngineUnavailable before the first one when the engine cannot be reached."""
        ...


def tls_context(ca_file: str | None, cert_file: str | None, key_file: str | None) -> ssl.SSLContext | bool:
    """Server verification against the stack's CA, and the gateway's client certificate for mutual TLS."""
    if not (ca_file or cert_file):
        return True
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    return context


class OpenAIChatClient:
    def __init__(
        self,
        base_url: str,
        model: str,
        timeout: float = 120.0,
        connect_timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.5,
        api_key: str | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.model, self.retries, self.backoff = model, retries, backoff
        self._http = engine_client(base_url, timeout, connect_timeout, api_key, verify)

    def _payload(
        self, messages: Sequence[Message], max_tokens: int, temperature: float, stream: bool
    ) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": stream,
        }

    def complete(self, messages: Sequence[Message], max_tokens: int, temperature: float) -> Completion:
        payload = self._payload(messages, max_tokens, temperature, stream=False)
        response = post_retrying(
            self._http, "/v1/chat/completions", payload, self.retries, self.backoff, "language model"
        )
        return _completion(response)

    def stream(self, messages: Sequence[Message], max_tokens: int, temperature: float) -> Iterator[str]:
        payload = self._payload(messages, max_tokens, temperature, stream=True)
        last = "no attempt made"
        for _ in attempts(self.retries, self.backoff):
            try:
                with self._http.stream("POST", "/v1/chat/completions", json=payload) as response:
                    if response.status_code in RETRYABLE_STATUS:
                        last = f"HTTP {response.status_code}"
                        continue
                    if response.status_code != 200:
                        raise EngineError(f"The engine refused the request (HTTP {response.status_code}).")
                    yield from _deltas(response.iter_lines())
                    return
            except httpx.ConnectError as exc:  # only before anything was sent back: safe to retry
                last = exc.__class__.__name__
                continue
            except httpx.TransportError as exc:
                raise EngineUnavailable(f"The engine stopped mid-answer ({exc.__class__.__name__}).") from None
        raise EngineUnavailable(f"The language model engine at {self._http.base_url} is unavailable ({last}).")

    def ready(self) -> bool:
        try:
            return self._http.get("/v1/models", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    def close(self) -> None:
        self._http.close()


def _completion(response: httpx.Response) -> Completion:
    if response.status_code != 200:
        raise EngineError(f"The engine refused the request (HTTP {response.status_code}).")
    try:
        body = response.json()
        choice = body["choices"][0]
        usage = body.get("usage") or {}
        return Completion(
            str(choice["message"]["content"] or ""),
            str(choice.get("finish_reason") or "stop"),
            int(usage.get("prompt_tokens", 0)),
            int(usage.get("completion_tokens", 0)),
        )
    except (ValueError, KeyError, IndexError, TypeError):
        raise EngineError("The engine's answer is not an OpenAI chat completion.") from None


def _deltas(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line.removeprefix("data:").strip()
        if data == "[DONE]":
            return
        try:
            delta = json.loads(data)["choices"][0].get("delta", {}).get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise EngineError("The engine's stream is not OpenAI chat completion chunks.") from None
        if delta:
            yield delta
