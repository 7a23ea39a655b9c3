"""HTTP handlers for `/v1/sessions`: parse a model, call the sessions service, render a model."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.context import (
    caller,
    json_body,
    json_response,
    owner_of,
    query_flag,
    reachable_session_id,
    services,
)
from gateway.api.models import Session, SessionCreate, SessionPage, SessionUpdate
from gateway.api.session_query import session_query
from gateway.auth.tokens import READ, WRITE, Principal
from gateway.index.query import SessionQuery
from gateway.index.summaries import Activity, folded
from gateway.services.session_records import SessionRecord
from gateway.services.sessions import KEEP, SessionDetail, SessionListing
from gateway.wire import page_limit

# A session just created has no files and no activity but its creation.
EMPTY = Activity(last_activity_at=None, file_count=0, bytes=0, counted_at="1970-01-01T00:00:00.000000Z")


async def create_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    principal.require_unrestricted()
    body = await json_body(request, SessionCreate)
    sessions, owner = services(request).sessions, owner_of(request, principal)
    record = await sessions.create(
        owner,
        name=body.name,
        metadata=body.metadata,
        default_tier=body.default_tier,
        tags=body.tags,
        external_ids=body.external_ids,
    )
    return created_session(record)


def created_session(record: SessionRecord) -> Response:
    """The answer to a new session: 201, with no files and no activity but its creation."""
    detail = SessionDetail(record, EMPTY)
    return json_response(Session.of(detail), status=201, headers={"Location": f"/v1/sessions/{record.id}"})


async def list_sessions(request: Request) -> Response:
    principal = await caller(request, READ)
    limit = page_limit(request.query_params.get("limit"))
    query = session_query(request.query_params)
    cursor = request.query_params.get("cursor") or None
    return json_response(SessionPage.of(await search_sessions(request, principal, query, limit, cursor)))


async def search_sessions(
    request: Request, principal: Principal, query: SessionQuery, limit: int, cursor: str | None
) -> SessionListing:
    """A page of the caller's sessions the query takes (`GET /v1/sessions`, and the agents' search tool)."""
    sessions = services(request).sessions
    owner = owner_of(request, principal)
    if principal.session_id is not None:
        # A session-bound token sees at most its own session (when the filters take it).
        own = await sessions.summary(owner.session(principal.session_id))
        return SessionListing([own] if own is not None and query.matches(own, folded(own.name or "")) else [], None)
    return await sessions.list(owner, query=query, limit=limit, cursor=cursor)


async def get_session(request: Request) -> Response:
    principal = await caller(request, READ)
    sid = reachable_session_id(request, principal)
    detail = await services(request).sessions.detail(owner_of(request, principal), sid)
    return json_response(Session.of(detail))


async def update_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    sid = reachable_session_id(request, principal)
    body = await json_body(request, SessionUpdate)
    sent = body.model_fields_set
    sessions, owner = services(request).sessions, owner_of(request, principal)
    record = await sessions.update(
        owner,
        sid,
        name=body.name if "name" in sent else KEEP,
        metadata_patch=body.metadata,
        default_tier=body.default_tier if "default_tier" in sent else KEEP,
        tags=body.tags if body.tags is not None else KEEP,
        external_ids=body.external_ids if body.external_ids is not None else KEEP,
    )
    return json_response(Session.of(await sessions.detailed(owner, record)))


async def end_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    sid = reachable_session_id(request, principal)
    sessions, owner = services(request).sessions, owner_of(request, principal)
    record = await sessions.end(owner, sid)
    return json_response(Session.of(await sessions.detailed(owner, record)))


async def archive_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    sid = reachable_session_id(request, principal)
    sessions, owner = services(request).sessions, owner_of(request, principal)
    record = await sessions.archive(owner, sid)
    return json_response(Session.of(await sessions.detailed(owner, record)))


async def reactivate_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    sid = reachable_session_id(request, principal)
    sessions, owner = services(request).sessions, owner_of(request, principal)
    record = await sessions.reactivate(owner, sid)
    return json_response(Session.of(await sessions.detailed(owner, record)))


async def delete_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    sid = reachable_session_id(request, principal)
    purge = query_flag(request, "purge")
    found, owner = services(request), owner_of(request, principal)
    # What the session opened to others closes with it, first (`Sessions.openings`).
    async with found.quotas.removing_session(owner, sid):  # its room goes back to its user and tenant at once
        await found.sessions.delete(owner, sid, purge=purge)
    return Response(status_code=204)
