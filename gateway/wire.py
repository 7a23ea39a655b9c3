"""How values look in the JSON API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

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


_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def moment(raw: object) -> datetime:
    """An RFC 3339 date-time (an offset is required) as an aware time in UTC; ValueError for anything else.

    Every moment RFC 3339 can write is accepted: a leap second counts as the last second of its minute, and moments
    outside Python's years 1 to 9999 become the earliest or latest time it has.
    """
    match = _RFC3339.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise ValueError("must be an RFC 3339 date-time with an offset, such as 2026-01-31T09:30:00Z")
    year, month, day, hour, minute, second = (int(match[group]) for group in range(1, 7))
    micro = int((match[7][1:] + "000000")[:6]) if match[7] else 0
    offset = match[8]
    shift = timedelta(0) if offset in ("Z", "z") else timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    shift = -shift if offset.startswith("-") else shift
    if year == 0:
        return EARLIEST
    try:
        local = datetime(year, month, day, hour, minute, min(second, 59), micro)
    except ValueError as exc:
        raise ValueError("is not a date and time of the calendar") from exc
    if hour > 23 or (offset not in ("Z", "z") and (int(offset[1:3]) > 23 or int(offset[4:6]) > 59)):
        raise ValueError("is not a date and time of the calendar")
    try:
        return (local - shift).replace(tzinfo=UTC)
    except OverflowError:
        return EARLIEST if shift > timedelta(0) else LATEST
