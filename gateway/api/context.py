"""What every handler needs: the services, the caller, and parsed input."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from gateway.auth.tokens import Principal, TokenVerifier
from gateway.errors import BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from gateway.keys import Owner, decode_path_bytes
from gateway.policy.tiers import Policy
from gateway.services.files import Files
from gateway.services.sessions import OpenSession, Sessions
from gateway.settings import Settings
from gateway.storage.capabilities import Capabilities
from gateway.storage.store import Store

MAX_JSON_BYTES = 64 * 1024


@dataclass(frozen=True)
class Services:
    settings: Settings
    policy: Policy
    store: Store
    verifier: TokenVerifier
    sessions: Sessions
    files: Files
    # What the backend honours, probed once at start-up (gateway/storage/capabilities.py).
    capabilities: Capabilities


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def caller(request: Request, scope: str) -> Principal:
    """Authenticate the request and require `scope`."""
    principal = await services(request).verifier.verify_header(request.headers.get("authorization"))
    principal.require(scope)
    return principal


def owner_of(request: Request, principal: Principal) -> Owner:
    return principal.owner(services(request).settings.key_root)


def reachable_session_id(request: Request, principal: Principal) -> str:
    """The session id in the URL; 404 when the token is bound to another session, as if it did not exist."""
    session_id = str(request.path_params["sid"])
    if not principal.may_reach(session_id):
        raise NotFound("no such session")
    return session_id


async def open_session(request: Request, principal: Principal) -> OpenSession:
    """The session in the URL, if it exists and the caller may reach it; otherwise 404."""
    session_id = reachable_session_id(request, principal)
    return await services(request).sessions.open(owner_of(request, principal), session_id)


def file_path(request: Request) -> str:
    """The file path from the undecoded URL, so that invalid UTF-8 is refused instead of replaced."""
    raw = request.scope.get("raw_path")
    marker = f"/v1/sessions/{request.path_params['sid']}/files/".encode()
    if isinstance(raw, bytes) and raw.startswith(marker):
        return decode_path_bytes(raw[len(marker) :])
    return str(request.path_params["path"])


async def json_body(request: Request) -> dict[str, Any]:
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType("send the request body as application/json")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_JSON_BYTES:
            raise PayloadTooLarge(f"JSON bodies are limited to {MAX_JSON_BYTES} bytes")
    if not data.strip():
        return {}
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise BadRequest("the body must be a JSON object")
    return parsed


def query_flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").lower()
    if value not in {"true", "false", "1", "0"}:
        raise BadRequest(f"{name} must be true or false")
    return value in {"true", "1"}


def version_param(value: object, name: str = "version_id") -> str | None:
    if value is None or value == "":
        return None
    if (
        not isinstance(value, str)
        or len(value) > 1024
        or not value.isascii()
        or not value.isprintable()
        or " " in value
    ):
        raise BadRequest(f"{name} must be a version id as returned by this API")
    return value
