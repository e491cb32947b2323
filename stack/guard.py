"""Authentication first, then the body within its cap: a pure ASGI layer in front of every route but the health
checks. An anonymous or malformed credential is a 401 before a byte of the body is read; a body is counted as
it arrives (a chunked one has no Content-Length to check up front) and refused with 413 at the cap. The routes
find the caller in the request's state (stack.gateway.Caller)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from stack.auth import Principal, Unauthenticated

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
DOCUMENT_UPLOAD = "/documents"
PRINCIPAL = "principal"  # the key in the request's state


class Guard:
    def __init__(self, app: App, authenticate: Callable[[str | None], Principal], caps: tuple[int, int]) -> None:
        self.app, self.authenticate = app, authenticate
        self.json_cap, self.document_cap = caps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:  # an API key is looked up in the database: off the event loop
            principal = await run_in_threadpool(self.authenticate, headers.get("authorization"))
        except Unauthenticated as exc:
            refused = JSONResponse({"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
            await refused(scope, receive, send)
            return
        scope.setdefault("state", {})[PRINCIPAL] = principal
        upload = scope["method"] == "POST" and scope["path"].endswith(DOCUMENT_UPLOAD)
        cap = self.document_cap if upload else self.json_cap
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > cap):
            await JSONResponse({"detail": f"Request body over {cap} bytes."}, status_code=413)(scope, receive, send)
            return
        await self.app(scope, _counted(receive, cap), send)


def _counted(receive: Receive, cap: int) -> Receive:
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > cap:  # FastAPI passes an HTTPException from a body read through as the response
                raise HTTPException(413, f"Request body over {cap} bytes.")
        return message

    return counted
