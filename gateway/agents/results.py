"""What a tool call answers: its result as JSON (structured, and as text for agents that read only text), or the
problem document of the route it stands for, flagged as a tool error (`isError`), so an agent can read and correct.
"""

from __future__ import annotations

import json
from typing import Any

from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

from gateway.api.problems import problem_body
from gateway.errors import GatewayError, InvalidBody, InvalidParameter, InvalidPath


def as_json(model: BaseModel) -> dict[str, Any]:
    """A response model as the HTTP API sends it: optional members never set stay absent."""
    return model.model_dump(mode="json", exclude_unset=True)


def succeeded(value: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[_text(value)], structured_content=value)


def failed(exc: GatewayError, arguments: BaseModel | None) -> CallToolResult:
    """The problem as the HTTP API renders it, with `field`: the argument at fault, where one is."""
    problem = problem_body(exc.status, exc.slug, exc.title, exc.detail, extra=exc.extra)
    field = _field(exc, arguments)
    if field:
        problem["field"] = field
    return CallToolResult(content=[_text(problem)], structured_content=problem, is_error=True)


def _field(exc: GatewayError, arguments: BaseModel | None) -> str | None:
    if isinstance(exc, InvalidBody):
        return exc.errors[0].field if exc.errors else None
    if isinstance(exc, InvalidParameter):
        return exc.parameter  # the search arguments are named as the listing's query parameters
    if isinstance(exc, InvalidPath) and arguments is not None:
        # The path rules judge the one path a tool names: a file's `path`, else a folder's `prefix`.
        return next((name for name in ("path", "prefix") if getattr(arguments, name, None) is not None), None)
    return None


def _text(value: dict[str, Any]) -> TextContent:
    return TextContent(type="text", text=json.dumps(value, ensure_ascii=False))
