"""Each request measured as it passes: the metrics of `gateway.telemetry.metrics` and one access log line.

The access line (logger `gateway.access`, at info) holds the method, the route template, the status, the duration,
the body bytes received and sent, and (from the log handler) the request id. Never the raw path or query string:
paths hold user names and file names, and query strings may hold secrets. A request that ended without an answer
(the client left first) has status null, and `none` in the metrics.

Bytes are counted as they pass, so a long upload shows in the byte counters while it lasts, not only at its end.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.telemetry.logs import FIELDS
from gateway.telemetry.metrics import DOWNLOAD, UNMATCHED, UPLOAD, Metrics, method_label, route_template

log = logging.getLogger("gateway.access")
# Bytes are added to the counters at least this often during a long body, and at the end.
FLUSH_BYTES = 4 * 1024 * 1024


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        lowered = name.lower()
        if lowered == b"transfer-encoding" or (lowered == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False


class _Exchange:
    """One request's figures while it is served."""

    def __init__(self, metrics: Metrics, scope: Scope) -> None:
        self.metrics = metrics
        self.scope = scope
        self.status: int | None = None
        self.received = self.sent = 0
        self._unflushed_in = self._unflushed_out = 0
        self.uploading = self.downloading = False

    def took_in(self, amount: int) -> None:
        self.received += amount
        self._unflushed_in += amount
        if self._unflushed_in >= FLUSH_BYTES and (route := route_template(self.scope)) != UNMATCHED:
            self.metrics.moved(route, self._unflushed_in, received=True)
            self._unflushed_in = 0

    def gave_out(self, amount: int) -> None:
        self.sent += amount
        self._unflushed_out += amount
        if self._unflushed_out >= FLUSH_BYTES:
            self.metrics.moved(route_template(self.scope), self._unflushed_out, received=False)
            self._unflushed_out = 0

    def stream(self, direction: str, on: bool) -> None:
        attribute = "uploading" if direction == UPLOAD else "downloading"
        if getattr(self, attribute) != on:
            setattr(self, attribute, on)
            self.metrics.stream_series[direction].inc(1 if on else -1)

    def finish(self, seconds: float) -> None:
        self.stream(UPLOAD, False)
        self.stream(DOWNLOAD, False)
        route = route_template(self.scope)
        if self._unflushed_in:
            self.metrics.moved(route, self._unflushed_in, received=True)
        if self._unflushed_out:
            self.metrics.moved(route, self._unflushed_out, received=False)
        method = method_label(str(self.scope.get("method", "")))
        status = "none" if self.status is None else str(self.status)
        self.metrics.answered(method, route, status, seconds)
        fields: dict[str, Any] = {
            "method": method,
            "route": route,
            "status": self.status,
            "duration_ms": round(seconds * 1000, 1),
            "bytes_in": self.received,
            "bytes_out": self.sent,
        }
        log.info(
            "%s %s %s %.1fms in=%d out=%d",
            method,
            route,
            status,
            seconds * 1000,
            self.received,
            self.sent,
            extra={FIELDS: fields},
        )


class AccessTelemetry:
    """ASGI middleware: inside the request id's context (so the access line names it), outside the guard (so it
    sees the guard's 500s)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        exchange = _Exchange(self.metrics, scope)
        exchange.stream(UPLOAD, _has_body(scope))

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                exchange.took_in(len(message.get("body", b"")))
                if not message.get("more_body", False):
                    exchange.stream(UPLOAD, False)
            elif message["type"] == "http.disconnect":
                exchange.stream(UPLOAD, False)
            return message

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = int(message["status"])
            elif message["type"] == "http.response.body":
                exchange.gave_out(len(message.get("body", b"")))
                exchange.stream(DOWNLOAD, bool(message.get("more_body", False)))
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            exchange.finish(time.perf_counter() - started)
