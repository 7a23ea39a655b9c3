"""The route table: every operation of the HTTP API, with what the OpenAPI document says about it.

The Starlette routes (`gateway.api.app`) and the OpenAPI document (`gateway.api.openapi`) are both made from
`OPERATIONS`, and request and response bodies from the models in `gateway.api.models`, so neither can drift.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from gateway.api import files, imports, sessions
from gateway.api.models import (
    FILE_PATH_PATTERN,
    FOLDER_PATH_PATTERN,
    IMPORT_FOLDER_PATTERN,
    PATH_RULES_IN_WORDS,
    PREFIX_PATTERN,
    SESSION_ID_PATTERN,
    TIER_NAME_SCHEMA,
    VERSION_QUERY_PATTERN,
    FilePage,
    FileVersion,
    FolderChange,
    HistoryPage,
    ImportReport,
    Link,
    LinkInput,
    RollbackInput,
    Session,
    SessionCreate,
    SessionPage,
    SessionUpdate,
    TierChange,
)
from gateway.wire import MAX_PAGE

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Param:
    name: str
    location: Literal["path", "query", "header"]
    description: str
    schema: Mapping[str, Any]
    required: bool = False


@dataclass(frozen=True)
class Reply:
    """A successful answer: a JSON model, the file's bytes, or nothing; with the headers it always or may carry."""

    status: int
    description: str
    model: type[BaseModel] | tuple[type[BaseModel], ...] | None = None  # a tuple: any one of these
    binary: bool = False
    headers: Mapping[str, bool] = field(default_factory=dict)  # name -> always present


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    name: str
    handler: Handler
    summary: str
    replies: tuple[Reply, ...]
    problems: tuple[int, ...]
    params: tuple[Param, ...] = ()
    body: type[BaseModel] | None = None
    body_required: bool = True
    binary_body: bool = False
    # The media type of a binary body: any, or the one the operation reads.
    binary_media: str = "*/*"
    description: str | None = None


def _string(pattern: str | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", **extra}
    if pattern:
        schema["pattern"] = pattern
    return schema


_TIER = {"$ref": f"#/components/schemas/{TIER_NAME_SCHEMA}"}
SID = Param("sid", "path", "Session id", _string(SESSION_ID_PATTERN), required=True)
FILE_PATH = Param(
    "path",
    "path",
    "File path: UTF-8, '/'-separated, no '.' or '..' segments. " + PATH_RULES_IN_WORDS,
    _string(FILE_PATH_PATTERN),
    True,
)
FOLDER_PATH = Param(
    "path", "path", "File path, or a folder path ending in '/'", _string(FOLDER_PATH_PATTERN), required=True
)
VERSION_ID = Param(
    "version_id", "query", "A version from the file's history (empty: the current one)", _string(VERSION_QUERY_PATTERN)
)
LIMIT = Param(
    "limit",
    "query",
    f"Page size, 1 to {MAX_PAGE} (default 100)",
    {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
)
CURSOR = Param("cursor", "query", "The `next_cursor` of the previous page (opaque)", _string())
PREFIX = Param("prefix", "query", "Only paths starting with this (may end mid-name)", _string(PREFIX_PATTERN))
DELIMITER = Param("delimiter", "query", "'/': group by folder; empty: no grouping", {"enum": ["/", ""]})
RECURSIVE = Param("recursive", "query", "Delete everything under a folder path", {"type": "boolean"})
PURGE = Param("purge", "query", "Remove every version for good (not recoverable)", {"type": "boolean"})
TIER_QUERY = Param("tier", "query", "Same as X-Tier (when both are sent they must agree)", _TIER)
X_TIER = Param("X-Tier", "header", "Persistence tier (default: the folder's, the session's, the policy's)", _TIER)
IF_MATCH = Param(
    "If-Match",
    "header",
    "Write only if the current ETag is one of these ('*': if any file exists)",
    {
        "type": "string",
        "pattern": "[^,\\s]",
    },
)
IF_NONE_MATCH_WRITE = Param("If-None-Match", "header", "Write only if no file exists", {"enum": ["*"]})
IF_NONE_MATCH_READ = Param("If-None-Match", "header", "ETags the client has: 304 when one is current", _string())
RANGE = Param("Range", "header", "bytes=START-END, bytes=START- or bytes=-SUFFIX; others get the whole file", _string())
IMPORT_FOLDER = Param(
    "prefix",
    "query",
    "The folder to place the archive's files under (empty: the session's top). " + PATH_RULES_IN_WORDS,
    _string(IMPORT_FOLDER_PATTERN),
)
IF_CONTENT_DIFFERS = Param(
    "if_content_differs", "query", "Write only files whose bytes differ from the current ones", {"type": "boolean"}
)
HISTORY_PATH = Param(
    "path", "query", "The file's path. " + PATH_RULES_IN_WORDS, _string(FILE_PATH_PATTERN), required=True
)

STORE = (502, 503)
_DOWNLOAD_HEADERS = {
    "ETag": True,
    "Last-Modified": True,
    "Content-Disposition": True,
    "X-Content-Type-Options": True,
    "Content-Security-Policy": True,
    "Cache-Control": True,
    "X-Version-Id": False,
    "X-Tier": False,
    "X-Expires-At": False,
}

SESSIONS = "/v1/sessions"
SESSION = "/v1/sessions/{sid}"
FILE = SESSION + "/files/{path}"

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST",
        SESSIONS,
        "create_session",
        sessions.create_session,
        "Create a session",
        (Reply(201, "Created", Session, headers={"Location": True}),),
        (400, 401, 403, 413, 415, *STORE),
        body=SessionCreate,
        body_required=False,
    ),
    Operation(
        "GET",
        SESSIONS,
        "list_sessions",
        sessions.list_sessions,
        "List your sessions, oldest first",
        (Reply(200, "A page", SessionPage),),
        (400, 401, 403, *STORE),
        params=(LIMIT, CURSOR),
    ),
    Operation(
        "GET",
        SESSION,
        "get_session",
        sessions.get_session,
        "Get a session",
        (Reply(200, "The session", Session),),
        (401, 403, 404, *STORE),
        params=(SID,),
    ),
    Operation(
        "PATCH",
        SESSION,
        "update_session",
        sessions.update_session,
        "Rename a session, set its default tier, or merge-patch its metadata",
        (Reply(200, "Updated", Session),),
        (400, 401, 403, 404, 409, 413, 415, *STORE),
        params=(SID,),
        body=SessionUpdate,
        body_required=False,
    ),
    Operation(
        "DELETE",
        SESSION,
        "delete_session",
        sessions.delete_session,
        "Delete a session (recoverable from the bucket's history), or purge every version with purge=true",
        (Reply(204, "Deleted"),),
        (400, 401, 403, 404, *STORE),
        params=(SID, PURGE),
    ),
    Operation(
        "POST",
        SESSION + "/end",
        "end_session",
        sessions.end_session,
        "End a session: read-only from now on; its ephemeral files are deleted (every version)",
        (Reply(200, "The ended session", Session),),
        (401, 403, 404, 409, *STORE),
        params=(SID,),
    ),
    Operation(
        "GET",
        SESSION + "/files",
        "list_files",
        files.list_files,
        "List files, in path order",
        (Reply(200, "A page", FilePage),),
        (400, 401, 403, 404, *STORE),
        params=(SID, PREFIX, DELIMITER, LIMIT, CURSOR),
    ),
    Operation(
        "GET",
        FILE,
        "get_file",
        files.get_file,
        "Download a file (Range and If-None-Match supported)",
        (
            Reply(200, "The bytes", binary=True, headers=_DOWNLOAD_HEADERS),
            Reply(206, "Part of the bytes", binary=True, headers={**_DOWNLOAD_HEADERS, "Content-Range": True}),
            Reply(304, "Not modified", headers={"ETag": True, "Last-Modified": False}),
        ),
        (400, 401, 403, 404, 416, *STORE),
        params=(SID, FILE_PATH, VERSION_ID, RANGE, IF_NONE_MATCH_READ),
    ),
    Operation(
        "HEAD",
        FILE,
        "head_file",
        files.get_file,
        "A file's headers without its bytes",
        (Reply(200, "Headers", headers=_DOWNLOAD_HEADERS),),
        (400, 401, 403, 404, *STORE),
        params=(SID, FILE_PATH, VERSION_ID),
    ),
    Operation(
        "PUT",
        FILE,
        "put_file",
        files.put_file,
        "Upload a file (streamed; multipart above the threshold)",
        (
            Reply(200, "Replaced a file", FileVersion, headers={"ETag": True}),
            Reply(201, "Created a file", FileVersion, headers={"ETag": True, "Location": True}),
        ),
        (400, 401, 403, 404, 409, 412, 413, *STORE),
        params=(SID, FILE_PATH, IF_MATCH, IF_NONE_MATCH_WRITE, X_TIER, TIER_QUERY),
        binary_body=True,
        body_required=False,
    ),
    Operation(
        "DELETE",
        FILE,
        "delete_file",
        files.delete_file,
        "Delete a file (a delete marker; history is kept), or everything under a folder path with recursive=true",
        (Reply(204, "Deleted"),),
        (400, 401, 403, 404, 409, *STORE),
        params=(SID, FOLDER_PATH, RECURSIVE),
        description="A folder path (ending in '/') without `recursive=true` is refused with 400.",
    ),
    Operation(
        "PATCH",
        FILE,
        "patch_file",
        files.patch_file,
        "Re-tag a file, or a folder's files, with a tier; set or clear a folder's default tier",
        (Reply(200, "The re-tagged file, or what changed in the folder", (FileVersion, FolderChange)),),
        (400, 401, 403, 404, 409, 413, 415, *STORE),
        params=(SID, FOLDER_PATH),
        body=TierChange,
        description=(
            "A folder is a path ending in '/', or any path with `recursive: true` (for re-tagging). "
            "`default_tier` (a tier, or null to clear the folder's default) is accepted only on a path ending "
            "in '/': on any other path it is a 400 naming `default_tier`, whatever its value. `tier` on a folder "
            "path needs `recursive: true`."
        ),
    ),
    Operation(
        "GET",
        SESSION + "/history",
        "file_history",
        files.file_history,
        "Versions of one file, newest first",
        (Reply(200, "A page", HistoryPage),),
        (400, 401, 403, 404, *STORE),
        params=(SID, HISTORY_PATH, LIMIT, CURSOR),
    ),
    Operation(
        "POST",
        SESSION + "/rollback",
        "rollback",
        files.rollback,
        "Copy an old version back to the head, as a new version",
        (Reply(200, "The new head", FileVersion, headers={"ETag": True}),),
        (400, 401, 403, 404, 409, 413, 415, *STORE),
        params=(SID,),
        body=RollbackInput,
    ),
    Operation(
        "POST",
        SESSION + "/import",
        "import_archive",
        imports.import_archive,
        "Import a zip archive: each entry becomes a file, or, when anything fails, none does",
        (
            Reply(201, "Files were imported", ImportReport),
            Reply(200, "Nothing was imported: every entry was refused, skipped or unchanged", ImportReport),
        ),
        (400, 401, 403, 404, 409, 413, 415, *STORE),
        params=(SID, IMPORT_FOLDER, IF_CONTENT_DIFFERS),
        binary_body=True,
        binary_media="application/zip",
        description=(
            "Entries that cannot become files (symbolic links, absolute or parent paths, backslashes, drive "
            "letters, names that break the path rules, names equal after NFC normalisation, encrypted entries) "
            "are listed in `refused` with their rule and not written; folders are passed over. An export's "
            "`manifest.json` restores tiers and has each file's SHA-256 checked. Limits on entries, decompressed "
            "bytes and compression ratio are 413 `archive-limit` problems naming the limit; a damaged archive is "
            "400 `invalid-archive`. After any failure no file of the import remains."
        ),
    ),
    Operation(
        "POST",
        SESSION + "/links",
        "create_link",
        files.create_link,
        "Create a presigned download link served by S3 (always an attachment)",
        (Reply(201, "The link", Link, headers={"Cache-Control": True}),),
        (400, 401, 403, 404, 413, 415, *STORE),
        params=(SID,),
        body=LinkInput,
    ),
)
