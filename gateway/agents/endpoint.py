"""`POST /mcp`: the SDK's Streamable HTTP transport, stateless, behind the gateway's own bearer authentication.

Stateless with JSON answers: no MCP session lives in a process (no `Mcp-Session-Id`, no event stream), so any
replica answers any request behind a load balancer, as for every route. The token is verified before the transport
sees the request, by the same `TokenVerifier` as the HTTP API: a missing or bad one is the same 401 problem.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from gateway.agents.arguments import MAX_WRITE_BYTES
from gateway.agents.server import PRINCIPAL, agent_server
from gateway.api.context import authenticate

PATH = "/mcp"
# One JSON-RPC message: room for the largest write in base64 (4/3 of it) with JSON around it.
MAX_MESSAGE_BYTES = 2 * MAX_WRITE_BYTES


class AgentEndpoint:
    """The ASGI app at `/mcp`; one per app, run for the app's lifetime (`running`)."""

    def __init__(self) -> None:
        self._manager = StreamableHTTPSessionManager(
            agent_server(), json_response=True, stateless=True, max_request_body_size=MAX_MESSAGE_BYTES
        )
        # POST only: without MCP sessions there is no event stream to GET and no session to DELETE (405, a problem).
        self.route = Route(PATH, self, methods=["POST"], name="mcp")

    def running(self) -> AbstractAsyncContextManager[None]:
        """The transport's task group, entered once in the app's lifespan."""
        return self._manager.run()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        # A refusal (401, or 429 over the token's rate limit) raises here and is rendered by the app's one error
        # handler, as for every route.
        scope[PRINCIPAL] = await authenticate(request)
        await self._manager.handle_request(scope, receive, send)
