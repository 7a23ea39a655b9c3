"""HTTP handlers for exports: the streamed zip, and exports built into the bucket."""

from __future__ import annotations

from urllib.parse import quote

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.api.context import (
    caller,
    json_body,
    json_response,
    open_session,
    query_flag,
    reach,
    services,
    session_keys,
)
from gateway.api.models import ExportRequest, ExportStatus
from gateway.auth.tokens import READ
from gateway.errors import InvalidBody, InvalidParameter
from gateway.keys import SessionKeys
from gateway.services.downloads import content_disposition
from gateway.services.export_jobs import ZIP_TYPE
from gateway.services.exports import ExportInput, ExportView, ZipDownload
from gateway.services.grants import READ_ACCESS
from gateway.services.sessions import OpenSession
from gateway.services.snapshot import MAX_SELECTED_PATHS, Selection

ZIP_HEADERS = {
    "Content-Type": ZIP_TYPE,
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    # Built for this request from the files as they are: never reuse it.
    "Cache-Control": "private, no-store",
}


async def export_zip(request: Request) -> Response:
    principal = await caller(request, READ)
    exports, sessions = services(request).exports, services(request).sessions
    query = request.query_params
    paths = query.getlist("path")
    if len(paths) > MAX_SELECTED_PATHS:
        raise InvalidParameter("path", f"name at most {MAX_SELECTED_PATHS} files or folders")
    try:
        at = exports.moment(query.get("at"))
    except ValueError as exc:
        raise InvalidParameter("at", str(exc)) from None
    snapshot = query.get("snapshot") or None  # empty: none, as the document says
    if snapshot is not None and at is not None:
        raise InvalidParameter("snapshot", "a snapshot is one moment already; leave `at` out")
    asked = ExportInput(
        Selection(query.get("prefix", ""), tuple(paths)), at, query_flag(request, "redact"), snapshot=snapshot
    )
    if snapshot is not None:
        # Snapshots are the owner's: only the owner's own keys name them.
        keys = session_keys(request, principal)
        download = await exports.download(OpenSession(keys, await sessions.read(keys)), asked)
        return await _zip_response(request, download)

    async def download_from(keys: SessionKeys) -> ZipDownload:
        # A grantee's zip holds what the grant opens (the keys are narrowed to it), and nothing else is named.
        return await exports.download(OpenSession(keys, await sessions.read(keys)), asked)

    download = await reach(request, principal, READ_ACCESS, download_from)
    return await _zip_response(request, download)


async def _zip_response(request: Request, download: ZipDownload) -> Response:
    headers = {**ZIP_HEADERS, "Content-Disposition": content_disposition(download.filename, inline=False)}
    if request.method == "HEAD":
        await download.close()
        return Response(status_code=200, headers=headers)
    # No Content-Length: the zip's size is known only once it is written. A failure after the first byte ends the
    # response without its last chunk, so the client sees an incomplete transfer, never a short but valid zip.
    return StreamingResponse(download.chunks, headers=headers)


async def start_export(request: Request) -> Response:
    principal = await caller(request, READ)
    opened = await open_session(request, principal)
    body = await json_body(request, ExportRequest)
    exports = services(request).exports
    try:
        at = exports.moment(body.at)
    except ValueError as exc:
        raise InvalidBody.field("at", str(exc)) from None
    asked = ExportInput(Selection(body.prefix, tuple(body.paths)), at, body.redact)
    record, etag = await exports.start(opened, asked)
    location = f"/v1/sessions/{quote(opened.keys.session_id)}/exports/{record.id}"
    return json_response(
        ExportStatus.of(ExportView(record)),
        status=202,
        headers={"Location": location},
        # After the answer has gone out; the build itself runs in a task of its own (see `Exports.launch`).
        background=BackgroundTask(exports.launch, opened, record, etag),
    )


async def get_export(request: Request) -> Response:
    principal = await caller(request, READ)
    opened = await open_session(request, principal)
    view = await services(request).exports.status(opened.keys, str(request.path_params["export_id"]))
    return json_response(ExportStatus.of(view), headers={"Cache-Control": "no-store"})
