"""One id per request: taken from the caller's `X-Request-Id` when it is a safe token, made here otherwise.

The id is returned as `X-Request-Id` on every answer, carried in a context variable for the whole request (so log
lines, audit records and change announcements name it without being handed it), and is what an operator greps for.
A caller's id is kept only when it is short and made of letters, digits and `-._:`: it ends up in headers, logs and
audit records, where anything else could be used to forge lines.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-Id"
_SAFE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served, or None outside a request (the janitor, a CLI command)."""
    return _current.get()


def request_id_from(value: str | None) -> str:
    """The caller's id when it is safe to repeat, a new one otherwise."""
    if value is not None and _SAFE.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIds:
    """ASGI middleware: sets the id for the request and adds it to the response's headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope.get("headers", []):
            if name.lower() == b"x-request-id":
                given = value.decode("latin-1")
                break
        request_id = request_id_from(given)
        scope.setdefault("state", {})["request_id"] = request_id
        token = _current.set(request_id)

        async def with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, with_id)
        finally:
            _current.reset(token)
