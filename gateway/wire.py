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


# RFC 3339's date-time: a full date, 'T' (or a space, which it allows), a time with optional fractions, and a zone.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def moment(raw: object) -> datetime:
    """An RFC 3339 date-time as an aware UTC datetime; ValueError says what is wrong.

    Stricter than `datetime.fromisoformat`, which also takes forms RFC 3339 does not (no zone, week dates). A leap
    second (:60) is read as the last microsecond of the minute before it; moments beyond Python's range are clamped
    to its ends, since no file was written then.
    """
    match = _RFC3339.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise ValueError("must be an RFC 3339 date-time with a time zone, such as 2026-01-31T12:00:00Z")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = match.group(7) or ""
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    if second == 60:
        second, micro = 59, 999_999
    offset = timedelta(0)
    if match.group(8) is None:
        hours, minutes = int(match.group(10)), int(match.group(11))
        if hours > 23 or minutes > 59:
            raise ValueError("has a time zone offset out of range")
        offset = timedelta(hours=hours, minutes=minutes) * (-1 if match.group(9) == "-" else 1)
    try:
        local = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"is not a valid date and time ({exc})") from None
    try:
        return local - offset
    except OverflowError:
        return (datetime.min if offset > timedelta(0) else datetime.max).replace(tzinfo=UTC)


def past_moment(raw: str | None, now: datetime) -> datetime | None:
    """The moment (`at`) a client asked to see the files at, or None when it sent none; ValueError says what is
    wrong. Not in the future: the files of a moment to come are not known yet."""
    if raw is None:
        return None
    found = moment(raw)
    if found > now:
        raise ValueError("is in the future; the files of a moment to come are not known yet")
    return found
