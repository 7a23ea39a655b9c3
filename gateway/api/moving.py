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
    services,
    session_keys,
)
from gateway.api.models import CopyReport, ForkInput, MoveReport, Session, TransferInput
from gateway.auth.tokens import READ, WRITE


async def copy_files(request: Request) -> Response:
    return await _transfer(request, move=False)


async def move_files(request: Request) -> Response:
    return await _transfer(request, move=True)


async def _transfer(request: Request, *, move: bool) -> Response:
    principal = await caller(request, WRITE)
    principal.require(READ)  # the sources are read, too
    keys = session_keys(request, principal)
    body = await json_body(request, TransferInput)
    target = keys
    if body.to_session is not None and body.to_session != keys.session_id:
        target = other_session_keys(request, principal, body.to_session)
    report = await services(request).moving.transfer(
        actor_of(principal), keys, body.source, target, body.to, overwrite=body.overwrite, move=move
    )
    return json_response(MoveReport.of(report) if move else CopyReport.of(report))


async def fork_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    principal.require(READ)
    keys = session_keys(request, principal)  # 404 first: a session it cannot reach is one that does not exist
    principal.require_unrestricted()  # a fork is a new session, which a session-bound token cannot make
    body = await json_body(request, ForkInput)
    record = await services(request).forking.fork(
        actor_of(principal), owner_of(request, principal), keys, name=body.name, at=body.at
    )
    return json_response(Session.of(record), status=201, headers={"Location": f"/v1/sessions/{record.id}"})
