"""HTTP handler for `GET /v1/usage`: the caller's use of their quotas."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.context import caller, json_response, owner_of, services
from gateway.api.usage_models import ScopeUsage, Usage
from gateway.auth.tokens import READ
from gateway.errors import NotFound


async def get_usage(request: Request) -> Response:
    principal = await caller(request, READ)
    found = services(request)
    owner = owner_of(request, principal)
    asked = request.query_params.get("session")
    if asked == "":
        raise NotFound("no such session")  # as for any id that cannot name a session
    session_id = asked or principal.session_id
    if session_id is not None:
        if not principal.may_reach(session_id):
            raise NotFound("no such session")
        await found.sessions.read(owner.session(session_id))  # the caller's own, and it exists: else 404
    found_usage = await found.quotas.usage(owner, session_id)
    figures = {
        scope: None if used is None else ScopeUsage.of(scope, used, limits) for scope, used, limits in found_usage
    }
    user = figures["user"]
    assert user is not None  # only the tenant's figures go uncounted
    if session_id is None:
        return json_response(Usage(tenant=figures["tenant"], user=user))
    return json_response(Usage(tenant=figures["tenant"], user=user, session_id=session_id, session=figures["session"]))
