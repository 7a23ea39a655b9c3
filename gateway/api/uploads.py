"""HTTP handlers of resumable uploads: tus 1.0 with creation, creation-with-upload, termination, expiration and
checksum (docs/uploads.md).

An upload is reached like a file: the session through the caller's own keys first, then through a grant (with
write access). Only its creator sees it: anyone else, a user the session is granted to included, gets the 404 of an
upload that does not exist. Every answer, problems included, carries `Tus-Resumable`.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gateway.api.context import actor_of, caller, declared_length, owner_of, reach, services
from gateway.auth.tokens import WRITE, Principal
from gateway.errors import GatewayError, UnsupportedMediaType
from gateway.keys import SessionKeys, UploadKeys
from gateway.resumable import protocol
from gateway.resumable.protocol import OFFSET_MEDIA_TYPE, TUS_VERSION
from gateway.resumable.service import Status
from gateway.resumable.state import UploadState
from gateway.services.downloads import media_type
from gateway.services.grants import WRITE_ACCESS
from gateway.storage.preconditions import Precondition

Handler = Callable[[Request], Awaitable[Response]]
Located = tuple[SessionKeys, UploadKeys, UploadState]


def _tus(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def answer(request: Request) -> Response:
        try:
            response = await handler(request)
        except GatewayError as exc:
            exc.headers.setdefault("Tus-Resumable", TUS_VERSION)
            raise
        response.headers.setdefault("Tus-Resumable", TUS_VERSION)
        return response

    return answer


async def _caller(request: Request) -> Principal:
    principal = await caller(request, WRITE)
    protocol.require_version(request.headers.get("tus-resumable"))
    return principal


def _location(request: Request, upload: UploadKeys) -> str:
    return f"/v1/sessions/{request.path_params['sid']}/uploads/{upload.upload_id}"


def _progress(status: Status) -> dict[str, str]:
    headers = {"Upload-Offset": str(status.offset)}
    if status.expires_at is not None:
        headers["Upload-Expires"] = protocol.http_date(status.expires_at)
    return headers


async def _until_cut(request: Request) -> AsyncIterator[bytes]:
    """The body as it arrives; a client that hangs up ends it early (what arrived is kept, as tus asks)."""
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        return


async def _located(request: Request, principal: Principal) -> Located:
    """The upload in the URL, when the caller created it (404 otherwise, the same as for none)."""
    uploads = services(request).uploads
    creator = owner_of(request, principal).prefix
    upload_id = str(request.path_params["uid"])

    async def locate(keys: SessionKeys) -> Located:
        upload, found = await uploads.state_of(creator, keys, upload_id)
        return keys, upload, found

    return await reach(request, principal, WRITE_ACCESS, locate)


@_tus
async def upload_options(request: Request) -> Response:
    """What this server supports (tus discovery); no token needed, nothing about any session is told."""
    return Response(status_code=204, headers=protocol.server_headers(services(request).uploads.max_bytes))


@_tus
async def create_upload(request: Request) -> Response:
    principal = await _caller(request)
    headers = request.headers
    length = protocol.upload_length(headers.get("upload-length"), headers.get("upload-defer-length"))
    metadata = protocol.metadata(headers.get("upload-metadata"))
    precondition = Precondition.from_headers(headers.get("if-match"), headers.get("if-none-match"))
    content_length = declared_length(request)
    with_data = media_type(headers.get("content-type", "")) == OFFSET_MEDIA_TYPE
    if not with_data and content_length:
        raise UnsupportedMediaType(f"send the first bytes as {OFFSET_MEDIA_TYPE}, or none")
    checksum = protocol.checksum(headers.get("upload-checksum")) if with_data else None
    uploads = services(request).uploads
    actor, creator = actor_of(principal), owner_of(request, principal).prefix

    async def create(keys: SessionKeys) -> Located:
        upload, found = await uploads.create(
            actor, creator, keys, length=length, metadata=metadata, precondition=precondition
        )
        return keys, upload, found

    keys, upload, found = await reach(request, principal, WRITE_ACCESS, create)
    location = _location(request, upload)
    status = uploads.status(upload, found)
    if with_data and content_length != 0:
        try:
            status = await uploads.patch(
                actor,
                keys,
                upload,
                found,
                offset=0,
                body=_until_cut(request),
                content_length=content_length,
                checksum=checksum,
            )
        except GatewayError as exc:
            exc.headers.setdefault("Location", location)  # the upload exists: PATCH may go on from its offset
            raise
    return Response(status_code=201, headers={"Location": location, **_progress(status)})


@_tus
async def head_upload(request: Request) -> Response:
    principal = await _caller(request)
    _keys, upload, found = await _located(request, principal)
    status = services(request).uploads.status(upload, found)
    headers = {**_progress(status), "Upload-Length": str(status.length), "Cache-Control": "no-store"}
    if status.metadata:
        headers["Upload-Metadata"] = status.metadata
    return Response(status_code=200, headers=headers)


@_tus
async def patch_upload(request: Request) -> Response:
    principal = await _caller(request)
    headers = request.headers
    if media_type(headers.get("content-type", "")) != OFFSET_MEDIA_TYPE:
        raise UnsupportedMediaType(f"a PATCH sends {OFFSET_MEDIA_TYPE}")
    offset = protocol.upload_offset(headers.get("upload-offset"))
    checksum = protocol.checksum(headers.get("upload-checksum"))
    content_length = declared_length(request)
    keys, upload, found = await _located(request, principal)
    status = await services(request).uploads.patch(
        actor_of(principal),
        keys,
        upload,
        found,
        offset=offset,
        body=_until_cut(request),
        content_length=content_length,
        checksum=checksum,
    )
    return Response(status_code=204, headers=_progress(status))


@_tus
async def terminate_upload(request: Request) -> Response:
    principal = await _caller(request)
    keys, upload, found = await _located(request, principal)
    await services(request).uploads.discard(actor_of(principal), keys, upload, found, "terminated by its creator")
    return Response(status_code=204)
