"""POST /v1/chat/completions (OpenAI-compatible) and GET /v1/models. The answer is grounded in what the caller may
read, cited, and audited: the access is committed before the first byte of an answer leaves the gateway."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Generator
from typing import Any, Literal

import anyio
from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from stack.audit import Outcome
from stack.errors import ContextTooLong, EngineError, EngineUnavailable
from stack.gateway import Audit, Caller, CollectionId, Parts, Text, Touched, require_readable
from stack.llm import ChatEngine, Message
from stack.rag import NO_SOURCES, build_messages, cited_numbers, select_sources, sources_footer
from stack.routes.retrieve import Citation, citation, embed_query, search
from stack.store import Hit

router = APIRouter()


class TextPart(BaseModel):
    type: Literal["text"]
    text: Text = Field(max_length=20_000)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant"]
    content: Text | list[TextPart] = Field(max_length=20_000)

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class ChatRequest(BaseModel):
    """The OpenAI request, plus two optional extensions: which collections to search, and how many chunks."""

    model_config = ConfigDict(extra="ignore")  # temperature-like knobs the engine does not take are ignored
    model: Text | None = None
    messages: list[ChatMessage] = Field(min_length=1, max_length=100)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=4096)
    temperature: float = Field(0.2, ge=0, le=2)
    collections: list[CollectionId] | None = Field(None, max_length=20)
    k: int | None = Field(None, ge=1, le=20)


class SourceCitation(Citation):
    index: int  # the [n] the answer uses
    cited: bool  # whether the answer's text cites it


def _engine(parts: Parts, body: ChatRequest) -> ChatEngine:
    if parts.engine is None:
        raise HTTPException(503, "No language model engine is configured for this gateway.")
    if body.model and body.model != parts.engine.model:
        raise HTTPException(404, f"Model {body.model!r} is not served here; GET /v1/models lists the one that is.")
    return parts.engine


def _citations(sources: list[Hit], answer: str) -> list[SourceCitation]:
    cited = cited_numbers(answer, len(sources))
    return [SourceCitation(**citation(hit).model_dump(), index=n, cited=n in cited) for n, hit in enumerate(sources, 1)]


@router.get("/v1/models")
def models(_: Caller, parts: Parts) -> dict[str, Any]:
    served = [parts.engine.model] if parts.engine else []
    return {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "phistack"} for m in served]}


@router.post("/v1/chat/completions", response_model=None)
def chat(body: ChatRequest, caller: Caller, parts: Parts, response: Response) -> dict[str, Any] | StreamingResponse:
    engine = _engine(parts, body)
    conversation = [Message(m.role, m.text()) for m in body.messages]
    question = next((m.content for m in reversed(conversation) if m.role == "user"), "").strip()
    if not question:
        raise HTTPException(422, "messages: the conversation needs a user message with text.")
    budget = parts.limits.max_conversation_chars
    if sum(len(m.content) for m in conversation) > budget:  # before any retrieval or engine call
        raise HTTPException(413, f"messages: over {budget} characters in all; the model's context cannot hold it.")
    audit = Audit(caller, "chat")
    query_ref = parts.sealer.seal(question, "query")
    vector = embed_query(parts, question)
    with parts.connect() as conn:
        require_readable(conn, audit, body.collections, query_ref)
        hits = search(conn, parts, caller, question, vector, body.collections, body.k)
        sources = select_sources(hits, parts.limits.max_context_chars, parts.limits.min_relevance)
        where: Touched = {
            "collection": ",".join(sorted({h.collection for h in sources})) or None,
            "document_ids": sorted({h.document_id for h in sources}),
            "chunk_ids": [h.chunk_id for h in sources],
            "query_ref": query_ref,
        }
        messages = build_messages(sources, conversation, parts.limits.max_context_chars)
        max_tokens = body.max_tokens or parts.limits.max_tokens
        if body.stream:
            with conn.transaction():  # the disclosure is on record before the first byte is streamed
                seq = audit.record(conn, Outcome.STREAMING, **where)
            stream = _stream(parts, audit, engine, messages, sources, where, max_tokens, body.temperature)
            headers = {"X-Audit-Seq": str(seq)}
            return ClosingStreamingResponse(closing_stream(stream), media_type="text/event-stream", headers=headers)
    # The database connection goes back to the pool while the model writes: generation takes seconds.
    try:
        if sources:
            completion = engine.complete(messages, max_tokens, body.temperature)
            answer, finish, usage = completion.content, completion.finish_reason, completion
        else:  # nothing the caller may read matches: say so rather than let the model improvise
            answer, finish, usage = NO_SOURCES, "stop", None
    except (EngineUnavailable, EngineError, ContextTooLong) as exc:
        status, outcome = _failure(exc)
        with parts.connect() as conn:
            audit.refuse(conn, status, str(exc), outcome, **where)
    except Exception:
        audit.record_failure(parts.connect, where)  # the retrieval happened: it is on record whatever failed
        raise
    content = answer + sources_footer(sources)
    with parts.connect() as conn, conn.transaction():
        seq = audit.record(conn, Outcome.OK, answer_ref=parts.sealer.seal(content, "answer"), **where)
    response.headers["X-Audit-Seq"] = str(seq)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": engine.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": usage.prompt_tokens if usage else 0,
            "completion_tokens": usage.completion_tokens if usage else 0,
            "total_tokens": (usage.prompt_tokens + usage.completion_tokens) if usage else 0,
        },
        "citations": [c.model_dump() for c in _citations(sources, answer)],
    }


def _failure(exc: Exception) -> tuple[int, Outcome]:
    """The HTTP status and the audit outcome of an engine failure."""
    if isinstance(exc, ContextTooLong):
        return 413, Outcome.REFUSED
    return (503, Outcome.ENGINE_UNAVAILABLE) if isinstance(exc, EngineUnavailable) else (502, Outcome.ENGINE_ERROR)


_END = object()


async def closing_stream(events: Generator[str, None, None]) -> AsyncIterator[str]:
    """The events of a synchronous generator, each produced in a worker thread. However the response ends (the
    answer done, or the client gone and this task cancelled) the generator is closed at once, in a worker thread
    and shielded from the cancellation: the engine's response is closed and the end-of-stream audit event is
    written now, not whenever the garbage collector finalizes the generator (possibly inside the HTTP client's
    pool lock, which deadlocked every later request)."""
    try:
        while True:
            event = await run_in_threadpool(next, events, _END)
            if event is _END:
                return
            yield event  # type: ignore[misc]
    finally:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(events.close)


class ClosingStreamingResponse(StreamingResponse):
    """A StreamingResponse that closes its body iterator however the response ends. When the client hangs up,
    the server's send raises (ASGI 2.4) and Starlette leaves the iterator suspended: only the garbage collector
    would finalize it, late or never if a traceback holds it in a reference cycle."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await close()


def _chunk(cid: str, model: str, delta: dict[str, str], finish: str | None = None, **extra: Any) -> str:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(body)}\n\n"


def _stream(
    parts: Parts,
    audit: Audit,
    engine: ChatEngine,
    messages: list[Message],
    sources: list[Hit],
    where: Touched,
    max_tokens: int,
    temperature: float,
) -> Generator[str, None, None]:
    """Server-sent events as OpenAI sends them; a last chunk carries the sources and the structured citations.
    When it ends (finished, failed, or the client went away) a second audit event records what was given."""
    cid, answer, outcome = f"chatcmpl-{uuid.uuid4().hex}", "", Outcome.CLIENT_GONE
    try:
        yield _chunk(cid, engine.model, {"role": "assistant"})
        pieces = engine.stream(messages, max_tokens, temperature) if sources else iter([NO_SOURCES])
        try:
            for piece in pieces:
                answer += piece
                yield _chunk(cid, engine.model, {"content": piece})
        finally:  # closed with this generator: the engine's response is closed now, in this thread
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
        footer = sources_footer(sources)
        citations = [c.model_dump() for c in _citations(sources, answer)]
        answer += footer
        yield _chunk(cid, engine.model, {"content": footer}, "stop", citations=citations)
        yield "data: [DONE]\n\n"
        outcome = Outcome.OK
    except (EngineUnavailable, EngineError, ContextTooLong) as exc:
        outcome = _failure(exc)[1]
        kind = "context-too-long" if isinstance(exc, ContextTooLong) else outcome
        yield f"data: {json.dumps({'error': {'message': str(exc), 'type': kind}})}\n\n"
    except Exception:
        outcome = Outcome.ERROR  # not CLIENT_GONE: the end event says what happened
        raise
    finally:
        with parts.connect() as conn, conn.transaction():
            audit.record(conn, outcome, answer_ref=parts.sealer.seal(answer, "answer"), action="chat-end", **where)
