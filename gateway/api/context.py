"""What every handler needs: the services, the caller, and parsed input."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from gateway import strict_json
from gateway.audit.recorders import Recorders
from gateway.auth.cursors import CursorSealer
from gateway.auth.tokens import Principal, TokenVerifier
from gateway.changes import Actor
from gateway.errors import BadRequest, FieldError, InvalidBody, NotFound, PayloadTooLarge, UnsupportedMediaType
from gateway.imports.archive import ArchiveImports
from gateway.index.activity import ActivityTracker
from gateway.index.catalog import SessionIndex
from gateway.keys import Owner, SessionKeys, decode_path_bytes
from gateway.policy.tiers import Policy
from gateway.projects.service import Projects
from gateway.quotas.gate import Quotas
from gateway.recovery.restoring import Restorer
from gateway.recovery.snapshots import SessionSnapshots
from gateway.resumable.service import Uploads
from gateway.services.exports import Exports
from gateway.services.files import Files
from gateway.services.forking import Forking
from gateway.services.grants import Grants
from gateway.services.moving import Moving
from gateway.services.past import Past
from gateway.services.sessions import OpenSession, Sessions
from gateway.services.shares import Shares
from gateway.serving.ratelimit import TokenBuckets
from gateway.settings import Settings
from gateway.storage.capabilities import Capabilities
from gateway.storage.store import Store

MAX_JSON_BYTES = 64 * 1024
Body = TypeVar("Body", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True)
class Services:
    settings: Settings
    policy: Policy
    store: Store
    verifier: TokenVerifier
    sessions: Sessions
    files: Files
    past: Past
    grants: Grants
    shares: Shares
    moving: Moving
    forking: Forking
    exports: Exports
    imports: ArchiveImports
    snapshots: SessionSnapshots
    restorer: Restorer
    index: SessionIndex
    activity: ActivityTracker
    quotas: Quotas
    projects: Projects
    # Resumable uploads (tus).
    uploads: Uploads
    cursors: CursorSealer
    # What the backend honours, probed once at start-up (gateway/storage/capabilities.py).
    capabilities: Capabilities
    # Makes the owner segments of keys opaque (gateway/keys.py); the same on every replica.
    owner_key: bytes = field(repr=False)
    # The audit log, the session audit, the event feed and the webhooks (gateway/audit, gateway/events).
    recorders: Recorders
    # The per-token rate limit (gateway/serving/ratelimit.py); None: no limit.
    limiter: TokenBuckets | None = None


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def authenticate(request: Request) -> Principal:
    """Who calls, for every door that takes a bearer token (the HTTP API, `POST /mcp`); a token over its rate limit
    is refused first (429)."""
    found = services(request)
    authorization = request.headers.get("authorization")
    if found.limiter is not None:
        found.limiter.admit(authorization)
    principal = await found.verifier.verify_header(authorization)
    # Whose request it was, for the audit record of a denial (gateway/api/denials.py).
    request.state.principal = principal
    return principal


async def caller(request: Request, scope: str) -> Principal:
    """Authenticate the request and require `scope`."""
    principal = await authenticate(request)
    principal.require(scope)
    return principal


def owner_of(request: Request, principal: Principal) -> Owner:
    found = services(request)
    return principal.owner(found.settings.key_root, found.owner_key)


SESSIONS_PATH = b"/v1/sessions/"


def _raw_path(request: Request) -> bytes:
    raw = request.scope.get("raw_path")
    return raw if isinstance(raw, bytes) else request.url.path.encode("utf-8")


def reachable_session_id(request: Request, principal: Principal) -> str:
    """The session id in the URL; 404 when the token is bound to another session, as if it did not exist.

    The id must stand in the URL as it is, not percent-encoded: the URL is decoded once, from its raw bytes, so no
    spelling of the id can move where the file path starts or how it is decoded.
    """
    session_id = str(request.path_params["sid"])
    raw = _raw_path(request)
    if not raw.startswith(SESSIONS_PATH + session_id.encode("ascii", "replace") + b"/") and raw != (
        SESSIONS_PATH + session_id.encode("ascii", "replace")
    ):
        raise NotFound("no such session")
    if not principal.may_reach(session_id):
        raise NotFound("no such session")
    return session_id


def session_keys(request: Request, principal: Principal) -> SessionKeys:
    """The keys of the session in the URL under the caller's own prefix, without asking S3 whether it exists.

    Isolation is in the key itself: nothing outside the caller's prefix can be named. File reads need no more;
    writes read the session record themselves (concurrently with their own first look at the key).
    """
    return other_session_keys(request, principal, reachable_session_id(request, principal))


async def reach(request: Request, principal: Principal, need: str, run: Callable[[SessionKeys], Awaitable[T]]) -> T:
    """`reach_session` on the session in the URL."""
    return await reach_session(request, principal, reachable_session_id(request, principal), need, run)


async def reach_session(
    request: Request, principal: Principal, session_id: str, need: str, run: Callable[[SessionKeys], Awaitable[T]]
) -> T:
    """Run `run` on session `session_id`: the caller's own first (no S3 call to find out), else a granted one.

    Grants are looked up only when the caller's own attempt found nothing, so an owner's requests cost what they
    did before grants existed. A 404 on the first attempt left nothing behind: writes read the session record
    before they take the body, and a session that is not the caller's has no record under the caller's prefix.
    The second attempt's keys are the owner's, narrowed to the grant's folder (`SessionKeys.scope`). Every route
    and agent tool that works on a session's files comes through here, so all of them reach the same things.
    """
    try:
        return await run(other_session_keys(request, principal, session_id))
    except NotFound as own:
        if not principal.may_reach(session_id):
            raise own from None
        granted = await services(request).grants.resolve(owner_of(request, principal), session_id, need)
        if granted is None:
            raise own from None  # the same answer as before: a missing file of one's own, or no such session
        try:
            return await run(granted[0])
        except NotFound:
            # Outside the grant, or missing inside it: either way the answer of a session that does not exist.
            raise own from None


async def in_session(
    request: Request, principal: Principal, need: str, run: Callable[[SessionKeys], Awaitable[T]]
) -> T:
    """`in_named_session` on the session in the URL."""
    return await in_named_session(request, principal, reachable_session_id(request, principal), need, run)


async def in_named_session(
    request: Request, principal: Principal, session_id: str, need: str, run: Callable[[SessionKeys], Awaitable[T]]
) -> T:
    """`reach_session` for operations that need the session to exist (listings, history, links): its record is
    read first."""
    sessions = services(request).sessions

    async def checked(keys: SessionKeys) -> T:
        await sessions.read(keys)
        return await run(keys)

    return await reach_session(request, principal, session_id, need, checked)


def other_session_keys(request: Request, principal: Principal, session_id: str) -> SessionKeys:
    """The keys of a session of the caller named by its id (in the URL, a body's `to_session`, an agent tool's
    arguments): 404 when the token is bound to another session or the id is malformed, and always under the
    caller's own prefix."""
    if not principal.may_reach(session_id):
        raise NotFound("no such session")
    return owner_of(request, principal).session(session_id)


def actor_of(principal: Principal) -> Actor:
    return Actor.user_of(principal.tenant, principal.user)


async def open_session(request: Request, principal: Principal) -> OpenSession:
    """The session in the URL, if it exists and the caller may reach it; otherwise 404."""
    return await open_named_session(request, principal, reachable_session_id(request, principal))


async def open_named_session(request: Request, principal: Principal, session_id: str) -> OpenSession:
    """Session `session_id` of the caller's own, if it exists and the token may reach it; otherwise 404."""
    if not principal.may_reach(session_id):
        raise NotFound("no such session")
    return await services(request).sessions.open(owner_of(request, principal), session_id)


def file_path(request: Request) -> str:
    """The file path from the undecoded URL, so that invalid UTF-8 is refused instead of replaced.

    Handlers call `reachable_session_id` (through `session_keys` or `open_session`) first, which checked that the
    raw URL starts with the literal session id: the path is what follows it, decoded once here.
    """
    raw = _raw_path(request)
    marker = SESSIONS_PATH + str(request.path_params["sid"]).encode("ascii", "replace") + b"/files/"
    if not raw.startswith(marker):
        raise NotFound("no such session")
    return decode_path_bytes(raw[len(marker) :])


async def json_body(request: Request, model: type[Body]) -> Body:
    """The request body as `model`: strict JSON (`gateway.strict_json`) of at most `MAX_JSON_BYTES`, validated.

    Every JSON route reads its body here, so each gets the same refusals: 415 for another media type, 413 past the
    size limit, 400 `invalid-body` naming the fields for the rest. An empty body is an empty object.
    """
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType("send the request body as application/json")
    gauge = strict_json.DepthGauge()
    data = bytearray()
    async for chunk in request.stream():
        # Depth first: a deeply nested body is refused as such even when it is also too large.
        gauge.feed(chunk)
        data += chunk
        if len(data) > MAX_JSON_BYTES:
            raise PayloadTooLarge(
                f"JSON bodies are limited to {MAX_JSON_BYTES} bytes", extra={"limit_bytes": MAX_JSON_BYTES}
            )
    parsed = strict_json.loads(bytes(data)) if data.strip() else {}
    if not isinstance(parsed, dict):
        raise InvalidBody.field("", "the body must be a JSON object")
    try:
        return model.model_validate(parsed)
    except ValidationError as exc:
        raise body_refusal(model, exc) from None


def body_refusal(model: type[BaseModel], exc: ValidationError) -> InvalidBody:
    """A model's refusal of its input as a 400 naming every refused field (shown: the first few)."""
    allowed = ", ".join(info.alias or name for name, info in model.model_fields.items())
    errors = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        field = ".".join(strict_json.printable_field(str(part)) for part in error["loc"])
        message = f"unknown field; allowed: {allowed}" if error["type"] == "extra_forbidden" else error["msg"]
        errors.append(FieldError(field, message))
    shown = errors[: strict_json.MAX_REPORTED_ERRORS]
    return InvalidBody("; ".join(f"{e.field or 'the body'}: {e.message}" for e in shown), shown)


def json_response(
    model: BaseModel,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    background: BackgroundTask | None = None,
) -> Response:
    """Render a response model; optional members that were never set stay absent. `background` runs once the
    response has been sent."""
    return Response(
        model.model_dump_json(exclude_unset=True),
        status_code=status,
        headers=dict(headers or {}),
        media_type="application/json",
        background=background,
    )


def declared_length(request: Request) -> int | None:
    """The body's Content-Length, when the client sent one (the guard refuses it beside Transfer-Encoding)."""
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise BadRequest("Content-Length must be a whole number of bytes")
    return int(raw)


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
