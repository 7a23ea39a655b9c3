"""HTTP handlers for `/v1/sessions`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.context import caller, json_body, owner_of, query_flag, reachable_session_id, services
from gateway.auth.tokens import READ, WRITE
from gateway.errors import NotFound
from gateway.wire import page_limit


async def create_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    principal.require_unrestricted()
    body = await json_body(request)
    record = await services(request).sessions.create(owner_of(request, principal), body)
    location = request.url_for("session", sid=record.id).path
    return JSONResponse(record.to_json(), status_code=201, headers={"Location": location})


async def list_sessions(request: Request) -> Response:
    principal = await caller(request, READ)
    limit = page_limit(request.query_params.get("limit"))
    sessions = services(request).sessions
    owner = owner_of(request, principal)
    if principal.session_id is not None:
        # A session-bound token sees at most its own session.
        try:
            items = [(await sessions.get(owner, principal.session_id)).to_json()]
        except NotFound:
            items = []
        return JSONResponse({"items": items, "next_cursor": None})
    page = await sessions.list(owner, limit=limit, cursor=request.query_params.get("cursor") or None)
    return JSONResponse(page)


async def get_session(request: Request) -> Response:
    principal = await caller(request, READ)
    sid = reachable_session_id(request, principal)
    record = await services(request).sessions.get(owner_of(request, principal), sid)
    return JSONResponse(record.to_json())


async def update_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    sid = reachable_session_id(request, principal)
    body = await json_body(request)
    record = await services(request).sessions.update(owner_of(request, principal), sid, body)
    return JSONResponse(record.to_json())


async def end_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    sid = reachable_session_id(request, principal)
    record = await services(request).sessions.end(owner_of(request, principal), sid)
    return JSONResponse(record.to_json())


async def delete_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    sid = reachable_session_id(request, principal)
    purge = query_flag(request, "purge")
    await services(request).sessions.delete(owner_of(request, principal), sid, purge=purge)
    return Response(status_code=204)
