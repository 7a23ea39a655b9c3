"""What the gateway answers, as typed, frozen dataclasses named after the schemas of its OpenAPI document.

Times are timezone-aware datetimes; lists are tuples. A test holds every model to the schema of the same name in a
live gateway's `/openapi.json`: the same members, and null allowed where the document allows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from session_gateway_client.decoding import JSON_NAME

SessionState = Literal["active", "ended", "archived"]
T_co = TypeVar("T_co", covariant=True)


class Page(Protocol[T_co]):
    """One page of a listing; `next_cursor` continues it (None on the last page)."""

    @property
    def items(self) -> tuple[T_co, ...]: ...

    @property
    def next_cursor(self) -> str | None: ...


@dataclass(frozen=True, kw_only=True)
class SessionSummary:
    """A session as listings show it (no metadata, no folder tiers)."""

    id: str
    name: str | None
    created_at: datetime
    updated_at: datetime
    state: SessionState
    ended_at: datetime | None
    archived_at: datetime | None = None
    last_activity_at: datetime
    # The next three may lag the files by the gateway's activity interval.
    file_count: int
    bytes: int
    tags: tuple[str, ...]
    external_ids: tuple[str, ...]
    project: str | None
    default_tier: str | None


@dataclass(frozen=True, kw_only=True)
class Session(SessionSummary):
    metadata: dict[str, Any]
    folder_tiers: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class SessionPage:
    items: tuple[SessionSummary, ...]
    next_cursor: str | None


@dataclass(frozen=True, kw_only=True)
class FileVersion:
    """One version of a file: as written, read (from a HEAD or GET's headers) or rolled back."""

    path: str
    version_id: str | None
    etag: str
    size: int
    content_type: str
    last_modified: datetime
    tier: str | None
    expires_at: datetime | None
    sha256: str | None


@dataclass(frozen=True, kw_only=True)
class FileEntry:
    """A file in a listing (listings carry no content type)."""

    path: str
    version_id: str | None
    etag: str
    size: int
    last_modified: datetime
    tier: str | None
    expires_at: datetime | None
    sha256: str | None


@dataclass(frozen=True, kw_only=True)
class FilePage:
    items: tuple[FileEntry, ...]
    # With delimiter '/': the folders directly under the prefix, each ending in '/'.
    prefixes: tuple[str, ...]
    next_cursor: str | None


@dataclass(frozen=True, kw_only=True)
class HistoryEntry:
    version_id: str
    is_latest: bool
    is_delete_marker: bool
    size: int | None
    etag: str | None
    last_modified: datetime
    tier: str | None
    sha256: str | None


@dataclass(frozen=True, kw_only=True)
class HistoryPage:
    path: str
    items: tuple[HistoryEntry, ...]
    next_cursor: str | None


@dataclass(frozen=True, kw_only=True)
class FolderChange:
    """What re-tiering a folder changed: the session's folder tiers and/or how many files got `tier`."""

    path: str
    folder_tiers: dict[str, str] | None = None
    tier: str | None = None
    files: int | None = None


@dataclass(frozen=True, kw_only=True)
class Link:
    """A presigned download link, served by S3 until `expires_at`."""

    url: str
    expires_at: datetime
    path: str


@dataclass(frozen=True, kw_only=True)
class Share:
    """A share link: anyone holding `url` may download, without a login, until revoked, expired or used up."""

    id: str
    url: str
    session_id: str
    path: str | None
    prefix: str | None
    version_id: str | None
    created_at: datetime
    expires_at: datetime | None
    max_downloads: int | None
    downloads: int


@dataclass(frozen=True, kw_only=True)
class SharePage:
    items: tuple[Share, ...]


@dataclass(frozen=True, kw_only=True)
class Grant:
    id: str
    session_id: str
    owner: str
    user: str
    access: Literal["read", "write"]
    prefix: str
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class GrantPage:
    items: tuple[Grant, ...]


@dataclass(frozen=True, kw_only=True)
class Transfer:
    """One file copied or moved: from where, to where, and its new version."""

    source: str = field(metadata={JSON_NAME: "from"})
    to: str
    version_id: str | None


@dataclass(frozen=True, kw_only=True)
class CopyReport:
    to_session: str
    copied: tuple[Transfer, ...]


@dataclass(frozen=True, kw_only=True)
class MoveReport:
    to_session: str
    moved: tuple[Transfer, ...]


@dataclass(frozen=True, kw_only=True)
class ExportStatus:
    """An export built into the bucket; `url` once done, `error` once failed."""

    id: str
    status: Literal["pending", "running", "done", "failed"]
    created_at: datetime
    expires_at: datetime
    size: int | None
    url: str | None = None
    error: str | None = None
