"""How `serve` runs uvicorn: logs in the chosen format, no raw access log, the graceful shutdown timeout, and under
`--workers N` a directory where the processes' metrics meet."""

from __future__ import annotations

import logging.config
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from gateway.api.protocol import HttpProtocol
from gateway.settings import Settings, metrics_multiprocess_dir
from gateway.telemetry.logs import logging_config


def log_format_for(settings: Settings, *, dev: bool) -> str:
    """JSON lines for machines, unless asked otherwise; text for someone trying `serve --dev` in a terminal."""
    return settings.log_format or ("text" if dev else "json")


def configure_logging(log_format: str, level: str) -> None:
    """The same configuration uvicorn applies in each process it starts, applied now for what happens before."""
    logging.config.dictConfig(logging_config(log_format, level))


def run(app: Any, settings: Settings, *, workers: int, log_level: str, log_format: str) -> None:
    """Serve `app` (an ASGI app, or with several workers the import string of a factory) until stopped."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": log_level,
        "log_config": logging_config(log_format, log_level),
        "access_log": False,
        "lifespan": "on",
        "http": HttpProtocol,
        "timeout_graceful_shutdown": settings.shutdown_timeout_seconds,
    }
    if workers == 1:
        uvicorn.run(app, **options)
        return
    with _metrics_directory():
        # Each worker process builds its own app (and S3 client) from the same environment.
        uvicorn.run(app, factory=True, workers=workers, **options)


@contextmanager
def _metrics_directory() -> Iterator[None]:
    """A fresh, empty directory for the workers' metric files (prometheus-client's multiprocess mode), unless the
    operator named one; the workers inherit it through the environment."""
    if metrics_multiprocess_dir() is not None:
        yield
        return
    made = tempfile.mkdtemp(prefix="session-gateway-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    try:
        yield
    finally:
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        shutil.rmtree(made, ignore_errors=True)
