"""The query string of `GET /v1/sessions` as a `SessionQuery`; every refusal names its parameter."""

from __future__ import annotations

import unicodedata

from starlette.datastructures import QueryParams

from gateway.errors import InvalidParameter
from gateway.index.query import CREATED, MAX_QUERY_CHARS, SORTS, SessionQuery
from gateway.index.summaries import canonical_time, folded
from gateway.services.session_records import STATES
from gateway.wire import moment

ORDERS = ("asc", "desc")


def _text(name: str, value: str) -> str:
    if len(value) > MAX_QUERY_CHARS or any(ord(c) < 0x20 for c in value):
        raise InvalidParameter(name, f"at most {MAX_QUERY_CHARS} characters, without control characters")
    return value


def _one(params: QueryParams, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise InvalidParameter(name, "give it once")
    return _text(name, values[0]) if values and values[0] else None


def _time(params: QueryParams, name: str) -> str | None:
    if params.get(name) == "":
        raise InvalidParameter(name, "must be an RFC 3339 date-time with a time zone, such as 2026-01-31T12:00:00Z")
    raw = _one(params, name)
    if raw is None:
        return None
    try:
        return canonical_time(moment(raw))
    except ValueError as exc:
        raise InvalidParameter(name, str(exc)) from None


def session_query(params: QueryParams) -> SessionQuery:
    states: set[str] = set()
    for raw in params.getlist("state"):
        for state in filter(None, raw.split(",")):
            if state not in STATES:
                raise InvalidParameter("state", f"one or more of {', '.join(STATES)}, separated by commas")
            states.add(state)
    tags = [_text("tag", tag) for tag in params.getlist("tag") if tag]
    sort = _one(params, "sort") or CREATED
    if sort not in SORTS:
        raise InvalidParameter("sort", f"one of {', '.join(SORTS)}")
    order = _one(params, "order") or "asc"
    if order not in ORDERS:
        raise InvalidParameter("order", f"one of {', '.join(ORDERS)}")
    text = _one(params, "q")
    return SessionQuery(
        states=frozenset(states),
        tags=tuple(unicodedata.normalize("NFC", tag) for tag in tags),
        project=_one(params, "project"),
        text=folded(text) if text is not None else None,
        external_id=_one(params, "external_id"),
        created_after=_time(params, "created_after"),
        created_before=_time(params, "created_before"),
        active_after=_time(params, "active_after"),
        active_before=_time(params, "active_before"),
        sort=sort,
        descending=order == "desc",
    )
