"""Denied requests (401, 403, 404 problems) handed to the audit log, as the one error handler answers them."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.requests import Request

from gateway.audit.denials import Denial
from gateway.errors import GatewayError
from gateway.keys import owner_label
from gateway.telemetry.request_ids import current_request_id

if TYPE_CHECKING:
    from gateway.api.context import Services

log = logging.getLogger(__name__)
DENIED = frozenset({401, 403, 404})


def record_denial(
    request: Request, exc: GatewayError, *, operation: str | None = None, session: str | None = None
) -> None:
    """Hand a denial to the audit log; never fails the answer (a record lost is logged, the client still learns).
    `operation` and `session` name what was refused where the route does not (an MCP tool call)."""
    if exc.status not in DENIED:
        return
    found: Services | None = getattr(request.app.state, "services", None)
    if found is None:
        return
    try:
        found.recorders.log.denied(_denial(request, exc, found, operation, session))
    except Exception:
        log.exception("the denial of %s %s could not be recorded", request.method, request.url.path)


def _denial(request: Request, exc: GatewayError, found: Services, operation: str | None, session: str | None) -> Denial:
    principal = getattr(request.state, "principal", None)
    route = request.scope.get("route")
    template = str(getattr(route, "path", None) or request.url.path).replace(":filepath}", "}")
    owner = None
    if principal is not None:
        owner = owner_label(found.settings.key_root, principal.owner(found.settings.key_root, found.owner_key).space)
    session = session or request.path_params.get("sid")
    return Denial(
        status=exc.status,
        problem=exc.slug,
        operation=operation or f"{request.method} {template}",
        target=request.url.path,
        principal=principal.user if principal is not None else None,
        tenant=principal.tenant if principal is not None else None,
        owner=owner,
        session=str(session) if session is not None else None,
        client=request.client.host if request.client is not None else None,
        request_id=current_request_id(),
    )
