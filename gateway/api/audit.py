"""HTTP handlers of `GET /v1/sessions/{sid}/audit` (a session's audit, for its owner) and `GET /v1/events`."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.audit_models import AuditPage, ChangeRecord, EventPage
from gateway.api.context import caller, json_response, open_session, owner_of, services
from gateway.auth.tokens import READ
from gateway.errors import InvalidParameter
from gateway.wire import moment, page_limit


def _time(request: Request, name: str) -> datetime | None:
    values = request.query_params.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidParameter(name, "give it once")
    try:
        return moment(values[0])
    except ValueError as exc:
        raise InvalidParameter(name, str(exc)) from None


async def session_audit(request: Request) -> Response:
    principal = await caller(request, READ)
    since, until = _time(request, "since"), _time(request, "until")
    if since is not None and until is not None and since > until:
        raise InvalidParameter("until", "must not be before `since`")
    limit = page_limit(request.query_params.get("limit"))
    cursor = request.query_params.get("cursor") or None
    # The caller's own session, reachable with this token, and existing: else 404, as for any other.
    opened = await open_session(request, principal)
    space = owner_of(request, principal).space
    page = await services(request).recorders.sessions.page(
        space, opened.keys.session_id, since=since, until=until, limit=limit, cursor=cursor
    )
    return json_response(
        AuditPage(records=[ChangeRecord.of(record) for record in page.records], next_cursor=page.next_cursor)
    )


async def events(request: Request) -> Response:
    principal = await caller(request, READ)
    since = _time(request, "since")
    limit = page_limit(request.query_params.get("limit"))
    cursor = request.query_params.get("cursor") or None
    page = await services(request).recorders.events.page(
        owner_of(request, principal).space,
        session_id=principal.session_id,
        since=since,
        limit=limit,
        cursor=cursor,
    )
    return json_response(EventPage.of(page))
