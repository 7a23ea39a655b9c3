"""HTTP handlers for a session's files, history, rollback and links."""

from __future__ import annotations

from datetime import UTC
from email.utils import format_datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gateway.auth import READ, WRITE
from gateway.downloads import content_type_of, download_disposition
from gateway.errors import BadRequest
from gateway.files import DEFAULT_LINK_SECONDS, iso, page_limit
from gateway.preconditions import Precondition
from gateway.store import ObjectInfo
from gateway.web.context import caller, file_path, json_body, query_flag, services, session_keys, version_param

# Downloads are user content: never let a browser sniff, script or frame them.
_DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Accept-Ranges": "bytes",
}


def _declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise BadRequest("Content-Length must be a whole number of bytes")
    return int(raw)


async def put_file(request: Request) -> Response:
    principal = await caller(request, WRITE)
    keys = await session_keys(request, principal)
    path = file_path(request)
    written = await services(request).files.write(
        keys,
        path,
        request.stream(),
        content_type=content_type_of(request.headers.get("content-type")),
        declared_length=_declared_length(request),
        precondition=Precondition.from_headers(request.headers.get("if-match"), request.headers.get("if-none-match")),
    )
    headers = {"ETag": written.file.etag}
    if written.created:
        headers["Location"] = request.url.path
    return JSONResponse(written.file.to_json(), status_code=201 if written.created else 200, headers=headers)


def _file_headers(path: str, info: ObjectInfo, *, pinned: bool) -> dict[str, str]:
    headers = {
        **_DOWNLOAD_HEADERS,
        "ETag": info.etag,
        "Last-Modified": format_datetime(info.last_modified.astimezone(UTC), usegmt=True),
        "Content-Disposition": download_disposition(path, info.content_type),
        # A pinned version never changes; the head of a path may change at any time.
        "Cache-Control": "private, max-age=31536000, immutable" if pinned else "private, no-cache",
        # Exactly as stored: Starlette would append a charset to text types given as media_type.
        "Content-Type": info.content_type,
    }
    if info.version_id:
        headers["X-Version-Id"] = info.version_id
    return headers


async def get_file(request: Request) -> Response:
    principal = await caller(request, READ)
    keys = await session_keys(request, principal)
    path = file_path(request)
    version_id = version_param(request.query_params.get("version_id"))
    files = services(request).files
    if request.method == "HEAD":
        info = await files.head(keys, path, version_id)
        headers = _file_headers(path, info, pinned=version_id is not None)
        headers["Content-Length"] = str(info.size)
        return Response(status_code=200, headers=headers)
    byte_range = request.headers.get("range")
    if byte_range is not None and (not byte_range.startswith("bytes=") or "," in byte_range):
        byte_range = None  # other units and multiple ranges: serve the whole file, as RFC 9110 allows
    stream = await files.open(
        keys,
        path,
        version_id=version_id,
        byte_range=byte_range,
        if_none_match=request.headers.get("if-none-match"),
    )
    headers = _file_headers(path, stream.info, pinned=version_id is not None)
    headers["Content-Length"] = str(stream.content_length)
    status = 200
    if stream.content_range:
        headers["Content-Range"] = stream.content_range
        status = 206
    return StreamingResponse(stream.body, status_code=status, headers=headers)


async def delete_file(request: Request) -> Response:
    principal = await caller(request, WRITE)
    keys = await session_keys(request, principal)
    path = file_path(request)
    files = services(request).files
    if query_flag(request, "recursive"):
        await files.delete_folder(keys, path)
    elif path.endswith("/"):
        raise BadRequest("this is a folder path; add ?recursive=true to delete everything under it")
    else:
        await files.delete(keys, path)
    return Response(status_code=204)


async def list_files(request: Request) -> Response:
    principal = await caller(request, READ)
    keys = await session_keys(request, principal)
    query = request.query_params
    listing = await services(request).files.list(
        keys,
        prefix=query.get("prefix", ""),
        delimiter=query.get("delimiter"),
        limit=page_limit(query.get("limit")),
        cursor=query.get("cursor") or None,
    )
    return JSONResponse(listing)


async def file_history(request: Request) -> Response:
    principal = await caller(request, READ)
    keys = await session_keys(request, principal)
    path = request.query_params.get("path")
    if not path:
        raise BadRequest("the path query parameter is required")
    history = await services(request).files.history(
        keys, path, limit=page_limit(request.query_params.get("limit")), cursor=request.query_params.get("cursor")
    )
    return JSONResponse(history)


def _required_text(body: dict[str, object], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"'{name}' is required and must be a string")
    return value


async def rollback(request: Request) -> Response:
    principal = await caller(request, WRITE)
    keys = await session_keys(request, principal)
    body = await json_body(request)
    path = _required_text(body, "path")
    version_id = version_param(_required_text(body, "version_id"))
    assert version_id is not None
    written = await services(request).files.rollback(keys, path, version_id)
    return JSONResponse(written.file.to_json(), headers={"ETag": written.file.etag})


async def create_link(request: Request) -> Response:
    principal = await caller(request, READ)
    keys = await session_keys(request, principal)
    body = await json_body(request)
    path = _required_text(body, "path")
    expires_in = body.get("expires_in", DEFAULT_LINK_SECONDS)
    if not isinstance(expires_in, int) or isinstance(expires_in, bool):
        raise BadRequest("expires_in must be a whole number of seconds")
    link = await services(request).files.link(
        keys, path, version_id=version_param(body.get("version_id")), expires_in=expires_in
    )
    return JSONResponse(
        {"url": link.url, "expires_at": iso(link.expires_at), "path": path},
        status_code=201,
        headers={"Cache-Control": "no-store"},
    )
