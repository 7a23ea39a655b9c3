"""The one error handler: every failure leaves the gateway as an RFC 9457 problem document."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.denials import record_denial
from gateway.errors import GatewayError, NotModified

log = logging.getLogger(__name__)
PROBLEM_MEDIA_TYPE = "application/problem+json"
# Problem types are relative URI references (RFC 9457 §3.1.1), documented in docs/errors.md.
TYPE_BASE = "/problems/"


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = problem_body(status, slug, title, detail, instance=instance, extra=extra)
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


def problem_body(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The members of a problem document (also what an agent tool's error carries)."""
    body: dict[str, Any] = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra or {})
    return body


async def gateway_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, NotModified):
        headers = {"ETag": exc.etag}
        if exc.last_modified:
            headers["Last-Modified"] = exc.last_modified
        return Response(status_code=304, headers=headers)
    assert isinstance(exc, GatewayError)
    record_denial(request, exc)
    if exc.status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.detail, exc_info=exc.__cause__)
    return problem(
        exc.status,
        exc.slug,
        exc.title,
        exc.detail,
        instance=request.url.path,
        extra=exc.extra,
        headers=exc.headers,
    )


_HTTP_SLUGS = {404: ("not-found", "Not found"), 405: ("method-not-allowed", "Method not allowed")}


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    slug, title = _HTTP_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
    detail = {404: "no such route", 405: f"{request.method} is not allowed here"}.get(exc.status_code, str(exc.detail))
    return problem(exc.status_code, slug, title, detail, instance=request.url.path, headers=exc.headers)


# Whatever else escapes a handler is answered by `gateway.api.guard`, which keeps the connection open.
HANDLERS = {
    GatewayError: gateway_error,
    NotModified: gateway_error,
    HTTPException: http_error,
}
