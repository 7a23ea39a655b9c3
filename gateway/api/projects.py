"""HTTP handlers for `/v1/projects`: parse a model, call the projects service, render a model.

Projects are their owner's alone: another user's project answers exactly like one that does not exist (its key
lies under the caller's own prefix, where there is none), and a token bound to one session reaches none (403).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.context import caller, json_body, json_response, owner_of, services
from gateway.api.models import SessionCreate, SessionPage
from gateway.api.project_models import ExtendInput, Project, ProjectCreate, ProjectPage, ProjectUpdate
from gateway.api.session_query import session_query
from gateway.api.sessions import created_session
from gateway.auth.tokens import READ, WRITE, Principal
from gateway.errors import InvalidParameter
from gateway.keys import Owner
from gateway.projects.service import ProjectView
from gateway.services.sessions import KEEP
from gateway.wire import page_limit


async def _owner(request: Request, scope: str) -> tuple[Principal, Owner]:
    principal = await caller(request, scope)
    principal.require_unrestricted()
    return principal, owner_of(request, principal)


def _pid(request: Request) -> str:
    return str(request.path_params["pid"])


def _project(view: ProjectView, status: int = 200) -> Response:
    headers = {"Location": f"/v1/projects/{view.record.id}"} if status == 201 else None
    return json_response(Project.of(view), status=status, headers=headers)


async def create_project(request: Request) -> Response:
    _, owner = await _owner(request, WRITE)
    body = await json_body(request, ProjectCreate)
    sent = body.model_fields_set
    view = await services(request).projects.create(
        owner,
        prefix=body.prefix,
        name=body.name,
        metadata=body.metadata,
        cleanup_after_days=body.cleanup_after_days if "cleanup_after_days" in sent else KEEP,
        warning_days=body.warning_days if body.warning_days is not None else KEEP,
    )
    return _project(view, 201)


async def list_projects(request: Request) -> Response:
    _, owner = await _owner(request, READ)
    limit = page_limit(request.query_params.get("limit"))
    cursor = request.query_params.get("cursor") or None
    listing = await services(request).projects.page(owner, limit=limit, cursor=cursor)
    return json_response(ProjectPage.of(listing))


async def get_project(request: Request) -> Response:
    _, owner = await _owner(request, READ)
    return _project(await services(request).projects.get(owner, _pid(request)))


async def update_project(request: Request) -> Response:
    _, owner = await _owner(request, WRITE)
    body = await json_body(request, ProjectUpdate)
    sent = body.model_fields_set
    view = await services(request).projects.update(
        owner,
        _pid(request),
        name=body.name if "name" in sent else KEEP,
        metadata_patch=body.metadata,
        cleanup_after_days=body.cleanup_after_days if "cleanup_after_days" in sent else KEEP,
        warning_days=body.warning_days if body.warning_days is not None else KEEP,
    )
    return _project(view)


async def delete_project(request: Request) -> Response:
    _, owner = await _owner(request, WRITE)
    await services(request).projects.delete(owner, _pid(request))
    return Response(status_code=204)


async def pin_project(request: Request) -> Response:
    _, owner = await _owner(request, WRITE)
    return _project(await services(request).projects.pin(owner, _pid(request)))


async def unpin_project(request: Request) -> Response:
    _, owner = await _owner(request, WRITE)
    return _project(await services(request).projects.unpin(owner, _pid(request)))


async def extend_project(request: Request) -> Response:
    _, owner = await _owner(request, WRITE)
    body = await json_body(request, ExtendInput)
    return _project(await services(request).projects.extend(owner, _pid(request), body.days))


async def create_project_session(request: Request) -> Response:
    _, owner = await _owner(request, WRITE)
    body = await json_body(request, SessionCreate)
    record = await services(request).projects.create_session(
        owner,
        _pid(request),
        name=body.name,
        metadata=body.metadata,
        default_tier=body.default_tier,
        tags=body.tags,
        external_ids=body.external_ids,
    )
    return created_session(record)


async def list_project_sessions(request: Request) -> Response:
    _, owner = await _owner(request, READ)
    pid = _pid(request)
    limit = page_limit(request.query_params.get("limit"))
    query = session_query(request.query_params)
    if query.project is not None and query.project != pid:
        raise InvalidParameter("project", "the project is the one in the path; leave this out")
    listing = await services(request).projects.sessions(
        owner, pid, query=query, limit=limit, cursor=request.query_params.get("cursor") or None
    )
    return json_response(SessionPage.of(listing))
