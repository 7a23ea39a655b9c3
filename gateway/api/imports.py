"""HTTP handler for importing a zip archive into a session (`gateway.imports.archive` does the work)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.context import (
    actor_of,
    caller,
    declared_length,
    json_response,
    query_flag,
    reach,
    services,
)
from gateway.api.models import ImportReport
from gateway.auth.tokens import WRITE
from gateway.errors import UnsupportedMediaType
from gateway.imports import archive as import_service
from gateway.imports.names import folder_of
from gateway.imports.spool import spooled
from gateway.keys import SessionKeys
from gateway.services.downloads import media_type
from gateway.services.files import require_active
from gateway.services.grants import WRITE_ACCESS
from gateway.services.sessions import OpenSession

ZIP_MEDIA_TYPES = frozenset({"application/zip", "application/x-zip-compressed"})


async def import_archive(request: Request) -> Response:
    """201 when at least one file was written; 200 when nothing was (every entry refused, skipped or unchanged)."""
    principal = await caller(request, WRITE)
    if media_type(request.headers.get("content-type", "")) not in ZIP_MEDIA_TYPES:
        raise UnsupportedMediaType("send the archive as application/zip")
    if_content_differs = query_flag(request, "if_content_differs")
    found = services(request)

    async def run(keys: SessionKeys) -> import_service.ImportReport:
        # Everything that can be refused without the body is refused before it is read (so a grantee's first,
        # own attempt fails before the body is touched, see `reach`).
        folder = folder_of(keys, request.query_params.get("prefix", ""))
        session = OpenSession(keys, await found.sessions.read(keys))
        require_active(session.record)
        async with spooled(
            request.stream(), limit=found.settings.max_upload_bytes, declared_length=declared_length(request)
        ) as archive:
            return await found.imports.run(
                actor_of(principal), session, archive, folder=folder, if_content_differs=if_content_differs
            )

    report = await reach(request, principal, WRITE_ACCESS, run)
    return json_response(ImportReport.of(report), status=201 if report.imported else 200)
