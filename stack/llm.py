"""The language model behind a small interface: an OpenAI-compatible chat client (vLLM in production, llama.cpp's
server for CPU hosts and tests). Timeouts, retries of what is safe to retry, and errors that say what is wrong
without repeating a word of the conversation."""

from __future__ import annotations

import contextlib
import itertools
import json
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from stack.engine_http import RETRYABLE_STATUS, attempts, engine_client, post_retrying
from stack.errors import ContextTooLong, EngineError, EngineUnavailable

WATCHDOG_GRACE = 30.0  # seconds past its deadline before an engine call counts as stuck (readyz says so)


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
    """``timeout`` bounds each read; ``deadline`` bounds a whole call, a stream included (an engine that trickles
    a byte a minute cannot hold a request forever). Calls in flight are tracked: one past its deadline by
    WATCHDOG_GRACE makes ``ready()`` false, so /readyz reports a wedged engine."""

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
        deadline: float = 300.0,
    ) -> None:
        self.model, self.retries, self.backoff, self.deadline = model, retries, backoff, deadline
        self._http = engine_client(base_url, timeout, connect_timeout, api_key, verify)
        self._inflight: dict[int, float] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count()

    @contextlib.contextmanager
    def _tracked(self) -> Iterator[float]:
        """The call's deadline (monotonic); the call is in flight until the block ends."""
        call, started = next(self._ids), time.monotonic()
        with self._lock:
            self._inflight[call] = started
        try:
            yield started + self.deadline
        finally:
            with self._lock:
                self._inflight.pop(call, None)

    def stuck(self) -> int:
        """Engine calls in flight well past their deadline (a hung engine or a wedged connection pool)."""
        limit = time.monotonic() - self.deadline - WATCHDOG_GRACE
        with self._lock:
            return sum(1 for started in self._inflight.values() if started < limit)

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
        with self._tracked():
            response = post_retrying(
                self._http, "/v1/chat/completions", payload, self.retries, self.backoff, "language model"
            )
            return _completion(response)

    def stream(self, messages: Sequence[Message], max_tokens: int, temperature: float) -> Iterator[str]:
        """Closing this generator (the client went away) closes the engine's response at once, in this thread."""
        payload = self._payload(messages, max_tokens, temperature, stream=True)
        with self._tracked() as deadline:
            yield from self._stream(payload, deadline)

    def _stream(self, payload: dict[str, Any], deadline: float) -> Iterator[str]:
        last = "no attempt made"
        for _ in attempts(self.retries, self.backoff):
            try:
                with self._http.stream("POST", "/v1/chat/completions", json=payload) as response:
                    if response.status_code in RETRYABLE_STATUS:
                        last = f"HTTP {response.status_code}"
                        continue
                    if response.status_code != 200:
                        response.read()
                        _refused(response)
                    yield from _deltas(response.iter_lines(), deadline)
                    return
            except httpx.ConnectError as exc:  # only before anything was sent back: safe to retry
                last = exc.__class__.__name__
                continue
            except httpx.TransportError as exc:
                raise EngineUnavailable(f"The engine stopped mid-answer ({exc.__class__.__name__}).") from None
        raise EngineUnavailable(f"The language model engine at {self._http.base_url} is unavailable ({last}).")

    def ready(self) -> bool:
        if self.stuck():
            return False
        try:
            return self._http.get("/v1/models", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    def close(self) -> None:
        self._http.close()


def _refused(response: httpx.Response) -> None:
    """A 4xx/5xx from the engine. A 400 about the context (vLLM: "maximum context length"; llama.cpp: "exceed
    context window") is the caller's conversation being too long, not an engine fault. Never quotes the body."""
    text = response.text.lower() if response.status_code == 400 else ""
    if "context" in text and ("length" in text or "exceed" in text or "window" in text):
        raise ContextTooLong("The conversation and its sources are longer than the model's context; shorten it.")
    raise EngineError(f"The engine refused the request (HTTP {response.status_code}).")


def _completion(response: httpx.Response) -> Completion:
    if response.status_code != 200:
        _refused(response)
    try:
        body = response.json()
        choice = body["choices"][0]
        usage = body.get("usage") or {}
        completion = Completion(
            str(choice["message"]["content"] or ""),
            str(choice.get("finish_reason") or "stop"),
            int(usage.get("prompt_tokens", 0)),
            int(usage.get("completion_tokens", 0)),
        )
    except (ValueError, KeyError, IndexError, TypeError):
        raise EngineError("The engine's answer is not an OpenAI chat completion.") from None
    if not completion.content.strip():
        raise EngineError("The engine returned an empty answer.")
    return completion


def _deltas(lines: Iterator[str], deadline: float = float("inf")) -> Iterator[str]:
    """The content deltas, up to the engine's end marker; a stream that ends without it, or that carries no
    content at all, is a failure, never a normal (empty or truncated) answer."""
    produced = False
    for line in lines:
        if time.monotonic() > deadline:
            raise EngineUnavailable("The engine took longer than the gateway allows for one answer.")
        if not line.startswith("data:"):
            continue
        data = line.removeprefix("data:").strip()
        if data == "[DONE]":
            if not produced:
                raise EngineError("The engine returned an empty answer.")
            return
        try:
            delta = json.loads(data)["choices"][0].get("delta", {}).get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise EngineError("The engine's stream is not OpenAI chat completion chunks.") from None
        if delta:
            produced = True
            yield delta
    raise EngineUnavailable("The engine's stream ended without its end marker (the answer is incomplete).")
