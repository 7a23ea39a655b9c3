"""`/console/`: the built assets, under a strict Content-Security-Policy, from memory."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.console.assets import BUILD_HINT, Asset, load
from gateway.errors import NotFound
from gateway.settings import Settings

# Only the console's own files run and load; the API is reached on the same origin. No inline script or style, no
# framing (clickjacking), no plugins, no <base> tricks, forms post nowhere else.
# Previews (console/src/preview.ts) need two blob: sources and nothing wider: `img-src blob:` for an image the console
# fetched with the token (an <img> runs no script, an SVG in it neither), and `frame-src blob:` for text shown as a
# text/plain blob in an <iframe sandbox> (no scripts, an opaque origin; the blob keeps this policy too). Workers
# (pdf.js's) come from 'self' by script-src.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "frame-src blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The console's address never travels to other sites (the sign-in link's token is in the fragment anyway).
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def security_headers(settings: Settings) -> dict[str, str]:
    """The headers above, with the OpenID Connect provider's origin added to `connect-src` when sign-in through it
    is configured: the page fetches its discovery document and exchanges the code at its token endpoint. Going to
    its authorization endpoint is a navigation (`location.assign`), which no CSP directive restricts."""
    if settings.console_oidc_issuer is None:
        return SECURITY_HEADERS
    issuer = urlsplit(settings.console_oidc_issuer)
    origin = f"{issuer.scheme}://{issuer.netloc}"
    policy = CONTENT_SECURITY_POLICY.replace("connect-src 'self'", f"connect-src 'self' {origin}")
    return {**SECURITY_HEADERS, "Content-Security-Policy": policy}


def console_config(settings: Settings) -> dict[str, object]:
    """What the page learns at start (`/console/config.json`): the provider to offer, if any. Nothing secret: a
    public client has no secret, and the endpoints are read from the provider's own discovery document."""
    if settings.console_oidc_issuer is None:
        return {"oidc": None}
    return {
        "oidc": {
            "issuer": settings.console_oidc_issuer,
            "client_id": settings.console_oidc_client_id,
            "scopes": settings.console_oidc_scopes,
        }
    }


def console_routes(settings: Settings) -> list[Route]:
    assets = load()
    headers = security_headers(settings)
    config = console_config(settings)

    async def redirect(request: Request) -> Response:
        return RedirectResponse("/console/", status_code=308, headers=headers)

    async def serve_config(request: Request) -> Response:
        return JSONResponse(config, headers={**headers, "Cache-Control": "no-cache"})

    async def serve(request: Request) -> Response:
        if assets is None:
            return PlainTextResponse(
                f"The console is not built into this installation: {BUILD_HINT}.\n",
                status_code=503,
                headers=headers,
            )
        name = request.path_params["name"] or "index.html"
        asset = assets.get(name)
        if asset is None:
            raise NotFound("no such file in the console")
        return _answer(request, asset, headers)

    return [
        Route("/console", redirect, methods=["GET"], include_in_schema=False),
        Route("/console/config.json", serve_config, methods=["GET"], include_in_schema=False),
        Route("/console/{name:path}", serve, methods=["GET"], include_in_schema=False),
    ]


def _answer(request: Request, asset: Asset, security: dict[str, str]) -> Response:
    headers = {
        **security,
        "ETag": asset.etag,
        "Cache-Control": "public, max-age=31536000, immutable" if asset.immutable else "no-cache",
    }
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)
