"""Opening a session to others (grants to users of the tenant, share links to anyone), and exports as zips."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from session_gateway_client import answers
from session_gateway_client.models import (
    ExportStatus,
    Grant,
    GrantPage,
    Share,
    SharePage,
)
from session_gateway_client.operations import UNSET, Call, call, query_text


def create_grant(
    session_id: str,
    user: str,
    access: Literal["read", "write"],
    *,
    prefix: str = "",
    expires_at: datetime | None = None,
) -> Call[Grant]:
    """Open this session (or the folder `prefix`) to another user of your tenant."""
    body = {
        "user": user,
        "access": access,
        "prefix": prefix,
        "expires_at": UNSET if expires_at is None else query_text(expires_at),
    }
    return call("create_grant", answers.json_as(Grant), path={"sid": session_id}, json=body)


def list_grants(session_id: str) -> Call[tuple[Grant, ...]]:
    return call("list_grants", answers.items_of(GrantPage), path={"sid": session_id})


def revoke_grant(session_id: str, grant_id: str) -> Call[None]:
    return call("revoke_grant", answers.nothing, path={"sid": session_id, "grant_id": grant_id})


def list_shared() -> Call[tuple[Grant, ...]]:
    """The live grants other users gave you."""
    return call("list_shared", answers.items_of(GrantPage))


def create_share(
    session_id: str,
    *,
    path: str | None = None,
    prefix: str | None = None,
    version_id: str | None = None,
    expires_in: int | None = None,
    max_downloads: int | None = None,
) -> Call[Share]:
    """A share link to a file (`path`, optionally one version) or a folder (`prefix`, as a zip), opened without a
    login; it lasts `expires_in` seconds (None: until revoked) and `max_downloads` openings."""
    body = {
        "path": path,
        "prefix": prefix,
        "version_id": version_id,
        "expires_in": expires_in,
        "max_downloads": max_downloads,
    }
    members = {name: value for name, value in body.items() if value is not None}
    return call("create_share", answers.json_as(Share), path={"sid": session_id}, json=members)


def list_shares(session_id: str) -> Call[tuple[Share, ...]]:
    return call("list_shares", answers.items_of(SharePage), path={"sid": session_id})


def revoke_share(session_id: str, share_id: str) -> Call[None]:
    return call("revoke_share", answers.nothing, path={"sid": session_id, "share_id": share_id})


# Exports


def export_zip(
    session_id: str,
    *,
    prefix: str = "",
    paths: Sequence[str] = (),
    at: datetime | None = None,
    redact: bool = False,
) -> Call[None]:
    """A zip of files (under `prefix`, only `paths` when given, as they were at `at`), made while it is sent
    (the clients' `stream_export`)."""
    query = {"prefix": prefix or None, "path": list(paths), "at": at, "redact": redact or None}
    return call("export_zip", answers.nothing, path={"sid": session_id}, query=query)


def start_export(
    session_id: str,
    *,
    prefix: str = "",
    paths: Sequence[str] = (),
    at: datetime | None = None,
    redact: bool = False,
) -> Call[ExportStatus]:
    """Build the same zip into the bucket; `get_export` gives its status, and its link once done."""
    body = {
        "prefix": prefix,
        "paths": list(paths),
        "at": UNSET if at is None else query_text(at),
        "redact": redact,
    }
    return call("start_export", answers.json_as(ExportStatus), path={"sid": session_id}, json=body)


def get_export(session_id: str, export_id: str) -> Call[ExportStatus]:
    return call("get_export", answers.json_as(ExportStatus), path={"sid": session_id, "export_id": export_id})
