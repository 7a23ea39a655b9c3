"""HTTP handlers for copying and moving files, and forking a session."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.context import (
    actor_of,
    caller,
    json_body,
    json_response,
    other_session_keys,
    owner_of,
    reach,
    reachable_session_id,
    services,
    session_keys,
)
from gateway.api.models import CopyReport, ForkInput, MoveReport, Session, TransferInput
from gateway.auth.tokens import READ, WRITE
from gateway.services.grants import READ_ACCESS, WRITE_ACCESS


async def copy_files(request: Request) -> Response:
    return await _transfer(request, move=False)


async def move_files(request: Request) -> Response:
    return await _transfer(request, move=True)


async def _transfer(request: Request, *, move: bool) -> Response:
    principal = await caller(request, WRITE)
    principal.require(READ)  # the sources are read, too
    body = await json_body(request, TransferInput)
    session_id = reachable_session_id(request, principal)
    elsewhere = body.to_session is not None and body.to_session != session_id
    # Another session as the target is always one of the caller's own; the source may be a granted one. A copy out
    # of it only reads it; a move, or a copy inside it, writes it too.
    target = other_session_keys(request, principal, body.to_session) if body.to_session and elsewhere else None
    need = READ_ACCESS if elsewhere and not move else WRITE_ACCESS
    moving = services(request).moving
    report = await reach(
        request,
        principal,
        need,
        lambda keys: moving.transfer(
            actor_of(principal), keys, body.source, target or keys, body.to, overwrite=body.overwrite, move=move
        ),
    )
    return json_response(MoveReport.of(report) if move else CopyReport.of(report))


async def fork_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    principal.require(READ)
    keys = session_keys(request, principal)  # 404 first: a session it cannot reach is one that does not exist
    principal.require_unrestricted()  # a fork is a new session, which a session-bound token cannot make
    body = await json_body(request, ForkInput)
    found, owner = services(request), owner_of(request, principal)
    record = await found.forking.fork(actor_of(principal), owner, keys, name=body.name, at=body.at)
    return json_response(
        Session.of(await found.sessions.detailed(owner, record)),
        status=201,
        headers={"Location": f"/v1/sessions/{record.id}"},
    )
