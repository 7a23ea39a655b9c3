"""HTTP handlers for a session's files, history, rollback and links."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.api.context import (
    actor_of,
    caller,
    declared_length,
    file_path,
    in_session,
    json_body,
    json_response,
    owner_of,
    query_flag,
    reach,
    services,
    session_keys,
    version_param,
)
from gateway.api.models import (
    FilePage,
    FileVersion,
    FolderChange,
    HistoryPage,
    Link,
    LinkInput,
    RollbackInput,
    TierChange,
)
from gateway.auth.tokens import READ, WRITE
from gateway.errors import BadRequest, InvalidBody, InvalidParameter
from gateway.keys import SessionKeys
from gateway.services import files as file_service
from gateway.services.downloads import content_type_of, download_disposition
from gateway.services.files import FolderRetagged
from gateway.services.grants import READ_ACCESS, WRITE_ACCESS
from gateway.storage.digests import expected_from_headers, repr_digest
from gateway.storage.preconditions import Precondition
from gateway.wire import iso, page_limit

# Downloads are user content: never let a browser sniff, script or frame them.
_DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Accept-Ranges": "bytes",
}


def _requested_tier(request: Request) -> str | None:
    header = request.headers.get("x-tier")
    query = request.query_params.get("tier")
    for name, value in (("X-Tier", header), ("tier", query)):
        if value == "":
            raise InvalidParameter(name, "names no tier; leave it out for the default tier")
    if header and query and header != query:
        raise BadRequest("X-Tier and ?tier= name different tiers")
    return header or query or None


async def put_file(request: Request) -> Response:
    principal = await caller(request, WRITE)
    request_headers = request.headers
    path = file_path(request)
    precondition = Precondition.from_headers(request_headers.get("if-match"), request_headers.get("if-none-match"))
    expected = expected_from_headers(
        request_headers.get("content-digest"), request_headers.get("repr-digest"), request_headers.get("content-md5")
    )

    def write(keys: SessionKeys) -> Awaitable[file_service.Written]:
        return services(request).files.write(
            actor_of(principal),
            keys,
            path,
            request.stream(),
            content_type=content_type_of(request_headers.get("content-type")),
            declared_length=declared_length(request),
            precondition=precondition,
            tier=_requested_tier(request),
            expected=expected,
            if_content_differs=query_flag(request, "if_content_differs"),
        )

    written = await reach(request, principal, WRITE_ACCESS, write)
    headers = {"ETag": written.file.etag}
    if written.file.sha256:
        headers["Repr-Digest"] = repr_digest(written.file.sha256)
    if written.created:
        headers["Location"] = file_location(request, written.file.path)
    return json_response(FileVersion.of(written.file), status=201 if written.created else 200, headers=headers)


def file_location(request: Request, path: str) -> str:
    """The URL path of a file, percent-encoded (RFC 3986): header values must be ASCII, paths need not be."""
    return f"/v1/sessions/{request.path_params['sid']}/files/{quote(path, safe='/')}"


def _file_headers(file: file_service.FileVersion, *, pinned: bool) -> dict[str, str]:
    headers = {
        **_DOWNLOAD_HEADERS,
        "ETag": file.etag,
        "Last-Modified": format_datetime(file.last_modified.astimezone(UTC), usegmt=True),
        # The stored (NFC) name, whatever form the URL used.
        "Content-Disposition": download_disposition(file.path, file.content_type),
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


_BYTE_RANGE = re.compile(r"bytes=(?:(\d{1,19})-(\d{0,19})|-\d{1,19})")


def _single_byte_range(header: str | None) -> str | None:
    """The Range header when it is one well-formed byte range. Anything else (other units, several ranges, a range
    that ends before it starts, or no range at all) gets the whole file, as RFC 9110 allows."""
    match = _BYTE_RANGE.fullmatch(header.strip()) if header else None
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if first and last and int(last) < int(first):
        return None
    return match.group(0)


def _moment(request: Request) -> datetime | None:
    """`?at=`: a moment of the past (RFC 3339), or None."""
    try:
        return services(request).past.moment(request.query_params.get("at"))
    except ValueError as exc:
        raise InvalidParameter("at", str(exc)) from None


async def get_file(request: Request) -> Response:
    principal = await caller(request, READ)
    path = file_path(request)
    version_id = version_param(request.query_params.get("version_id"))
    at = _moment(request)
    if at is not None and version_id is not None:
        raise InvalidParameter("at", "names the version current at a moment; send either at or version_id")
    # A version named by id or by moment never changes.
    pinned = version_id is not None or at is not None
    files, past = services(request).files, services(request).past
    if request.method == "HEAD":

        def head(keys: SessionKeys) -> Awaitable[file_service.FileVersion]:
            return files.head(keys, path, version_id) if at is None else past.head(keys, path, at)

        file = await reach(request, principal, READ_ACCESS, head)
        headers = _file_headers(file, pinned=pinned)
        headers["Content-Length"] = str(file.size)
        return Response(status_code=200, headers=headers)
    byte_range = _single_byte_range(request.headers.get("range"))
    if_none_match = request.headers.get("if-none-match")

    async def open_file(keys: SessionKeys) -> tuple[SessionKeys, file_service.Opened]:
        if at is not None:
            opened = await past.open(keys, path, at, byte_range=byte_range, if_none_match=if_none_match)
        else:
            opened = await files.open(
                keys, path, version_id=version_id, byte_range=byte_range, if_none_match=if_none_match
            )
        return keys, opened

    keys, opened = await reach(request, principal, READ_ACCESS, open_file)
    stream = opened.stream
    # A GET reads no tags unless a tier could already have removed the file: tier and expiry are in HEAD.
    file = files.file_version(keys, stream.info, None, opened.sha256)
    headers = _file_headers(file, pinned=pinned)
    headers["Content-Length"] = str(stream.content_length)
    status = 200
    if stream.content_range:
        headers["Content-Range"] = stream.content_range
        status = 206
    return StreamingResponse(stream.body, status_code=status, headers=headers)


async def delete_file(request: Request) -> Response:
    principal = await caller(request, WRITE)
    path = file_path(request)
    files = services(request).files
    recursive = query_flag(request, "recursive")
    if not recursive and path.endswith("/"):
        raise BadRequest("this is a folder path; add ?recursive=true to delete everything under it")

    async def delete(keys: SessionKeys) -> None:
        if recursive:
            await files.delete_folder(actor_of(principal), keys, path)
        else:
            await files.delete(actor_of(principal), keys, path)

    await reach(request, principal, WRITE_ACCESS, delete)
    return Response(status_code=204)


async def patch_file(request: Request) -> Response:
    """Re-tag a file or a folder's files, and/or set a folder's default tier (see `TierChange` for the rules)."""
    principal = await caller(request, WRITE)
    actor = actor_of(principal)
    path = file_path(request)
    change = await json_body(request, TierChange)
    sets_default = "default_tier" in change.model_fields_set
    if change.tier is None and not sets_default:
        raise InvalidBody.field("tier", "send a tier (with recursive: true for a folder), a default_tier, or both")
    if sets_default and not path.endswith("/"):
        raise InvalidBody.field("default_tier", "a default tier belongs to a folder: end the path with '/'")
    files, sessions = services(request).files, services(request).sessions
    tier = change.tier
    if not change.recursive and not path.endswith("/"):
        assert tier is not None
        retagged = await reach(
            request, principal, WRITE_ACCESS, lambda keys: files.set_tier(actor, keys, path, tier, recursive=False)
        )
        assert isinstance(retagged, file_service.FileVersion)
        return json_response(FileVersion.of(retagged))
    if tier is not None and not change.recursive:
        raise InvalidBody.field("recursive", "re-tagging a folder's files needs recursive: true")
    record = None
    if sets_default:
        # A folder's default tier lives in the session record: its owner's to change, not a grantee's.
        owner = owner_of(request, principal)
        record = await sessions.set_folder_tier(owner, session_keys(request, principal), path, change.default_tier)
    folder: FolderRetagged | None = None
    if tier is not None:
        retagged_folder = await reach(
            request, principal, WRITE_ACCESS, lambda keys: files.set_tier(actor, keys, path, tier, recursive=True)
        )
        assert isinstance(retagged_folder, FolderRetagged)
        folder = retagged_folder
    return json_response(FolderChange.of(path, record, folder))


async def list_files(request: Request) -> Response:
    principal = await caller(request, READ)
    query = request.query_params
    files, past = services(request).files, services(request).past
    limit = page_limit(query.get("limit"))
    at = _moment(request)
    prefix, delimiter, cursor = query.get("prefix", ""), query.get("delimiter"), query.get("cursor") or None

    def page(keys: SessionKeys) -> Awaitable[file_service.FileListing]:
        if at is not None:
            return past.list(keys, prefix=prefix, delimiter=delimiter, limit=limit, cursor=cursor, at=at)
        return files.list(keys, prefix=prefix, delimiter=delimiter, limit=limit, cursor=cursor)

    listing = await in_session(request, principal, READ_ACCESS, page)
    return json_response(FilePage.of(listing))


async def file_history(request: Request) -> Response:
    principal = await caller(request, READ)
    path = request.query_params.get("path")
    if not path:
        raise BadRequest("the path query parameter is required")
    files = services(request).files
    limit = page_limit(request.query_params.get("limit"))
    cursor = request.query_params.get("cursor")
    history = await in_session(
        request, principal, READ_ACCESS, lambda keys: files.history(keys, path, limit=limit, cursor=cursor)
    )
    return json_response(HistoryPage.of(history))


async def rollback(request: Request) -> Response:
    principal = await caller(request, WRITE)
    body = await json_body(request, RollbackInput)
    files = services(request).files
    written = await reach(
        request,
        principal,
        WRITE_ACCESS,
        lambda keys: files.rollback(actor_of(principal), keys, body.path, body.version_id),
    )
    return json_response(FileVersion.of(written.file), headers={"ETag": written.file.etag})


async def create_link(request: Request) -> Response:
    principal = await caller(request, READ)
    body = await json_body(request, LinkInput)
    files = services(request).files
    link = await in_session(
        request,
        principal,
        READ_ACCESS,
        lambda keys: files.link(keys, body.path, version_id=body.version_id, expires_in=body.expires_in),
    )
    return json_response(Link.of(link, body.path), status=201, headers={"Cache-Control": "no-store"})
