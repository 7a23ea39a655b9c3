"""The Starlette application: routes, the error handler, and the store's lifetime."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.api.context import Services, services
from gateway.api.guard import Guard
from gateway.api.openapi import openapi_document
from gateway.api.operations import OPERATIONS, Handler
from gateway.api.problems import HANDLERS
from gateway.auth.cursors import CursorSealer
from gateway.auth.jwks import JwksCache
from gateway.auth.server_key import load_owner_key, load_server_secret
from gateway.auth.tokens import TokenVerifier
from gateway.changes import ChangeHook
from gateway.errors import StoreError
from gateway.policy.config import load_configured_policy
from gateway.quotas.limits import load_quotas
from gateway.services.assembly import assemble
from gateway.serving.ratelimit import TokenBuckets
from gateway.serving.shutdown import InFlight, Shutdown
from gateway.settings import Settings
from gateway.storage.capabilities import discover
from gateway.storage.readiness import bucket_problem
from gateway.storage.store import KeyObserver, Store
from gateway.telemetry.access import AccessTelemetry
from gateway.telemetry.metrics import Metrics, metrics_endpoint
from gateway.telemetry.request_ids import RequestIds

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The gateway cannot serve with this bucket or configuration."""


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    if request.app.state.shutdown.draining:
        # Load balancers take the replica out while it still serves what they send meanwhile.
        return JSONResponse({"status": "unavailable", "reason": "shutting down"}, status_code=503)
    try:
        problem = await bucket_problem(services(request).store)
    except StoreError as exc:
        problem = exc.detail
    if problem:
        return JSONResponse({"status": "unavailable", "reason": problem}, status_code=503)
    return JSONResponse({"status": "ready"})


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(services(request).policy.names))


class FilePathConvertor(Convertor[str]):
    """Like Starlette's `path`, but also matching decoded newlines, so that they reach the path rules (400)."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("filepath", FilePathConvertor())


def _dispatch(handlers: dict[str, Handler]) -> Handler:
    """One endpoint per path, so that a 405 lists every method the path has in `Allow`."""

    allow = ", ".join(sorted({*handlers, "OPTIONS", *(["HEAD"] if "GET" in handlers else [])}))

    async def endpoint(request: Request) -> Response:
        if request.method == "OPTIONS" and "OPTIONS" not in handlers:
            return Response(status_code=204, headers={"Allow": allow})
        # Starlette adds HEAD wherever there is a GET; unless HEAD is an operation of its own, it is the GET.
        return await (handlers.get(request.method) or handlers["GET"])(request)

    return endpoint


def _api_routes() -> list[Route]:
    by_path: dict[str, dict[str, Handler]] = {}
    for operation in OPERATIONS:
        by_path.setdefault(operation.path, {})[operation.method] = operation.handler
    return [
        Route(
            path.replace("{path}", "{path:filepath}"),
            _dispatch(handlers),
            methods=[*handlers, "OPTIONS"],
            name=path,
        )
        for path, handlers in by_path.items()
    ]


ROUTES = [
    Route("/healthz", healthz, methods=["GET"], include_in_schema=False),
    Route("/readyz", readyz, methods=["GET"], include_in_schema=False),
    Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
    Route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False),
    *_api_routes(),
]


def create_app(
    settings: Settings,
    *,
    credentials: tuple[str, str] | None = None,
    observer: KeyObserver | None = None,
    check_bucket: bool = True,
    hook: ChangeHook | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """Build the ASGI app. `credentials`, `observer`, `hook` (the change hook) and `clock` (the services' idea of
    now; tokens are checked against the real time) exist for embedding and tests."""
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
    quota_policy = load_quotas(settings)
    # `POST /mcp` (gateway/agents/). The MCP SDK takes about a second to import: only an app being built pays it,
    # not every command that merely could serve.
    from gateway.agents.endpoint import AgentEndpoint

    agents = AgentEndpoint()
    # Operations (docs/operations.md): metrics, the per-token rate limit, shutdown.
    metrics = Metrics()
    shutdown = Shutdown(settings.shutdown_drain_seconds)
    limiter = None
    if settings.rate_limit_per_second > 0:
        limiter = TokenBuckets(settings.rate_limit_per_second, settings.rate_limit_burst)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with Store(settings, credentials=credentials, observer=observer, meter=metrics) as store:
            if check_bucket:
                problem = await bucket_problem(store)
                if problem:
                    raise StartupError(problem)
            capabilities = await discover(store, settings)
            cursors = CursorSealer(await load_server_secret(store, settings))
            owner_key = await load_owner_key(store, settings)
            core = assemble(
                store,
                settings,
                policy,
                hook=hook,
                traits=capabilities,
                cursors=cursors,
                owner_key=owner_key,
                quota_policy=quota_policy,
                clock=clock,
            )
            assert core.shares is not None
            app.state.services = Services(
                settings=settings,
                policy=policy,
                store=store,
                verifier=verifier,
                sessions=core.sessions,
                files=core.files,
                past=core.past,
                grants=core.grants,
                shares=core.shares,
                moving=core.moving,
                forking=core.forking,
                exports=core.exports,
                imports=core.imports,
                snapshots=core.snapshots,
                restorer=core.restorer,
                index=core.index,
                activity=core.activity,
                quotas=core.quotas,
                projects=core.projects,
                uploads=core.uploads,
                cursors=cursors,
                capabilities=capabilities,
                owner_key=owner_key,
                limiter=limiter,
                recorders=core.recorders,
            )
            stop = asyncio.Event()
            refreshing = asyncio.create_task(core.activity.run(stop))
            # The audit log flushes in the background; at shutdown, after everything else, what it holds is written.
            async with core.recorders.running():
                try:
                    with shutdown.draining_on_sigterm():
                        async with agents.running():
                            yield
                finally:
                    # Requests cut by the end of the graceful shutdown abort their uploads while the store is open.
                    shutdown.begin()
                    await shutdown.unwound()
                    # Builds of this process record that they were stopped, while the store is still open; what
                    # changed in sessions since the last refresh is written before it closes.
                    await core.exports.close()
                    stop.set()
                    await refreshing
                    await core.index.settle()
        metrics.close()

    # The web console (docs/console.md): static files only, a client of the routes above like any other.
    console = []
    if settings.console:
        from gateway.console.routes import console_routes

        console = console_routes(settings)
    app = Starlette(
        routes=[*ROUTES, agents.route, *console],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestIds),
            Middleware(AccessTelemetry, metrics=metrics),
            Middleware(InFlight, shutdown=shutdown),
            Middleware(Guard),
        ],
    )
    app.state.metrics = metrics
    app.state.shutdown = shutdown
    return app


def create_app_from_env() -> Starlette:
    """The app configured from `GATEWAY_*` variables alone: what each `serve --workers N` process imports."""
    return create_app(Settings.from_env())
