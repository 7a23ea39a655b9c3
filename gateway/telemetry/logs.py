"""Log lines on stderr: one JSON object per line (the default outside `serve --dev`) or plain text.

Every line written while a request is served names its request id (`X-Request-Id`), whichever logger wrote it:
the id comes from the request's context, added by a filter on the one handler. JSON lines hold `time` (RFC 3339,
UTC, milliseconds), `level`, `logger`, `message`, `request_id` (null outside a request), `exception` (a
traceback) when there is one, and the access log's fields on its lines (`gateway.telemetry.access`).

`logging_config` is a `logging.config.dictConfig` dictionary, so that uvicorn applies it in every worker process of
`serve --workers N` as well.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from gateway.telemetry.request_ids import current_request_id

# Fields an access line adds to its record (`extra={"fields": {...}}`), written beside the message in JSON.
FIELDS = "fields"
LEVELS = ("critical", "error", "warning", "info", "debug")


class RequestIdFilter(logging.Filter):
    """Names the request being served on every record that passes the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        fields = getattr(record, FIELDS, None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        # Non-ASCII stays readable; json escapes control characters, and the two separators some readers break
        # lines at are escaped here, so one record is always one line.
        text = json.dumps(line, ensure_ascii=False, default=str)
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """Every logger (uvicorn's too) through one stderr handler in `log_format` (json or text), at `level` and
    above. uvicorn's own access log stays off: it writes raw paths and query strings (user names, file names,
    share tokens); the gateway's access log names route templates instead."""
    name = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {
            "json": {"()": f"{__name__}.JsonFormatter"},
            "text": {"()": f"{__name__}.TextFormatter"},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": log_format,
                "filters": ["request_id"],
            }
        },
        "root": {"level": name, "handlers": ["stderr"]},
        "loggers": {
            "uvicorn": {"level": name, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": name, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            # One line per S3 call at debug, and credentials resolution at info: not the gateway's story.
            "botocore": {"level": "WARNING"},
            "aiobotocore": {"level": "WARNING"},
        },
    }
