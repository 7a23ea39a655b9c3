"""An agent's side of `/mcp`: the SDK's own client (`mcp.client.streamable_http`), with a bearer token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx2
from mcp.client.client import Client
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent

from tests.conftest import Gateway

T = TypeVar("T")


@asynccontextmanager
async def connected(gateway: Gateway, token: str) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        streamable_http_client(f"{gateway.url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def connected_statelessly(gateway: Gateway, token: str) -> AsyncIterator[Client]:
    """The SDK's client on the protocol revision without an initialize handshake (2026-07-28)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(f"{gateway.url}/mcp", http_client=http), mode="2026-07-28") as client,
    ):
        yield client


def as_agent(gateway: Gateway, token: str, scenario: Callable[[ClientSession], Awaitable[T]]) -> T:
    async def run() -> T:
        async with connected(gateway, token) as session:
            return await scenario(session)

    return asyncio.run(run())


def _checked(result: CallToolResult) -> dict[str, Any]:
    structured = result.structured_content
    assert isinstance(structured, dict)
    # The same JSON as text, for agents that read only text.
    [text] = result.content
    assert isinstance(text, TextContent) and json.loads(text.text) == structured
    return structured


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool call that must succeed; its structured result."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.structured_content
    return _checked(result)


async def problem(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool call that must fail as a tool error; the problem it carries."""
    result = await session.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return _checked(result)
