"""Handlers for grants: the owner opens a session to another user; the grantee sees what was opened to them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.context import caller, json_body, json_response, open_session, owner_of, services
from gateway.api.models import Grant, GrantInput, GrantPage
from gateway.auth.tokens import READ, WRITE


async def create_grant(request: Request) -> Response:
    principal = await caller(request, WRITE)
    principal.require_unrestricted()  # a token bound to one session acts inside it; it does not hand it out
    opened = await open_session(request, principal)  # only the owner: a grantee's attempt is a 404
    body = await json_body(request, GrantInput)
    grant = await services(request).grants.create(
        owner_of(request, principal),
        opened.keys,
        user=body.user,
        access=body.access,
        prefix=body.prefix,
        expires_at=body.expires_at,
    )
    return json_response(Grant.of(grant), status=201)


async def list_grants(request: Request) -> Response:
    principal = await caller(request, READ)
    opened = await open_session(request, principal)
    grants = await services(request).grants.of_session(opened.keys)
    return json_response(GrantPage(items=[Grant.of(grant) for grant in grants]))


async def revoke_grant(request: Request) -> Response:
    principal = await caller(request, WRITE)
    principal.require_unrestricted()
    opened = await open_session(request, principal)
    grant_id = str(request.path_params["grant_id"])
    await services(request).grants.revoke(owner_of(request, principal), opened.keys, grant_id)
    return Response(status_code=204)


async def shared_with_me(request: Request) -> Response:
    principal = await caller(request, READ)
    principal.require_unrestricted()
    grants = await services(request).grants.shared_with(owner_of(request, principal))
    return json_response(GrantPage(items=[Grant.of(grant) for grant in grants]))
