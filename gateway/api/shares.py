"""Handlers for share links: the owner makes, lists and revokes them; anyone holding one opens it at `/s/{id}`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.api.context import caller, json_body, json_response, open_session, owner_of, services
from gateway.api.exports import ZIP_HEADERS
from gateway.api.models import Share, ShareInput, SharePage
from gateway.auth.tokens import READ, WRITE, Principal
from gateway.errors import NotFound
from gateway.services.downloads import content_disposition
from gateway.services.exports import ExportInput
from gateway.services.sessions import OpenSession
from gateway.services.shares import GONE
from gateway.services.snapshot import Selection

# What a link's answer must never do: be cached (a revoked link would live on), leak the link in a Referer, or be
# framed or sniffed.
LINK_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _base_url(request: Request) -> str:
    configured = services(request).settings.public_url
    return configured or str(request.base_url).rstrip("/")


async def create_share(request: Request) -> Response:
    principal = await caller(request, WRITE)
    principal.require_unrestricted()  # before anything is read: a bound token is refused for any session
    opened = await open_session(request, principal)  # the owner's only: grantees do not re-share
    body = await json_body(request, ShareInput)
    share = await make_share(request, principal, opened, body)
    return json_response(share, status=201, headers={"Cache-Control": "no-store"})


async def make_share(request: Request, principal: Principal, opened: OpenSession, body: ShareInput) -> Share:
    """A new link to a file or folder of `opened`, which the caller opened as its owner (grantees do not re-share)
    with a token not bound to one session (such a token acts inside its session; it does not hand it out)."""
    principal.require_unrestricted()
    share = await services(request).shares.create(
        owner_of(request, principal),
        opened.keys,
        path=body.path,
        prefix=body.prefix,
        version_id=body.version_id,
        expires_in=body.expires_in,
        max_downloads=body.max_downloads,
    )
    return Share.of(share, _base_url(request))


async def list_shares(request: Request) -> Response:
    principal = await caller(request, READ)
    opened = await open_session(request, principal)
    shares = await services(request).shares.of_session(opened.keys)
    base = _base_url(request)
    page = SharePage(items=[Share.of(share, base) for share in shares])
    return json_response(page, headers={"Cache-Control": "no-store"})


async def revoke_share(request: Request) -> Response:
    principal = await caller(request, WRITE)
    principal.require_unrestricted()
    opened = await open_session(request, principal)
    share_id = str(request.path_params["share_id"])
    await services(request).shares.revoke(owner_of(request, principal), opened.keys, share_id)
    return Response(status_code=204)


async def open_share(request: Request) -> Response:
    """No login: the link's id is the credential. Every refusal is the same 404 (see `gateway.services.shares`)."""
    # HEAD (link previews, checkers) answers the same but does not count as a download.
    share_id = str(request.path_params["share_id"])
    found = services(request)
    opened = await found.shares.open(share_id, count=request.method == "GET")
    if opened.url is not None:
        return Response(status_code=303, headers={"Location": opened.url, **LINK_HEADERS})
    # A folder: its files as one zip, streamed as it is built, through the owner's keys narrowed to the folder.
    try:
        record = await found.sessions.read(opened.keys)
        asked = ExportInput(Selection(opened.share.prefix or ""))
        download = await found.exports.download(OpenSession(opened.keys, record), asked)
    except NotFound:
        raise NotFound(GONE) from None  # emptied or gone since: the same answer as any link that opens nothing
    headers = {**ZIP_HEADERS, **LINK_HEADERS}
    headers["Content-Disposition"] = content_disposition(download.filename, inline=False)
    if request.method == "HEAD":
        await download.chunks.aclose()
        return Response(status_code=200, headers=headers)
    return StreamingResponse(download.chunks, headers=headers)
