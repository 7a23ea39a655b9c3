"""The Starlette application: routes, the error handler, and the store's lifetime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.api import files, sessions
from gateway.api.context import Services, services
from gateway.api.openapi import openapi_document
from gateway.api.problems import HANDLERS
from gateway.auth.jwks import JwksCache
from gateway.auth.tokens import TokenVerifier
from gateway.changes import ChangeHook
from gateway.errors import StoreError
from gateway.policy.config import load_configured_policy
from gateway.services.assembly import assemble
from gateway.settings import Settings
from gateway.storage.readiness import bucket_problem
from gateway.storage.store import KeyObserver, Store
from gateway.storage.writes import CautiousTraits

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The gateway cannot serve with this bucket or configuration."""


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        problem = await bucket_problem(services(request).store)
    except StoreError as exc:
        problem = exc.detail
    if problem:
        return JSONResponse({"status": "unavailable", "reason": problem}, status_code=503)
    return JSONResponse({"status": "ready"})


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


class FilePathConvertor(Convertor[str]):
    """Like Starlette's `path`, but also matching decoded newlines, so that they reach the path rules (400)."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("filepath", FilePathConvertor())

SESSION = "/v1/sessions/{sid}"

ROUTES = [
    Route("/healthz", healthz, methods=["GET"], include_in_schema=False),
    Route("/readyz", readyz, methods=["GET"], include_in_schema=False),
    Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
    Route("/v1/sessions", sessions.create_session, methods=["POST"], name="create_session"),
    Route("/v1/sessions", sessions.list_sessions, methods=["GET"], name="list_sessions"),
    Route(SESSION, sessions.get_session, methods=["GET"], name="session"),
    Route(SESSION, sessions.update_session, methods=["PATCH"], name="update_session"),
    Route(SESSION, sessions.delete_session, methods=["DELETE"], name="delete_session"),
    Route(SESSION + "/end", sessions.end_session, methods=["POST"], name="end_session"),
    Route(SESSION + "/files", files.list_files, methods=["GET"], name="list_files"),
    Route(SESSION + "/files/{path:filepath}", files.get_file, methods=["GET", "HEAD"], name="file"),
    Route(SESSION + "/files/{path:filepath}", files.put_file, methods=["PUT"], name="put_file"),
    Route(SESSION + "/files/{path:filepath}", files.delete_file, methods=["DELETE"], name="delete_file"),
    Route(SESSION + "/files/{path:filepath}", files.patch_file, methods=["PATCH"], name="patch_file"),
    Route(SESSION + "/history", files.file_history, methods=["GET"], name="history"),
    Route(SESSION + "/rollback", files.rollback, methods=["POST"], name="rollback"),
    Route(SESSION + "/links", files.create_link, methods=["POST"], name="create_link"),
]


def create_app(
    settings: Settings,
    *,
    credentials: tuple[str, str] | None = None,
    observer: KeyObserver | None = None,
    check_bucket: bool = True,
    hook: ChangeHook | None = None,
) -> Starlette:
    """Build the ASGI app. `credentials`, `observer` and `hook` (the change hook) exist for embedding and tests."""
    settings.require_serving()
    jwks = None
    if settings.jwt_jwks_url:
        jwks = JwksCache(
            settings.jwt_jwks_url,
            algorithms=settings.accepted_algorithms,
            cache_seconds=settings.jwks_cache_seconds,
            min_refetch_seconds=settings.jwks_min_refetch_seconds,
        )
    verifier = TokenVerifier(settings, jwks)
    policy = load_configured_policy(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with Store(settings, credentials=credentials, observer=observer) as store:
            if check_bucket:
                problem = await bucket_problem(store)
                if problem:
                    raise StartupError(problem)
            # Until the start-up probe reports what the backend does, assume what AWS S3, Ceph RGW and moto do
            # with unencrypted objects: a single PUT's ETag is the MD5 of its bytes, so the write step can trust
            # S3's reply instead of reading the new version back. Tags are still repaired after multipart uploads
            # and copies (Ceph RGW 16 drops them there).
            traits = CautiousTraits(tags_on_multipart=False, tags_on_copy=False, etag_is_md5=True)
            core = assemble(store, settings, policy, traits=traits, hook=hook)
            app.state.services = Services(
                settings=settings,
                policy=policy,
                store=store,
                verifier=verifier,
                sessions=core.sessions,
                files=core.files,
            )
            yield

    return Starlette(routes=ROUTES, exception_handlers=HANDLERS, lifespan=lifespan)


def create_app_from_env() -> Starlette:
    """The app configured from `GATEWAY_*` variables alone: what each `serve --workers N` process imports."""
    return create_app(Settings.from_env())
