"""The outermost layer of the app: refuses ambiguous framing, and turns what escaped every handler into a problem.

- A request with both `Content-Length` and `Transfer-Encoding` is refused with 400 before it reaches a route: the
  two can frame the body differently (request smuggling), and RFC 9112 lets a server refuse it.
- A client that hangs up while its body is read is logged as such, not as an error of the gateway.
- Anything else that escaped is logged with its traceback and answered as a 500 problem with `instance`, as a
  response of the app rather than an error raised to the server, so the connection stays open for the next request.
"""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.problems import problem

log = logging.getLogger(__name__)


class Guard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        names = {name.lower() for name, _value in scope.get("headers", [])}
        if b"content-length" in names and b"transfer-encoding" in names:
            response = problem(
                400,
                "bad-request",
                "Bad request",
                "a request may not carry both Content-Length and Transfer-Encoding",
                instance=path,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        started = False

        async def watching(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watching)
        except ClientDisconnect:
            log.info("%s %s: the client disconnected before its request was read", scope.get("method"), path)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), path)
            if not started:
                detail = "the gateway failed unexpectedly; see its logs"
                await problem(500, "internal-error", "Internal error", detail, instance=path)(scope, receive, send)
