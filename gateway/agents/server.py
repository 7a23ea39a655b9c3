"""The MCP server: `tools/list` describes `TOOLS`, `tools/call` runs one for the caller the endpoint authenticated.

Built on the SDK's low-level `Server`, so that the gateway, not a framework, decides how arguments are validated
(strict models, refusals naming the argument) and how failures look (the route's problem document).
"""

from __future__ import annotations

import logging
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolRequestParams, CallToolResult, ListToolsResult, PaginatedRequestParams
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from gateway.agents.results import failed, succeeded
from gateway.agents.tools import BY_NAME, TOOLS
from gateway.api.context import body_refusal, services
from gateway.api.denials import record_denial
from gateway.auth.tokens import Principal
from gateway.errors import GatewayError

log = logging.getLogger(__name__)
# Where the endpoint leaves the verified caller in the request's ASGI scope.
PRINCIPAL = "gateway.principal"
INSTRUCTIONS = (
    "Files of your sessions, kept with every version. Find a session with search_sessions, then list, read, write, "
    "delete, roll back and share its files. A failed call returns a problem document (type, title, status, detail, "
    "field) to correct the call by."
)


def _request(ctx: ServerRequestContext[Any]) -> Request:
    request = ctx.request
    if not isinstance(request, Request):
        raise TypeError("the gateway serves MCP over HTTP only")
    return request


def _caller(request: Request) -> Principal:
    principal = request.scope.get(PRINCIPAL)
    if not isinstance(principal, Principal):
        raise TypeError("an MCP request reached the server without passing the endpoint's authentication")
    return principal


async def _list_tools(ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None) -> ListToolsResult:
    names = services(_request(ctx)).policy.names
    return ListToolsResult(tools=[tool.described(names) for tool in TOOLS])


async def _call_tool(ctx: ServerRequestContext[Any], params: CallToolRequestParams) -> CallToolResult:
    tool = BY_NAME.get(params.name)
    if tool is None:
        # Not a failure of a tool but of the call itself: a protocol error, as MCP has it.
        raise MCPError(INVALID_PARAMS, f"no tool is named {params.name!r}; tools/list names them")
    request = _request(ctx)
    principal = _caller(request)
    arguments: BaseModel | None = None
    try:
        principal.require(tool.scope)
        try:
            arguments = tool.arguments.model_validate(params.arguments or {})
        except ValidationError as exc:
            raise body_refusal(tool.arguments, exc) from None
        return succeeded(await tool.run(request, principal, arguments))
    except GatewayError as exc:
        # A refused tool call is a denied access like a refused route: the same audit record.
        record_denial(request, exc, operation=f"mcp {tool.name}", session=getattr(arguments, "session_id", None))
        if exc.status >= 500:
            log.error("tool %s failed: %s", tool.name, exc.detail, exc_info=exc.__cause__)
        return failed(exc, arguments)
    except Exception:
        # As the HTTP API's guard does: the caller learns that the gateway failed, the log says how.
        log.exception("tool %s failed unexpectedly", tool.name)
        return failed(GatewayError("the gateway failed unexpectedly; see its logs"), arguments)


def agent_server() -> Server[Any]:
    server: Server[Any] = Server(
        "session-gateway",
        title="Session Gateway",
        instructions=INSTRUCTIONS,
        on_list_tools=_list_tools,
        on_call_tool=_call_tool,
    )
    # No OpenTelemetry spans per message: the gateway's requests are observed at the HTTP layer, as every route's.
    server.middleware = []
    return server
