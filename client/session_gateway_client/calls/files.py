"""Files of a session: upload, download (whole, ranges, streamed), information, listings, deletes, tiers,
history, rollback, server-side copies and moves, presigned links."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import httpx

from session_gateway_client import answers
from session_gateway_client.models import (
    CopyReport,
    FilePage,
    FileVersion,
    FolderChange,
    HistoryPage,
    Link,
    MoveReport,
)
from session_gateway_client.operations import UNSET, Call, call
from session_gateway_client.uploads import Body


def upload(
    session_id: str,
    path: str,
    data: Body,
    *,
    content_type: str | None = None,
    tier: str | None = None,
    if_match: str | None = None,
    if_none_match: Literal["*"] | None = None,
) -> Call[FileVersion]:
    """Write a file from bytes, a binary file object (streamed from its position) or an iterable of byte chunks.

    `if_match`: only if the current ETag is this one (PreconditionFailed otherwise); `if_none_match="*"`: only if
    no file exists there."""
    return call(
        "put_file",
        answers.json_as(FileVersion),
        path={"sid": session_id, "path": path},
        headers={"If-Match": if_match, "If-None-Match": if_none_match, "X-Tier": tier},
        body=data,
        media_type=content_type,
    )


def download(session_id: str, path: str, *, version_id: str | None = None, at: datetime | None = None) -> Call[bytes]:
    """A file's bytes, whole (`stream_file` reads them a chunk at a time): the current version, the version
    `version_id`, or the one current at `at`."""
    return call(
        "get_file",
        answers.content,
        path={"sid": session_id, "path": path},
        query={"version_id": version_id, "at": at},
    )


def byte_range(start: int, end: int | None) -> str:
    """An HTTP Range for the bytes `start` (negative: from the end) up to `end` (exclusive), as in slices."""
    if start < 0:
        if end is not None:
            raise ValueError("a range counted from the end (start < 0) goes to the end: leave end out")
        return f"bytes={start}"
    if end is not None and end <= start:
        raise ValueError(f"the range {start}:{end} holds no bytes")
    return f"bytes={start}-{'' if end is None else end - 1}"


def read_range(
    session_id: str,
    path: str,
    start: int,
    end: int | None = None,
    *,
    version_id: str | None = None,
    at: datetime | None = None,
) -> Call[bytes]:
    """The bytes `start:end` of a file, as in a slice (`end` exclusive, None: to the end; `start` < 0: the last
    -start bytes). A start beyond the end is RangeNotSatisfiable."""
    return call(
        "get_file",
        answers.part(start, end),
        path={"sid": session_id, "path": path},
        query={"version_id": version_id, "at": at},
        headers={"Range": byte_range(start, end)},
    )


def open_file(
    session_id: str,
    path: str,
    *,
    version_id: str | None = None,
    at: datetime | None = None,
    start: int | None = None,
    end: int | None = None,
) -> Call[FileVersion]:
    """A GET whose answer is read as it arrives: its headers give the FileVersion (the clients' `stream_file`)."""
    return call(
        "get_file",
        answers.file_from_headers(path),
        path={"sid": session_id, "path": path},
        query={"version_id": version_id, "at": at},
        headers={"Range": None if start is None and end is None else byte_range(start or 0, end)},
    )


def file_info(
    session_id: str, path: str, *, version_id: str | None = None, at: datetime | None = None
) -> Call[FileVersion]:
    """A file's size, type, ETag, version, tier and SHA-256, without its bytes (HEAD)."""
    return call(
        "head_file",
        answers.file_from_headers(path),
        path={"sid": session_id, "path": path},
        query={"version_id": version_id, "at": at},
    )


def list_files_page(
    session_id: str,
    *,
    prefix: str = "",
    delimiter: Literal["/"] | None = None,
    at: datetime | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Call[FilePage]:
    """One page of a session's files in path order, under `prefix`; with `delimiter="/"` the folders directly
    under it are in `prefixes`. With `at`, the files as they were then."""
    query = {"prefix": prefix or None, "delimiter": delimiter, "at": at, "cursor": cursor, "limit": limit}
    return call("list_files", answers.json_as(FilePage), path={"sid": session_id}, query=query)


def delete_file(session_id: str, path: str) -> Call[None]:
    """Delete a file (its history is kept: `rollback` brings a version back)."""
    return call("delete_file", answers.nothing, path={"sid": session_id, "path": path})


def delete_folder(session_id: str, folder: str) -> Call[None]:
    """Delete every file under a folder."""
    folder = folder if folder.endswith("/") else folder + "/"
    return call("delete_file", answers.nothing, path={"sid": session_id, "path": folder}, query={"recursive": True})


def set_tier(session_id: str, path: str, tier: str, *, recursive: bool = False) -> Call[FileVersion | FolderChange]:
    """Re-tag a file with a persistence tier, or (`recursive`) every file under a folder."""

    def read(response: httpx.Response) -> FileVersion | FolderChange:
        body = answers.body_of(response)
        model: type[FileVersion] | type[FolderChange] = FileVersion if "etag" in body else FolderChange
        return answers.json_as(model)(response)

    body = {"tier": tier, "recursive": recursive}
    return call("patch_file", read, path={"sid": session_id, "path": path}, json=body)


def set_folder_tier(session_id: str, folder: str, default_tier: str | None) -> Call[FolderChange]:
    """The tier of new files under a folder that name none (None: the session's again)."""
    folder = folder if folder.endswith("/") else folder + "/"
    return call(
        "patch_file",
        answers.json_as(FolderChange),
        path={"sid": session_id, "path": folder},
        json={"default_tier": default_tier},
    )


def history_page(
    session_id: str, path: str, *, cursor: str | None = None, limit: int | None = None
) -> Call[HistoryPage]:
    """One page of a file's versions, newest first, delete markers included."""
    query = {"path": path, "cursor": cursor, "limit": limit}
    return call("file_history", answers.json_as(HistoryPage), path={"sid": session_id}, query=query)


def rollback(session_id: str, path: str, version_id: str) -> Call[FileVersion]:
    """Make an old version the current one again (as a new version)."""
    body = {"path": path, "version_id": version_id}
    return call("rollback", answers.json_as(FileVersion), path={"sid": session_id}, json=body)


def _transfer(source: str, to: str, to_session: str | None, overwrite: bool) -> dict[str, object]:
    return {"from": source, "to": to, "to_session": UNSET if to_session is None else to_session, "overwrite": overwrite}


def copy(
    session_id: str, source: str, to: str, *, to_session: str | None = None, overwrite: bool = False
) -> Call[CopyReport]:
    """Copy a file or a folder (ending in '/'), here or into another of your sessions, server-side. Existing
    targets are a Conflict unless `overwrite`."""
    body = _transfer(source, to, to_session, overwrite)
    return call("copy_files", answers.json_as(CopyReport), path={"sid": session_id}, json=body)


def move(
    session_id: str, source: str, to: str, *, to_session: str | None = None, overwrite: bool = False
) -> Call[MoveReport]:
    """Move a file or a folder, here or into another of your sessions (the sources' history stays)."""
    body = _transfer(source, to, to_session, overwrite)
    return call("move_files", answers.json_as(MoveReport), path={"sid": session_id}, json=body)


def create_link(
    session_id: str, path: str, *, version_id: str | None = None, expires_in: int | None = None
) -> Call[Link]:
    """A presigned download link served by S3, valid `expires_in` seconds."""
    body = {
        "path": path,
        "version_id": UNSET if version_id is None else version_id,
        "expires_in": UNSET if expires_in is None else expires_in,
    }
    return call("create_link", answers.json_as(Link), path={"sid": session_id}, json=body)
