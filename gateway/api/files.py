"""HTTP handlers for a session's files, history, rollback and links."""

from __future__ import annotations

from datetime import UTC
from email.utils import format_datetime
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gateway.api.context import (
    actor_of,
    caller,
    file_path,
    json_body,
    open_session,
    owner_of,
    query_flag,
    services,
    session_keys,
    version_param,
)
from gateway.auth.tokens import READ, WRITE
from gateway.errors import BadRequest
from gateway.services.downloads import content_type_of, download_disposition
from gateway.services.files import DEFAULT_LINK_SECONDS, FileVersion
from gateway.storage.digests import expected_from_headers, repr_digest
from gateway.storage.preconditions import Precondition
from gateway.wire import iso, page_limit

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


def _requested_tier(request: Request) -> str | None:
    header = request.headers.get("x-tier")
    query = request.query_params.get("tier")
    if header and query and header != query:
        raise BadRequest("X-Tier and ?tier= name different tiers")
    return header or query or None


async def put_file(request: Request) -> Response:
    principal = await caller(request, WRITE)
    keys = session_keys(request, principal)
    headers = request.headers
    written = await services(request).files.write(
        actor_of(principal),
        keys,
        file_path(request),
        request.stream(),
        content_type=content_type_of(headers.get("content-type")),
        declared_length=_declared_length(request),
        precondition=Precondition.from_headers(headers.get("if-match"), headers.get("if-none-match")),
        tier=_requested_tier(request),
        expected=expected_from_headers(
            headers.get("content-digest"), headers.get("repr-digest"), headers.get("content-md5")
        ),
        if_content_differs=query_flag(request, "if_content_differs"),
    )
    response_headers = {"ETag": written.file.etag}
    if written.file.sha256:
        response_headers["Repr-Digest"] = repr_digest(written.file.sha256)
    if written.created:
        # Percent-encoded: header values are Latin-1 on the wire, file names are not.
        response_headers["Location"] = quote(request.url.path, safe="/")
    return JSONResponse(written.file.to_json(), status_code=201 if written.created else 200, headers=response_headers)


def _file_headers(path: str, file: FileVersion, *, pinned: bool) -> dict[str, str]:
    headers = {
        **_DOWNLOAD_HEADERS,
        "ETag": file.etag,
        "Last-Modified": format_datetime(file.last_modified.astimezone(UTC), usegmt=True),
        "Content-Disposition": download_disposition(path, file.content_type),
        # A pinned version never changes; the head of a path may change at any time.
        "Cache-Control": "private, max-age=31536000, immutable" if pinned else "private, no-cache",
        # Exactly as stored: Starlette would append a charset to text types given as media_type.
        "Content-Type": file.content_type,
    }
    if file.version_id:
        headers["X-Version-Id"] = file.version_id
    if file.sha256:
        headers["Repr-Digest"] = repr_digest(file.sha256)
    if file.tier:
        headers["X-Tier"] = file.tier
    if file.expires_at:
        headers["X-Expires-At"] = iso(file.expires_at)
    return headers


async def get_file(request: Request) -> Response:
    principal = await caller(request, READ)
    keys = session_keys(request, principal)
    path = file_path(request)
    version_id = version_param(request.query_params.get("version_id"))
    files = services(request).files
    if request.method == "HEAD":
        file = await files.head(keys, path, version_id)
        headers = _file_headers(path, file, pinned=version_id is not None)
        headers["Content-Length"] = str(file.size)
        return Response(status_code=200, headers=headers)
    byte_range = request.headers.get("range")
    if byte_range is not None and (not byte_range.startswith("bytes=") or "," in byte_range):
        byte_range = None  # other units and multiple ranges: serve the whole file, as RFC 9110 allows
    opened = await files.open(
        keys,
        path,
        version_id=version_id,
        byte_range=byte_range,
        if_none_match=request.headers.get("if-none-match"),
    )
    stream = opened.stream
    # A GET reads no tags unless a tier could already have removed the file: tier and expiry are in HEAD.
    file = files.file_version(keys, stream.info, None, opened.sha256)
    headers = _file_headers(path, file, pinned=version_id is not None)
    headers["Content-Length"] = str(stream.content_length)
    status = 200
    if stream.content_range:
        headers["Content-Range"] = stream.content_range
        status = 206
    return StreamingResponse(stream.body, status_code=status, headers=headers)


async def delete_file(request: Request) -> Response:
    principal = await caller(request, WRITE)
    keys = session_keys(request, principal)
    path = file_path(request)
    files = services(request).files
    if query_flag(request, "recursive"):
        await files.delete_folder(actor_of(principal), keys, path)
    elif path.endswith("/"):
        raise BadRequest("this is a folder path; add ?recursive=true to delete everything under it")
    else:
        await files.delete(actor_of(principal), keys, path)
    return Response(status_code=204)


async def patch_file(request: Request) -> Response:
    """Change a file's tier, or a folder's: its files' tiers (recursive) and the default for new files."""
    principal = await caller(request, WRITE)
    keys = session_keys(request, principal)
    path = file_path(request)
    body = await json_body(request)
    unknown = sorted(set(body) - {"tier", "recursive", "default_tier"})
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)}; allowed: default_tier, recursive, tier")
    recursive = body.get("recursive", False)
    if not isinstance(recursive, bool):
        raise BadRequest("recursive must be true or false")
    tier = body.get("tier")
    if tier is not None and not isinstance(tier, str):
        raise BadRequest("tier must be a string")
    if "default_tier" not in body and tier is None:
        raise BadRequest("send a tier (and recursive: true for a folder), a default_tier for a folder, or both")
    is_folder = recursive or path.endswith("/") or "default_tier" in body
    if not is_folder:
        assert tier is not None
        return JSONResponse(
            await services(request).files.set_tier(actor_of(principal), keys, path, tier, recursive=False)
        )
    if tier is not None and not recursive:
        raise BadRequest("re-tagging a folder's files needs recursive: true")
    result: dict[str, object] = {"path": path}
    if "default_tier" in body:
        record = await services(request).sessions.set_folder_tier(
            owner_of(request, principal), keys, path, body["default_tier"]
        )
        result["folder_tiers"] = record.folder_tiers
    if tier is not None:
        result.update(await services(request).files.set_tier(actor_of(principal), keys, path, tier, recursive=True))
    return JSONResponse(result)


async def list_files(request: Request) -> Response:
    principal = await caller(request, READ)
    keys = (await open_session(request, principal)).keys
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
    keys = (await open_session(request, principal)).keys
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
    keys = session_keys(request, principal)
    body = await json_body(request)
    path = _required_text(body, "path")
    version_id = version_param(_required_text(body, "version_id"))
    assert version_id is not None
    written = await services(request).files.rollback(actor_of(principal), keys, path, version_id)
    return JSONResponse(written.file.to_json(), headers={"ETag": written.file.etag})


async def create_link(request: Request) -> Response:
    principal = await caller(request, READ)
    keys = (await open_session(request, principal)).keys
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
