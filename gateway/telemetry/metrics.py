"""What `GET /metrics` tells Prometheus: requests by route template and status, latencies, S3 calls and their
errors by operation, bytes in and out, and the uploads and downloads under way.

Labels never hold what a request names: routes are the route table's templates (`/v1/sessions/{sid}/files/{path}`,
never a user's path or session id), methods outside HTTP's usual few are `other`, S3 errors are the gateway's
problem types. So the number of series is bounded whatever the traffic, and the page can be shown to anyone who
may see the deployment's load.

Under `serve --workers N` each process writes its figures to files in `PROMETHEUS_MULTIPROC_DIR` (prometheus-client's
multiprocess mode; `serve` makes the directory) and `/metrics`, whichever process answers it, adds all of them up:
one scrape per replica covers every process. A single process keeps its figures in memory.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from gateway.errors import GatewayError, NotModified
from gateway.settings import metrics_multiprocess_dir

CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Requests range from a tag read to a multi-GB upload: the buckets reach minutes.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
S3_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
UPLOAD = "upload"
DOWNLOAD = "download"
# `{path:filepath}` in a route's pattern is `{path}` in the route table and in the label.
_CONVERTOR = re.compile(r":[^{}]*\}")


def route_template(scope: Scope) -> str:
    """The template of the route a request matched (set by Starlette's router), or `unmatched`: never its path."""
    path = getattr(scope.get("route"), "path", None)
    return _template(path) if isinstance(path, str) and path else UNMATCHED


@functools.lru_cache(maxsize=512)
def _template(pattern: str) -> str:
    # Patterns come from the route table, so the cache holds each route once.
    return _CONVERTOR.sub("}", pattern)


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


def error_label(error: Exception) -> str:
    """An S3 failure as the gateway's problem type (`not-found`, `store-unavailable`, ...)."""
    if isinstance(error, GatewayError):
        return error.slug
    if isinstance(error, NotModified):
        return "not-modified"
    return "other"


class Metrics:
    """One app's metrics, in a registry of their own (several apps may share a test process)."""

    def __init__(self) -> None:
        self.multiprocess_dir = metrics_multiprocess_dir()
        registry = self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_http_requests",
            "HTTP requests answered, by method, route template and status ('none': the client left before an answer)",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "gateway_http_request_duration_seconds",
            "time from a request's arrival to its answer's last byte, by method and route template",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        )
        self.received = Counter(
            "gateway_http_received_bytes",
            "request body bytes received, by route template",
            ["route"],
            registry=registry,
        )
        self.sent = Counter(
            "gateway_http_sent_bytes", "response body bytes sent, by route template", ["route"], registry=registry
        )
        self.streams = Gauge(
            "gateway_streams_in_progress",
            "request bodies being received (upload) and responses being streamed (download) right now",
            ["direction"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.s3_calls = Counter(
            "gateway_s3_requests",
            "S3 calls made, by operation (retries inside one call count once)",
            ["operation"],
            registry=registry,
        )
        self.s3_errors = Counter(
            "gateway_s3_errors",
            "S3 calls that failed, by operation and the gateway's problem type for the failure",
            ["operation", "error"],
            registry=registry,
        )
        self.s3_duration = Histogram(
            "gateway_s3_request_duration_seconds",
            "time an S3 call took until its answer's headers (retries included), by operation",
            ["operation"],
            buckets=S3_BUCKETS,
            registry=registry,
        )
        # Labelled series, looked up once: `labels()` takes a lock and checks its arguments on every call.
        self.stream_series = {direction: self.streams.labels(direction) for direction in (UPLOAD, DOWNLOAD)}
        self._answered: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._bytes: dict[tuple[str, bool], Any] = {}

    def answered(self, method: str, route: str, status: str, seconds: float) -> None:
        """One request done: counted by method, route and status, timed by method and route."""
        key = (method, route, status)
        series = self._answered.get(key)
        if series is None:
            series = self._answered[key] = (self.requests.labels(*key), self.duration.labels(method, route))
        series[0].inc()
        series[1].observe(seconds)

    def moved(self, route: str, amount: int, *, received: bool) -> None:
        """Body bytes received from or sent to clients."""
        key = (route, received)
        series = self._bytes.get(key)
        if series is None:
            series = self._bytes[key] = (self.received if received else self.sent).labels(route)
        series.inc(amount)

    def s3_call(self, operation: str, seconds: float, error: Exception | None) -> None:
        """The store's `CallMeter`."""
        self.s3_calls.labels(operation).inc()
        self.s3_duration.labels(operation).observe(seconds)
        if error is not None:
            self.s3_errors.labels(operation, error_label(error)).inc()

    def exposition(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        # Every process's files, this one's included: the figures of the whole replica.
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(collected)

    def close(self) -> None:
        """This process stops serving: its uploads and downloads under way no longer count."""
        if self.multiprocess_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.exposition(), media_type=CONTENT_TYPE)
