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
from gateway.auth.tokens import READ, WRITE
from gateway.errors import DamagedRecord, NotFound
from gateway.services.sessions import KEEP, SessionListing
from gateway.wire import page_limit


async def create_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    principal.require_unrestricted()
    body = await json_body(request, SessionCreate)
    record = await services(request).sessions.create(
        owner_of(request, principal), name=body.name, metadata=body.metadata, default_tier=body.default_tier
    )
    return json_response(Session.of(record), status=201, headers={"Location": f"/v1/sessions/{record.id}"})


async def list_sessions(request: Request) -> Response:
    principal = await caller(request, READ)
    limit = page_limit(request.query_params.get("limit"))
    sessions = services(request).sessions
    owner = owner_of(request, principal)
    if principal.session_id is not None:
        # A session-bound token sees at most its own session.
        try:
            listing = SessionListing([await sessions.get(owner, principal.session_id)], None)
        except (NotFound, DamagedRecord):  # a damaged record is logged by the service; listings never fail on one
            listing = SessionListing([], None)
        return json_response(SessionPage.of(listing))
    listing = await sessions.list(owner, limit=limit, cursor=request.query_params.get("cursor") or None)
    return json_response(SessionPage.of(listing))


async def get_session(request: Request) -> Response:
    principal = await caller(request, READ)
    sid = reachable_session_id(request, principal)
    record = await services(request).sessions.get(owner_of(request, principal), sid)
    return json_response(Session.of(record))


async def update_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    sid = reachable_session_id(request, principal)
    body = await json_body(request, SessionUpdate)
    sent = body.model_fields_set
    record = await services(request).sessions.update(
        owner_of(request, principal),
        sid,
        name=body.name if "name" in sent else KEEP,
        metadata_patch=body.metadata,
        default_tier=body.default_tier if "default_tier" in sent else KEEP,
    )
    return json_response(Session.of(record))


async def end_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    sid = reachable_session_id(request, principal)
    record = await services(request).sessions.end(owner_of(request, principal), sid)
    return json_response(Session.of(record))


async def archive_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    sid = reachable_session_id(request, principal)
    record = await services(request).sessions.archive(owner_of(request, principal), sid)
    return json_response(Session.of(record))


async def reactivate_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    sid = reachable_session_id(request, principal)
    record = await services(request).sessions.reactivate(owner_of(request, principal), sid)
    return json_response(Session.of(record))


async def delete_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    sid = reachable_session_id(request, principal)
    purge = query_flag(request, "purge")
    found, owner = services(request), owner_of(request, principal)
    keys = owner.session(sid)
    # What the session opened to others closes with it, first: a purge would leave their index entries behind.
    await found.grants.revoke_all(owner, keys)
    await found.shares.revoke_all(owner, keys)
    async with found.quotas.removing_session(owner, sid):  # its room goes back to its user and tenant at once
        await found.sessions.delete(owner, sid, purge=purge)
    return Response(status_code=204)
