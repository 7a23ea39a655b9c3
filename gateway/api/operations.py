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

from gateway.api import (
    audit,
    exports,
    files,
    grants,
    imports,
    moving,
    projects,
    recovery,
    sessions,
    shares,
    uploads,
    usage,
)
from gateway.api.audit_models import AuditPage, EventPage
from gateway.api.models import (
    FILE_PATH_PATTERN,
    FOLDER_PATH_PATTERN,
    IMPORT_FOLDER_PATTERN,
    PATH_RULES_IN_WORDS,
    PREFIX_PATTERN,
    SESSION_ID_PATTERN,
    TIER_NAME_SCHEMA,
    VERSION_QUERY_PATTERN,
    CopyReport,
    ExportRequest,
    ExportStatus,
    FilePage,
    FileVersion,
    FolderChange,
    ForkInput,
    Grant,
    GrantInput,
    GrantPage,
    HistoryPage,
    ImportReport,
    Link,
    LinkInput,
    MoveReport,
    RollbackInput,
    Session,
    SessionCreate,
    SessionPage,
    SessionUpdate,
    Share,
    ShareInput,
    SharePage,
    TierChange,
    TransferInput,
)
from gateway.api.project_models import (
    PROJECT_ID_PATTERN,
    PROJECT_RULES,
    ExtendInput,
    Project,
    ProjectCreate,
    ProjectPage,
    ProjectUpdate,
)
from gateway.api.recovery_models import (
    RESTORE_RULES,
    SNAPSHOT_NAME_PATTERN,
    RestoreInput,
    RestoreResult,
    Snapshot,
    SnapshotDetail,
    SnapshotInput,
    SnapshotPage,
    SnapshotRestoreInput,
)
from gateway.api.usage_models import Usage
from gateway.index.query import MAX_QUERY_CHARS
from gateway.services.snapshot import MAX_SELECTED_PATHS
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
    # Answered without a token (a share link's id is its own credential).
    public: bool = False


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
_TIME = {"type": "string", "format": "date-time"}
# Query text: at most 256 characters, without control characters (gateway/api/session_query.py).
_QUERY_TEXT = _string(r"^[^\u0000-\u001f]*$", maxLength=MAX_QUERY_CHARS)
SESSION_FILTERS = (
    Param(
        "state",
        "query",
        "Only sessions in these states (comma-separated: active, ended, archived)",
        _string(r"^(active|ended|archived)?(,(active|ended|archived))*$"),
    ),
    Param("tag", "query", "Only sessions with this tag (repeat it: sessions with every one)", _QUERY_TEXT),
    Param("project", "query", "Only sessions of this project", _QUERY_TEXT),
    Param("q", "query", "Only sessions whose name contains this, ignoring case and accents", _QUERY_TEXT),
    Param("external_id", "query", "Only sessions with this external id (exactly)", _QUERY_TEXT),
    Param("created_after", "query", "Only sessions created after this moment", _TIME),
    Param("created_before", "query", "Only sessions created before this moment", _TIME),
    Param("active_after", "query", "Only sessions last active after this moment", _TIME),
    Param("active_before", "query", "Only sessions last active before this moment", _TIME),
    Param("sort", "query", "Order by creation (default) or last activity", {"enum": ["created", "last_activity"]}),
    Param("order", "query", "Ascending (default) or descending", {"enum": ["asc", "desc"]}),
)
GRANT_ID = Param("grant_id", "path", "A grant's id", _string("^[a-z2-7]{26}$"), required=True)
SHARE_ID = Param("share_id", "path", "A share link's id", _string("^[a-z2-7]{32}$"), required=True)
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

SELECTED_PATHS = Param(
    "path",
    "query",
    f"Only these files, or folders ending in '/' (repeat the parameter, at most {MAX_SELECTED_PATHS})",
    {"type": "array", "items": _string(FOLDER_PATH_PATTERN), "maxItems": MAX_SELECTED_PATHS},
)
AT = Param(
    "at",
    "query",
    "RFC 3339: the files as they were at that moment, from their versions (not in the future)",
    _string(format="date-time"),
)
REDACT = Param("redact", "query", "Replace secrets in text files with [REDACTED:kind]", {"type": "boolean"})
EXPORT_ID = Param("export_id", "path", "Export id", _string(SESSION_ID_PATTERN), required=True)
SNAPSHOT_NAME = Param("name", "path", "A snapshot's name", _string(SNAPSHOT_NAME_PATTERN), required=True)
SNAPSHOT_QUERY = Param(
    "snapshot",
    "query",
    "The files of this snapshot (from its protected copies) instead of the current ones; not with `at`",
    _string("^(?:" + SNAPSHOT_NAME_PATTERN.strip("^$") + ")?$"),
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

_TRANSFER_RULES = (
    "Refused with 400 naming `to`: a file onto itself, a folder onto itself or into its own subfolder, and targets "
    "that are among the files being copied or moved. Existing targets without `overwrite: true` are a 409 "
    "(`target-exists`, naming them) before anything is written; more files than the bulk limit a 413 "
    "(`limit_files`). An ended session can be copied from but not written to (409). A `to_session` that is not "
    "yours is a 404. When a file fails part-way, the problem lists what was done (`copied`, `moved`), what failed "
    "(`failed`) and how many files were not attempted (`not_attempted`); a moved file's source is deleted only "
    "after its copy is in place. Needs files:read and files:write."
)
_AT_READ = (
    "With `at`, the version that was current at that moment, answered as a version read by id (it never changes); "
    "404 when the file did not exist then, was deleted then, or that version has been removed by retention since. "
    "`at` with `version_id` is a 400 naming `at`."
)
_ZIP_REPLY_HEADERS = {
    "Content-Disposition": True,
    "X-Content-Type-Options": True,
    "Content-Security-Policy": True,
    "Cache-Control": True,
}

PID = Param("pid", "path", "Project id", _string(PROJECT_ID_PATTERN), required=True)
PROJECTS = "/v1/projects"
PROJECT = "/v1/projects/{pid}"
_OWNER_ONLY = "Another user's project answers 404 like one that does not exist; a token bound to one session gets 403."

SESSIONS = "/v1/sessions"
SESSION = "/v1/sessions/{sid}"
FILE = SESSION + "/files/{path}"

# Resumable uploads (tus 1.0, docs/uploads.md).
UPLOADS = SESSION + "/uploads/"
UPLOAD = SESSION + "/uploads/{uid}"
UID = Param("uid", "path", "An upload's id, from the Location of its creation", _string("^[a-z2-7]{26}$"), True)
TUS_RESUMABLE = Param(
    "Tus-Resumable",
    "header",
    "The tus version: 1.0.0 (another, or none, is a 412 with Tus-Version)",
    {"enum": ["1.0.0"]},
    True,
)
_BASE64 = "(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
_SOME_BASE64 = "(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)"
_METADATA_PAIR = f"[!-+\\--~]+(?: {_BASE64})?"
UPLOAD_METADATA = Param(
    "Upload-Metadata",
    "header",
    "Comma-separated `key base64(value)` pairs: `path` (required; UTF-8; the path rules of a file PUT), "
    "`content_type`, `tier`; other keys are kept and ignored",
    _string(f"^path {_SOME_BASE64}(?:,{_METADATA_PAIR})*$", maxLength=8192),
    True,
)
UPLOAD_LENGTH = Param(
    "Upload-Length",
    "header",
    "The file's size in bytes (no deferred length); over Tus-Max-Size (OPTIONS) is a 413",
    _string("^[0-9]{1,15}$"),
    True,
)
UPLOAD_OFFSET = Param(
    "Upload-Offset", "header", "Where these bytes start: the upload's offset", _string("^[0-9]{1,15}$"), True
)
UPLOAD_CHECKSUM = Param(
    "Upload-Checksum",
    "header",
    "sha256 and the base64 SHA-256 of this request's bytes (460 when they differ)",
    _string("^sha256 [A-Za-z0-9+/]{43}=$"),
)
_PROGRESS = {"Tus-Resumable": True, "Upload-Offset": True, "Upload-Expires": False}
_UPLOAD_RULES = (
    "Only the user who created an upload sees it: anyone else (a user the session is granted to included) gets "
    "404, as for an upload that does not exist. An upload not continued within GATEWAY_UPLOAD_EXPIRY_SECONDS is "
    "gone (404) and its bytes removed by the janitor."
)
UPLOAD_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "OPTIONS",
        UPLOADS,
        "upload_options",
        uploads.upload_options,
        "What this server supports of tus: version, extensions, largest file, checksum algorithm",
        (
            Reply(
                204,
                "The server's tus configuration",
                headers={
                    "Tus-Resumable": True,
                    "Tus-Version": True,
                    "Tus-Extension": True,
                    "Tus-Max-Size": True,
                    "Tus-Checksum-Algorithm": True,
                },
            ),
        ),
        (),
        params=(SID,),
        public=True,
    ),
    Operation(
        "POST",
        UPLOADS,
        "create_upload",
        uploads.create_upload,
        "Create a resumable upload (tus creation); with an application/offset+octet-stream body, its first bytes",
        (Reply(201, "Created; PATCH the Location", headers={"Location": True, **_PROGRESS}),),
        (400, 401, 403, 404, 409, 412, 413, 415, 460, *STORE),
        params=(SID, TUS_RESUMABLE, UPLOAD_LENGTH, UPLOAD_METADATA, IF_MATCH, IF_NONE_MATCH_WRITE),
        binary_body=True,
        binary_media="application/offset+octet-stream",
        body_required=False,
        description=(
            "The checks of a file PUT come first: the path rules and the tier (400 `invalid-upload-metadata` naming "
            "the key), the session is active (409), If-Match / If-None-Match (412), the quotas (413 "
            "`quota-exceeded`). The preconditions are kept with the upload and checked again when it completes; "
            "the file appears only then, as one new version. " + _UPLOAD_RULES
        ),
    ),
    Operation(
        "HEAD",
        UPLOAD,
        "head_upload",
        uploads.head_upload,
        "How far an upload is: Upload-Offset (equal to Upload-Length once the file exists)",
        (
            Reply(
                200,
                "The upload's progress",
                headers={**_PROGRESS, "Upload-Length": True, "Upload-Metadata": False, "Cache-Control": True},
            ),
        ),
        (401, 403, 404, 412, *STORE),
        params=(SID, UID, TUS_RESUMABLE),
        description=_UPLOAD_RULES,
    ),
    Operation(
        "PATCH",
        UPLOAD,
        "patch_upload",
        uploads.patch_upload,
        "Send an upload's next bytes, from its offset; the last ones complete the file",
        (Reply(204, "Taken; the new offset", headers=_PROGRESS),),
        (400, 401, 403, 404, 409, 412, 413, 415, 460, *STORE),
        params=(SID, UID, TUS_RESUMABLE, UPLOAD_OFFSET, UPLOAD_CHECKSUM),
        binary_body=True,
        binary_media="application/offset+octet-stream",
        body_required=True,
        description=(
            "An Upload-Offset other than the upload's is a 409 (`upload_offset` says where to resume), so is a "
            "request that lost a race to another at the same offset. Bytes past Upload-Length are a 413. Nothing "
            "counts unless the whole request arrived (and matches Upload-Checksum: 460 otherwise). Completing "
            "applies the upload's preconditions, the quotas and the session's state; when it is refused the upload "
            "ends and nothing is stored. " + _UPLOAD_RULES
        ),
    ),
    Operation(
        "DELETE",
        UPLOAD,
        "terminate_upload",
        uploads.terminate_upload,
        "End an upload (tus termination): its bytes are removed; a completed file stays",
        (Reply(204, "Ended", headers={"Tus-Resumable": True}),),
        (401, 403, 404, 412, *STORE),
        params=(SID, UID, TUS_RESUMABLE),
        description=_UPLOAD_RULES,
    ),
)

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
        "List and search your sessions: filter by state, tag, project, name, external id and time ranges; sort by "
        "creation or last activity. Cursors stay stable while sessions change.",
        (Reply(200, "A page", SessionPage),),
        (400, 401, 403, *STORE),
        params=(LIMIT, CURSOR, *SESSION_FILTERS),
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
        "POST",
        SESSION + "/archive",
        "archive_session",
        sessions.archive_session,
        "Archive an ended session: still read-only, and kept until deleted; an archived one is left as it is",
        (Reply(200, "The archived session", Session),),
        (401, 403, 404, 409, *STORE),
        params=(SID,),
        description="Only an ended session can be archived: another is a 409 `invalid-transition` naming its state "
        "and what it allows.",
    ),
    Operation(
        "POST",
        SESSION + "/reactivate",
        "reactivate_session",
        sessions.reactivate_session,
        "Make an ended or archived session active (writable) again; an active one is left as it is",
        (Reply(200, "The active session", Session),),
        (401, 403, 404, 409, *STORE),
        params=(SID,),
        description="Ephemeral files deleted when the session ended stay deleted.",
    ),
    Operation(
        "POST",
        SESSION + "/fork",
        "fork_session",
        moving.fork_session,
        "A new session with this session's files (now, or as they were at `at`), copied server-side",
        (Reply(201, "The new session", Session, headers={"Location": True}),),
        (400, 401, 403, 404, 413, 415, *STORE),
        params=(SID,),
        body=ForkInput,
        body_required=False,
        description=(
            "The new session has the source's default tier, folder tiers and metadata; each file is the version "
            "that was current at `at` (RFC 3339; a moment in the future is a 400 naming `at`), with its tier and "
            "SHA-256. More files than the bulk limit is a 413 (`limit_files`) before anything is written; a fork "
            "that fails leaves no session behind. Needs files:read and files:write, and a token not bound to one "
            "session."
        ),
    ),
    Operation(
        "POST",
        SESSION + "/copy",
        "copy_files",
        moving.copy_files,
        "Copy a file or a folder, here or into another of your sessions (server-side; tier and SHA-256 kept)",
        (Reply(200, "What was copied", CopyReport),),
        (400, 401, 403, 404, 409, 412, 413, 415, *STORE),
        params=(SID,),
        body=TransferInput,
        description=_TRANSFER_RULES,
    ),
    Operation(
        "POST",
        SESSION + "/move",
        "move_files",
        moving.move_files,
        "Move a file or a folder, here or into another of your sessions (the sources' history stays)",
        (Reply(200, "What was moved", MoveReport),),
        (400, 401, 403, 404, 409, 412, 413, 415, *STORE),
        params=(SID,),
        body=TransferInput,
        description=_TRANSFER_RULES,
    ),
    Operation(
        "GET",
        SESSION + "/files",
        "list_files",
        files.list_files,
        "List files, in path order (now, or as they were at `at`)",
        (Reply(200, "A page", FilePage),),
        (400, 401, 403, 404, *STORE),
        params=(SID, PREFIX, DELIMITER, LIMIT, CURSOR, AT),
        description=(
            "With `at`, each file's version that was current at that moment, in the same shape; folders (with "
            "`delimiter=/`) are those holding a file then. A cursor continues only the listing (prefix, delimiter "
            "and `at`) it came from; any other is a 400 `invalid-cursor`."
        ),
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
        params=(SID, FILE_PATH, VERSION_ID, AT, RANGE, IF_NONE_MATCH_READ),
        description=_AT_READ,
    ),
    Operation(
        "HEAD",
        FILE,
        "head_file",
        files.get_file,
        "A file's headers without its bytes",
        (Reply(200, "Headers", headers=_DOWNLOAD_HEADERS),),
        (400, 401, 403, 404, *STORE),
        params=(SID, FILE_PATH, VERSION_ID, AT),
        description=_AT_READ,
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
    Operation(
        "POST",
        SESSION + "/grants",
        "create_grant",
        grants.create_grant,
        "Open this session, or one folder of it, to another user of your tenant (owner only)",
        (Reply(201, "The grant", Grant),),
        (400, 401, 403, 404, 409, 413, 415, *STORE),
        params=(SID,),
        body=GrantInput,
        description="The grantee then uses the file routes with this session's id. Outside the granted folder, "
        "and once the grant is revoked or expired, everything answers like a session that does not exist (404).",
    ),
    Operation(
        "GET",
        SESSION + "/grants",
        "list_grants",
        grants.list_grants,
        "The grants of this session, expired ones included (owner only)",
        (Reply(200, "The grants", GrantPage),),
        (401, 403, 404, *STORE),
        params=(SID,),
    ),
    Operation(
        "DELETE",
        SESSION + "/grants/{grant_id}",
        "revoke_grant",
        grants.revoke_grant,
        "Revoke a grant, at once on every replica (owner only)",
        (Reply(204, "Revoked"),),
        (401, 403, 404, *STORE),
        params=(SID, GRANT_ID),
    ),
    Operation(
        "GET",
        "/v1/usage",
        "get_usage",
        usage.get_usage,
        "What your tenant, you, and one of your sessions hold, and their quotas",
        (Reply(200, "The figures", Usage),),
        (401, 403, 404, *STORE),
        params=(
            Param(
                "session",
                "query",
                "Also this session of yours (a token bound to a session: that one, always)",
                _string(SESSION_ID_PATTERN),
            ),
        ),
        description=(
            "Only current files count (bytes: the sum of their sizes); old versions, snapshots and exports do not. "
            "A write that would pass a quota is refused with 413 `quota-exceeded` naming it (`quota`, `limit`, "
            "`used`, `requested`) before anything is stored."
        ),
    ),
    Operation(
        "GET",
        "/v1/shared",
        "list_shared",
        grants.shared_with_me,
        "Sessions other users opened to you, with what each grant allows",
        (Reply(200, "Live grants to you", GrantPage),),
        (401, 403, *STORE),
    ),
    Operation(
        "POST",
        SESSION + "/shares",
        "create_share",
        shares.create_share,
        "Make a share link to a file or a folder: anyone holding it may download it, without a login (owner only)",
        (Reply(201, "The link", Share, headers={"Cache-Control": True}),),
        (400, 401, 403, 404, 413, 415, *STORE),
        params=(SID,),
        body=ShareInput,
        description="The link is the gateway's `/s/{id}`: each opening checks the link again and redirects (303) "
        "to a fresh S3 URL valid for minutes. It can last any time or none, be limited to a number of downloads, "
        "and be revoked at once.",
    ),
    Operation(
        "GET",
        SESSION + "/shares",
        "list_shares",
        shares.list_shares,
        "The share links of this session with their download counts (owner only)",
        (Reply(200, "The links", SharePage, headers={"Cache-Control": True}),),
        (401, 403, 404, *STORE),
        params=(SID,),
    ),
    Operation(
        "DELETE",
        SESSION + "/shares/{share_id}",
        "revoke_share",
        shares.revoke_share,
        "Revoke a share link, at once on every replica (owner only)",
        (Reply(204, "Revoked"),),
        (401, 403, 404, *STORE),
        params=(SID, SHARE_ID),
    ),
    Operation(
        "GET",
        "/s/{share_id}",
        "open_share",
        shares.open_share,
        "Open a share link (no login): a file redirects to S3, a folder is a zip; revoked, expired, used up and "
        "unknown links are 404",
        (
            Reply(303, "A file: to a short-lived S3 URL of it", headers={"Location": True, "Cache-Control": True}),
            Reply(
                200, "A folder: its files as one zip with a manifest.json", binary=True, headers={"Cache-Control": True}
            ),
        ),
        (404, *STORE),
        params=(SHARE_ID,),
        public=True,
    ),
    Operation(
        "GET",
        SESSION + "/export.zip",
        "export_zip",
        exports.export_zip,
        "Download files as one zip, streamed as it is built, with a manifest.json",
        (Reply(200, "The zip (application/zip)", binary=True, headers=_ZIP_REPLY_HEADERS),),
        (400, 401, 403, 404, 409, *STORE),
        params=(SID, PREFIX, SELECTED_PATHS, AT, SNAPSHOT_QUERY, REDACT),
        description=(
            "Entries are the file paths; `manifest.json` (last) lists every entry's path, version, size, SHA-256, "
            "tier and time, and what was redacted. 404 when no file matches the selection."
        ),
    ),
    Operation(
        "POST",
        SESSION + "/exports",
        "start_export",
        exports.start_export,
        "Build the same zip into the bucket, for a presigned download link once done",
        (Reply(202, "Accepted; poll the Location", ExportStatus, headers={"Location": True}),),
        (400, 401, 403, 404, 413, 415, *STORE),
        params=(SID,),
        body=ExportRequest,
        body_required=False,
    ),
    Operation(
        "GET",
        SESSION + "/exports/{export_id}",
        "get_export",
        exports.get_export,
        "An export's status, and its download link once done",
        (Reply(200, "The export", ExportStatus, headers={"Cache-Control": True}),),
        (401, 403, 404, *STORE),
        params=(SID, EXPORT_ID),
    ),
    Operation(
        "POST",
        SESSION + "/restore",
        "restore_session",
        recovery.restore_session,
        "Bring the session, or one folder, back to a moment (dry_run: the plan only) (owner only)",
        (Reply(200, "The plan, or what was done", RestoreResult),),
        (400, 401, 403, 404, 409, 413, 415, *STORE),
        params=(SID,),
        body=RestoreInput,
        description=RESTORE_RULES + " An ended session is read-only (409); more files than the bulk limit is a 413.",
    ),
    Operation(
        "POST",
        SESSION + "/snapshots",
        "create_snapshot",
        recovery.create_snapshot,
        "Record every current file's version (of a folder, or all), kept beyond retention until deleted (owner only)",
        (Reply(201, "The snapshot", Snapshot, headers={"Location": True}),),
        (400, 401, 403, 404, 409, 413, 415, *STORE),
        params=(SID,),
        body=SnapshotInput,
        description="A name in use is a 409. Each file gets a protected copy that no tier's retention removes.",
    ),
    Operation(
        "GET",
        SESSION + "/snapshots",
        "list_snapshots",
        recovery.list_snapshots,
        "The snapshots of this session, oldest first, automatic ones included (owner only)",
        (Reply(200, "The snapshots", SnapshotPage),),
        (401, 403, 404, *STORE),
        params=(SID,),
        description="Also answers for a session deleted since, while snapshots of it are left.",
    ),
    Operation(
        "GET",
        SESSION + "/snapshots/{name}",
        "get_snapshot",
        recovery.get_snapshot,
        "A snapshot and a page of its files (owner only)",
        (Reply(200, "The snapshot", SnapshotDetail),),
        (400, 401, 403, 404, *STORE),
        params=(SID, SNAPSHOT_NAME, LIMIT, CURSOR),
    ),
    Operation(
        "DELETE",
        SESSION + "/snapshots/{name}",
        "delete_snapshot",
        recovery.delete_snapshot,
        "Delete a snapshot and its protected copies (owner only)",
        (Reply(204, "Deleted"),),
        (401, 403, 404, 409, *STORE),
        params=(SID, SNAPSHOT_NAME),
    ),
    Operation(
        "POST",
        SESSION + "/snapshots/{name}/restore",
        "restore_snapshot",
        recovery.restore_snapshot,
        "Bring the files a snapshot covers back to what it holds; a deleted session comes back too (owner only)",
        (Reply(200, "The plan, or what was done", RestoreResult),),
        (400, 401, 403, 404, 409, 413, 415, *STORE),
        params=(SID, SNAPSHOT_NAME),
        body=SnapshotRestoreInput,
        body_required=False,
        description=RESTORE_RULES,
    ),
    Operation(
        "POST",
        PROJECTS,
        "create_project",
        projects.create_project,
        "Create a project: its id is `{prefix}-{8 hex digits}`",
        (Reply(201, "Created", Project, headers={"Location": True}),),
        (400, 401, 403, 409, 413, 415, *STORE),
        body=ProjectCreate,
        body_required=False,
        description=PROJECT_RULES + " A bad prefix or lifetime is a 400 naming the field.",
    ),
    Operation(
        "GET",
        PROJECTS,
        "list_projects",
        projects.list_projects,
        "Your projects, in id order, with their cleanup times and warnings",
        (Reply(200, "A page", ProjectPage),),
        (400, 401, 403, *STORE),
        params=(LIMIT, CURSOR),
    ),
    Operation(
        "GET",
        PROJECT,
        "get_project",
        projects.get_project,
        "Get a project",
        (Reply(200, "The project", Project),),
        (401, 403, 404, *STORE),
        params=(PID,),
        description=_OWNER_ONLY,
    ),
    Operation(
        "PATCH",
        PROJECT,
        "update_project",
        projects.update_project,
        "Rename a project, change its lifetime, or merge-patch its metadata (counts as activity)",
        (Reply(200, "Updated", Project),),
        (400, 401, 403, 404, 409, 413, 415, *STORE),
        params=(PID,),
        body=ProjectUpdate,
        body_required=False,
        description=PROJECT_RULES,
    ),
    Operation(
        "DELETE",
        PROJECT,
        "delete_project",
        projects.delete_project,
        "Delete a project and its sessions (each recoverably, with an automatic snapshot first)",
        (Reply(204, "Deleted"),),
        (401, 403, 404, 409, *STORE),
        params=(PID,),
        description="Answers once every session is deleted. A deletion cut short leaves the project gone for "
        "every other route; repeating DELETE (or the janitor) finishes it.",
    ),
    Operation(
        "POST",
        PROJECT + "/pin",
        "pin_project",
        projects.pin_project,
        "Pin a project: never cleaned up, no warnings, until unpinned",
        (Reply(200, "The project", Project),),
        (401, 403, 404, 409, *STORE),
        params=(PID,),
    ),
    Operation(
        "POST",
        PROJECT + "/unpin",
        "unpin_project",
        projects.unpin_project,
        "Unpin a project: its inactivity counts again, from now",
        (Reply(200, "The project", Project),),
        (401, 403, 404, 409, *STORE),
        params=(PID,),
    ),
    Operation(
        "POST",
        PROJECT + "/extend",
        "extend_project",
        projects.extend_project,
        "Keep a project `days` longer than its cleanup time (or now, if that has passed)",
        (Reply(200, "The project", Project),),
        (400, 401, 403, 404, 409, 413, 415, *STORE),
        params=(PID,),
        body=ExtendInput,
        description="Warnings already given count for the new time. More than 3650 days from now is a 400 naming "
        "`days`.",
    ),
    Operation(
        "POST",
        PROJECT + "/sessions",
        "create_project_session",
        projects.create_project_session,
        "Create a session in a project (the body of `POST /v1/sessions`)",
        (Reply(201, "Created", Session, headers={"Location": True}),),
        (400, 401, 403, 404, 413, 415, *STORE),
        params=(PID,),
        body=SessionCreate,
        body_required=False,
    ),
    Operation(
        "GET",
        PROJECT + "/sessions",
        "list_project_sessions",
        projects.list_project_sessions,
        "A project's sessions, with the filters, sorts and cursors of `GET /v1/sessions`",
        (Reply(200, "A page", SessionPage),),
        (400, 401, 403, 404, *STORE),
        params=(PID, LIMIT, CURSOR, *(p for p in SESSION_FILTERS if p.name != "project")),
    ),
    # The audit log and the event feed (gateway/api/audit.py; docs/audit.md, docs/events.md).
    Operation(
        "GET",
        SESSION + "/audit",
        "session_audit",
        audit.session_audit,
        "The session's audit log: every committed change, who made it, the versions and the request (owner only)",
        (Reply(200, "A page", AuditPage),),
        (400, 401, 403, 404, *STORE),
        params=(
            SID,
            Param("since", "query", "Only changes logged at or after this moment", _TIME),
            Param(
                "until",
                "query",
                "Only changes logged at or before this moment (default: now); not before `since`",
                _TIME,
            ),
            LIMIT,
            CURSOR,
        ),
        description="Oldest first. Another user's session, a grantee, and a token bound to another session get "
        "404. Changes reach the log once per flush interval (1 s by default) from each replica. A page reads a "
        "bounded part of the log and may hold fewer records than `limit`, with a `next_cursor`.",
    ),
    Operation(
        "GET",
        "/v1/events",
        "list_events",
        audit.events,
        "The committed changes of your sessions and projects, in order, resumable from a cursor (at least once)",
        (Reply(200, "Changes after the cursor", EventPage),),
        (400, 401, 403, *STORE),
        params=(
            Param("cursor", "query", "The `next_cursor` of the previous answer (opaque)", _string()),
            Param("since", "query", "Without a cursor: start at this moment (default: the oldest change)", _TIME),
            LIMIT,
        ),
        description="Changes are served once they are older than the settle window (10 s by default), so that "
        "one that another replica is still writing is never skipped; a change may come twice (the same `id`). A "
        "token bound to one session sees that session's changes only.",
    ),
    *UPLOAD_OPERATIONS,
)
