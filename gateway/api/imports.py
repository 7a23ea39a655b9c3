"""HTTP handler for importing a zip archive into a session (`gateway.imports.archive` does the work)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.context import (
    actor_of,
    caller,
    declared_length,
    json_response,
    open_session,
    query_flag,
    services,
    session_keys,
)
from gateway.api.models import ImportReport
from gateway.auth.tokens import WRITE
from gateway.errors import UnsupportedMediaType
from gateway.imports.names import folder_of
from gateway.imports.spool import spooled
from gateway.services.downloads import media_type
from gateway.services.files import require_active

ZIP_MEDIA_TYPES = frozenset({"application/zip", "application/x-zip-compressed"})


async def import_archive(request: Request) -> Response:
    """201 when at least one file was written; 200 when nothing was (every entry refused, skipped or unchanged)."""
    principal = await caller(request, WRITE)
    keys = session_keys(request, principal)
    if media_type(request.headers.get("content-type", "")) not in ZIP_MEDIA_TYPES:
        raise UnsupportedMediaType("send the archive as application/zip")
    # Everything that can be refused without the body is refused before it is read.
    folder = folder_of(keys, request.query_params.get("prefix", ""))
    if_content_differs = query_flag(request, "if_content_differs")
    session = await open_session(request, principal)
    require_active(session.record)
    found = services(request)
    chunks = request.stream()
    async with spooled(
        chunks, limit=found.settings.max_upload_bytes, declared_length=declared_length(request)
    ) as archive:
        report = await found.imports.run(
            actor_of(principal), session, archive, folder=folder, if_content_differs=if_content_differs
        )
    return json_response(ImportReport.of(report), status=201 if report.imported else 200)
