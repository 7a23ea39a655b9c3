"""How values look in the JSON API."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.errors import BadRequest

MAX_PAGE = 1000
DEFAULT_PAGE = 100


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def page_limit(raw: str | None, default: int = DEFAULT_PAGE) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_PAGE}") from exc
    if not 1 <= value <= MAX_PAGE:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_PAGE}")
    return value
