"""The one description of the HTTP operations this client uses, and of a request ready to send.

`ENDPOINTS` names each operation as the gateway's OpenAPI document does (its `operationId`), with its method, path
template, and every query parameter, header and JSON body member the client may send. A `Call` is one request
built from an endpoint; it refuses anything the endpoint does not declare, so a test that holds `ENDPOINTS` to a
live gateway's `/openapi.json` covers every request the client can make. Both clients send the same calls.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Generic, TypeVar

import httpx

from session_gateway_client import models, paths
from session_gateway_client.uploads import Body

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
Json = Mapping[str, object]


class Unset(Enum):
    """A member left out of a JSON body (None would send null, which clears some members)."""

    UNSET = "unset"


UNSET = Unset.UNSET
QueryValue = str | int | bool | datetime | Iterable[str] | None


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    template: str
    query: frozenset[str] = frozenset()
    headers: frozenset[str] = frozenset()
    json: frozenset[str] | None = None  # the body members the client may send; None: no JSON body
    binary_body: bool = False
    returns: tuple[type, ...] = ()  # the models of its JSON answers; () for bytes or nothing

    @property
    def path_params(self) -> frozenset[str]:
        return frozenset(name for _, name, _, _ in string.Formatter().parse(self.template) if name)


def _endpoint(
    name: str,
    method: str,
    template: str,
    *,
    query: Iterable[str] = (),
    headers: Iterable[str] = (),
    json: Iterable[str] | None = None,
    binary_body: bool = False,
    returns: tuple[type, ...] = (),
) -> Endpoint:
    return Endpoint(
        name,
        method,
        template,
        frozenset(query),
        frozenset(headers),
        None if json is None else frozenset(json),
        binary_body,
        returns,
    )


SESSIONS = "/v1/sessions"
SESSION = SESSIONS + "/{sid}"
FILE = SESSION + "/files/{path}"
_PAGE = ("limit", "cursor")
_FILTERS = ("state", "tag", "q", "external_id", "created_after", "created_before", "active_after", "active_before")
_ORDER = ("sort", "order")
_SESSION_BODY = ("name", "metadata", "default_tier", "tags", "external_ids")
_AT = ("version_id", "at")

ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        _endpoint("create_session", "POST", SESSIONS, json=_SESSION_BODY, returns=(models.Session,)),
        _endpoint(
            "create_project_session",
            "POST",
            "/v1/projects/{pid}/sessions",
            json=_SESSION_BODY,
            returns=(models.Session,),
        ),
        _endpoint(
            "list_sessions",
            "GET",
            SESSIONS,
            query=(*_PAGE, *_FILTERS, "project", *_ORDER),
            returns=(models.SessionPage,),
        ),
        _endpoint("get_session", "GET", SESSION, returns=(models.Session,)),
        _endpoint("update_session", "PATCH", SESSION, json=_SESSION_BODY, returns=(models.Session,)),
        _endpoint("delete_session", "DELETE", SESSION, query=("purge",)),
        _endpoint("end_session", "POST", SESSION + "/end", returns=(models.Session,)),
        _endpoint("archive_session", "POST", SESSION + "/archive", returns=(models.Session,)),
        _endpoint("reactivate_session", "POST", SESSION + "/reactivate", returns=(models.Session,)),
        _endpoint("fork_session", "POST", SESSION + "/fork", json=("name", "at"), returns=(models.Session,)),
        _endpoint(
            "copy_files",
            "POST",
            SESSION + "/copy",
            json=("from", "to", "to_session", "overwrite"),
            returns=(models.CopyReport,),
        ),
        _endpoint(
            "move_files",
            "POST",
            SESSION + "/move",
            json=("from", "to", "to_session", "overwrite"),
            returns=(models.MoveReport,),
        ),
        _endpoint(
            "list_files",
            "GET",
            SESSION + "/files",
            query=("prefix", "delimiter", "at", *_PAGE),
            returns=(models.FilePage,),
        ),
        _endpoint("get_file", "GET", FILE, query=_AT, headers=("Range",)),
        _endpoint("head_file", "HEAD", FILE, query=_AT),
        _endpoint(
            "put_file",
            "PUT",
            FILE,
            headers=("If-Match", "If-None-Match", "X-Tier"),
            binary_body=True,
            returns=(models.FileVersion,),
        ),
        _endpoint("delete_file", "DELETE", FILE, query=("recursive",)),
        _endpoint(
            "patch_file",
            "PATCH",
            FILE,
            json=("tier", "recursive", "default_tier"),
            returns=(models.FileVersion, models.FolderChange),
        ),
        _endpoint("file_history", "GET", SESSION + "/history", query=("path", *_PAGE), returns=(models.HistoryPage,)),
        _endpoint(
            "rollback", "POST", SESSION + "/rollback", json=("path", "version_id"), returns=(models.FileVersion,)
        ),
        _endpoint(
            "create_link",
            "POST",
            SESSION + "/links",
            json=("path", "version_id", "expires_in"),
            returns=(models.Link,),
        ),
        _endpoint(
            "create_grant",
            "POST",
            SESSION + "/grants",
            json=("user", "access", "prefix", "expires_at"),
            returns=(models.Grant,),
        ),
        _endpoint("list_grants", "GET", SESSION + "/grants", returns=(models.GrantPage,)),
        _endpoint("revoke_grant", "DELETE", SESSION + "/grants/{grant_id}"),
        _endpoint("list_shared", "GET", "/v1/shared", returns=(models.GrantPage,)),
        _endpoint(
            "create_share",
            "POST",
            SESSION + "/shares",
            json=("path", "prefix", "version_id", "expires_in", "max_downloads"),
            returns=(models.Share,),
        ),
        _endpoint("list_shares", "GET", SESSION + "/shares", returns=(models.SharePage,)),
        _endpoint("revoke_share", "DELETE", SESSION + "/shares/{share_id}"),
        _endpoint("export_zip", "GET", SESSION + "/export.zip", query=("prefix", "path", "at", "redact")),
        _endpoint(
            "start_export",
            "POST",
            SESSION + "/exports",
            json=("prefix", "paths", "at", "redact"),
            returns=(models.ExportStatus,),
        ),
        _endpoint("get_export", "GET", SESSION + "/exports/{export_id}", returns=(models.ExportStatus,)),
    )
}


@dataclass(frozen=True)
class Call(Generic[T_co]):
    """One request, ready for either client to send, and how to read its successful answer."""

    endpoint: Endpoint
    url: str
    read: Callable[[httpx.Response], T_co]
    params: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Json | None = None
    body: Body | None = None


def query_text(value: str | int | bool | datetime) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value!r} has no time zone; the gateway needs an RFC 3339 time with an offset")
        return value.isoformat()
    return str(value)


def call(
    name: str,
    read: Callable[[httpx.Response], T],
    *,
    path: Mapping[str, str] | None = None,
    query: Mapping[str, QueryValue] | None = None,
    headers: Mapping[str, str | None] | None = None,
    json: Mapping[str, object] | None = None,
    body: Body | None = None,
    media_type: str | None = None,
) -> Call[T]:
    """A call of the endpoint `name`: path values encoded, None (and UNSET) left out, everything else checked
    against what the endpoint declares."""
    endpoint = ENDPOINTS[name]
    path = path or {}
    _declared(name, "path parameter", path, endpoint.path_params, exact=True)
    url = endpoint.template.format_map(
        {key: paths.file_path(value) if key == "path" else paths.segment(value) for key, value in path.items()}
    )
    params: list[tuple[str, str]] = []
    for key, value in (query or {}).items():
        _declared(name, "query parameter", [key], endpoint.query)
        if value is None:
            continue
        if isinstance(value, str | int | bool | datetime):
            params.append((key, query_text(value)))
        else:
            params.extend((key, item) for item in value)
    sent = {key: value for key, value in (headers or {}).items() if value is not None}
    _declared(name, "header", sent, endpoint.headers)
    if media_type is not None:
        sent["Content-Type"] = media_type
    members = None
    if json is not None:
        members = {key: value for key, value in json.items() if value is not UNSET}
        _declared(name, "body member", members, endpoint.json or frozenset())
    if body is not None and not endpoint.binary_body:
        raise TypeError(f"{name} takes no binary body")
    return Call(endpoint, url, read, tuple(params), sent, members, body)


def _declared(name: str, kind: str, given: Iterable[str], declared: frozenset[str], *, exact: bool = False) -> None:
    unknown = set(given) - declared
    missing = declared - set(given) if exact else set()
    if unknown or missing:
        raise TypeError(f"{name}: {kind}s {sorted(unknown | missing)} do not match the endpoint's {sorted(declared)}")
