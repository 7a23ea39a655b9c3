"""Shutting down without leaving anything half-done or cutting requests short for nothing.

On SIGTERM (what Kubernetes, systemd and `docker stop` send) a replica

1. **drains**: `/readyz` answers 503 at once, so load balancers stop sending it new requests, while it still serves
   every request that arrives, for `GATEWAY_SHUTDOWN_DRAIN_SECONDS`;
2. **stops accepting** and lets requests under way (uploads and downloads included) finish, for up to
   `GATEWAY_SHUTDOWN_TIMEOUT_SECONDS` (uvicorn's graceful shutdown);
3. **cuts** what is still running: each cut request unwinds as after any failure (a multipart upload is aborted,
   a single PUT was never sent), and the store stays open until they have, so nothing partial becomes visible;
4. closes the store and exits.

More SIGTERMs during the drain change nothing (a process group, or a supervisor and its workers, may each be
signalled); SIGINT (Ctrl-C) ends or skips the drain. The drain works by standing in front of the
server's own signal handlers (uvicorn's, in each worker process) while the app runs, and handing each signal on,
SIGTERM once the drain is over; an app embedded without them (tests, another server) is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.problems import problem
from gateway.errors import ShuttingDown
from gateway.telemetry.metrics import route_template

log = logging.getLogger(__name__)
Handler = Callable[[int, FrameType | None], object]
# How long cut requests get to unwind (abort their uploads) before the store closes under them.
UNWIND_SECONDS = 10.0


class Shutdown:
    """Whether this app is shutting down, and how many requests it is still serving."""

    def __init__(self, drain_seconds: float) -> None:
        self.drain_seconds = drain_seconds
        self.draining = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def begin(self) -> None:
        if not self.draining:
            self.draining = True
            log.info("shutting down: /readyz answers 503 from now on")

    def entered(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def left(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    async def unwound(self) -> None:
        """Wait (at most `UNWIND_SECONDS`) until no request is being served: those cut at the end of the graceful
        timeout are still aborting their uploads."""
        try:
            await asyncio.wait_for(self._idle.wait(), UNWIND_SECONDS)
        except TimeoutError:
            log.error("%d request(s) still unwinding; closing the store under them", self.in_flight)

    @contextmanager
    def draining_on_sigterm(self) -> Iterator[None]:
        """While the app runs: SIGTERM starts the drain and reaches the server's handler once it is over; SIGINT
        reaches it at once. Either way the app knows from the first moment that it is shutting down."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        loop = asyncio.get_running_loop()
        installed: dict[signal.Signals, tuple[Handler, Handler]] = {}
        stop_at: list[float] = []  # when the drain ends, once SIGTERM started it

        def stand_in(sig: int, server_handler: Handler) -> Handler:
            def handle(signum: int, frame: FrameType | None) -> None:
                self.begin()
                if sig == signal.SIGTERM and self.drain_seconds > 0:
                    if not stop_at:
                        stop_at.append(loop.time() + self.drain_seconds)
                        log.info("SIGTERM: still serving for %.1f s, then stopping", self.drain_seconds)
                        # Signal handlers may not touch the loop directly; this is the one thread-safe way in.
                        loop.call_soon_threadsafe(loop.call_later, self.drain_seconds, server_handler, signum, None)
                        return
                    if loop.time() < stop_at[0]:
                        # Already draining: systemd and `timeout` signal every process of the group, and then the
                        # supervisor of `--workers N` signals each worker again. The drain ends when it was due.
                        return
                server_handler(signum, frame)

            return handle

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            if callable(previous):  # the server's own handler; an embedded app is left alone
                handle = stand_in(sig, previous)
                signal.signal(sig, handle)
                installed[sig] = (handle, previous)
        try:
            yield
        finally:
            for signum, (handle, server_handler) in installed.items():
                if signal.getsignal(signum) is handle:
                    signal.signal(signum, server_handler)


class InFlight:
    """ASGI middleware: counts the requests being served, for `Shutdown.unwound`, and answers one cut by the end of
    the graceful shutdown with a 503 problem (the server would answer a bare 500)."""

    def __init__(self, app: ASGIApp, shutdown: Shutdown) -> None:
        self.app = app
        self.shutdown = shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watching(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        self.shutdown.entered()
        try:
            await self.app(scope, receive, watching)
        except asyncio.CancelledError:
            if not self.shutdown.draining:
                raise
            # The server cut this request: it has unwound (uploads aborted) by now. The request task ends here.
            log.warning("%s %s cut by the shutdown", scope.get("method"), route_template(scope))
            if not started:
                error = ShuttingDown()
                answer = problem(error.status, error.slug, error.title, error.detail, headers=error.headers)
                with contextlib.suppress(Exception):
                    await answer(scope, receive, send)
        finally:
            self.shutdown.left()
