"""The JSON bodies of the HTTP API, requests and responses: parsed, rendered and described by the same models.

Request models forbid unknown fields and are validated strictly (no coercion from strings or floats), so a refusal
names the field at fault. Response models are built from the services' dataclasses; the OpenAPI document is
generated from these classes, so the description cannot drift from what is sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue, PlainSerializer, WithJsonSchema

from gateway.imports import archive as import_service
from gateway.index.summaries import SessionSummary as SessionSummaryData
from gateway.services import exports as export_service
from gateway.services import files as file_service
from gateway.services import grants as grant_service
from gateway.services import moving as moving_service
from gateway.services import session_records
from gateway.services import sessions as session_service
from gateway.services import shares as share_service
from gateway.services.files import DEFAULT_LINK_SECONDS, MAX_LINK_SECONDS
from gateway.services.session_records import (
    MAX_EXTERNAL_ID_CHARS,
    MAX_EXTERNAL_IDS,
    MAX_METADATA_BYTES,
    MAX_NAME_CHARS,
    MAX_TAG_CHARS,
    MAX_TAGS,
)
from gateway.services.snapshot import MAX_SELECTED_PATHS
from gateway.wire import iso, moment

# Tier names depend on the configured policy: the OpenAPI document replaces every schema marked so with a
# reference to its `TierName` schema, which lists them.
TIER_NAME_SCHEMA = "TierName"
TIER_NAME_MARK = "x-tier-name"
SESSION_ID_PATTERN = r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$"
# The path rules of `gateway.keys` as regular expressions (a test holds the two together). A segment is any run of
# characters other than '/', '\' and control characters, except '.' and '..'; the whole key's 1,024-byte limit
# depends on the caller's identity and is left to the server (400, rule `too-long`).
_CHAR = "[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]"
_NOT_DOT = "[^/.\\\\\\u0000-\\u001f\\u007f-\\u009f]"
_SEGMENT = f"(?:{_NOT_DOT}{_CHAR}*|\\.{_NOT_DOT}{_CHAR}*|\\.\\.{_CHAR}+)"
FILE_PATH_PATTERN = f"^{_SEGMENT}(?:/{_SEGMENT})*$"
FOLDER_PATH_PATTERN = f"^{_SEGMENT}(?:/{_SEGMENT})*/?$"
PREFIX_PATTERN = f"^(?:{_SEGMENT}/)*(?:{_SEGMENT})?$"
# The folder an import places its files under: empty (the top), or a folder path with or without its last '/'.
IMPORT_FOLDER_PATTERN = f"^(?:{_SEGMENT}(?:/{_SEGMENT})*/?)?$"
PATH_RULES_IN_WORDS = (
    "A file path, as in URLs. Beyond the pattern, code points that do not display as what they are (bidi controls,"
    " zero-width and other invisible format characters, line separators, noncharacters, private-use and unassigned"
    " code points) are refused with 400 naming the rule, as is a key over 1,024 bytes"
)
# What `version_param` accepts: printable ASCII without spaces, as S3 makes version ids.
VERSION_ID_PATTERN = r"^[!-~]{1,1024}$"
# In a query string an empty `version_id` means the current version, as if it were absent.
VERSION_QUERY_PATTERN = r"^[!-~]{0,1024}$"

Timestamp = Annotated[
    datetime,
    PlainSerializer(iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Sha256 = Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
TierName = Annotated[str, WithJsonSchema({"type": "string", TIER_NAME_MARK: True})]
VersionId = Annotated[str, Field(pattern=VERSION_ID_PATTERN, description="A version id as this API returned it")]
Metadata = dict[str, JsonValue]


def _whole(value: object) -> object:
    # JSON has one number type: 60.0 is the integer 60 (as JSON Schema's "integer" says). Anything else is left
    # to the strict integer check, which refuses strings, booleans and fractions.
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(_whole)]


def _not_null(value: object) -> object:
    if value is None:
        raise ValueError("must not be null; leave the field out instead")
    return value


# A tier that may be left out but not sent as null (null would say nothing, and the document says it is a name).
OptionalTierName = Annotated[
    str | None, BeforeValidator(_not_null), WithJsonSchema({"type": "string", TIER_NAME_MARK: True})
]
SessionName = Annotated[
    str,
    Field(max_length=MAX_NAME_CHARS, pattern=r"^[^\u0000-\u001f]*$", description="Text without control characters"),
]

Tag = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_TAG_CHARS,
        pattern=r"^[^\u0000-\u001f\u007f-\u009f]*$",
        description="Text without control characters; stored in NFC",
    ),
]
ExternalId = Annotated[
    str,
    Field(min_length=1, max_length=MAX_EXTERNAL_ID_CHARS, pattern=r"^[^\u0000-\u001f\u007f-\u009f]*$"),
]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ResponseBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SessionCreate(RequestBody):
    """A new session. `default_tier` is the tier of new files that name none and lie in no folder with a default."""

    name: SessionName | None = None
    metadata: Metadata = Field(
        default_factory=dict, description=f"Any JSON object, at most {MAX_METADATA_BYTES} bytes once encoded"
    )
    default_tier: TierName | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS, description="Free-form labels to filter by")
    external_ids: list[ExternalId] = Field(
        default_factory=list,
        max_length=MAX_EXTERNAL_IDS,
        description="Other systems' ids of this session (an agent SDK's own session id): "
        "`GET /v1/sessions?external_id=` finds it",
    )


class SessionUpdate(RequestBody):
    """Changes to a session: only the fields sent change; `null` clears `name` or `default_tier`.

    `metadata` is a JSON merge patch (RFC 7396) of the top level: its keys replace the stored ones, and a key whose
    value is `null` is removed.
    """

    name: SessionName | None = None
    metadata: Metadata = Field(default_factory=dict, description="Keys to set; a null value removes the key")
    default_tier: TierName | None = None
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS, description="Replaces the tags")
    external_ids: list[ExternalId] | None = Field(
        default=None, max_length=MAX_EXTERNAL_IDS, description="Replaces the external ids"
    )


class SessionSummary(ResponseBody):
    """A session as listings show it: everything but its metadata and folder tiers (`GET` the session for those)."""

    id: str = Field(pattern=SESSION_ID_PATTERN)
    name: str | None
    created_at: Timestamp
    updated_at: Timestamp
    state: Literal["active", "ended", "archived"] = Field(
        description="active → ended (`end`) → archived (`archive`); ended or archived → active (`reactivate`)"
    )
    ended_at: Timestamp | None
    archived_at: Timestamp | None = None
    last_activity_at: Timestamp = Field(
        description="The last change its owner made to it or its files; may lag by the activity interval "
        "(`GATEWAY_ACTIVITY_INTERVAL_SECONDS`, 30 s by default)"
    )
    file_count: int = Field(ge=0, description="Current files (may lag like `last_activity_at`)")
    bytes: int = Field(ge=0, description="Bytes of the current files (may lag like `last_activity_at`)")
    tags: list[str]
    external_ids: list[str]
    project: str | None = Field(description="The project the session belongs to, if any")
    default_tier: str | None

    @classmethod
    def of(cls, summary: SessionSummaryData) -> SessionSummary:
        return cls.model_validate(summary, from_attributes=True)


class Session(SessionSummary):
    metadata: Metadata
    folder_tiers: dict[str, str] = Field(description="Folder path (ending in '/') to the default tier of new files")

    @classmethod
    def of(cls, detail: session_service.SessionDetail) -> Session:  # type: ignore[override]
        summary = SessionSummaryData.of(detail.record, detail.activity)
        return cls.model_validate(
            {
                **SessionSummary.of(summary).model_dump(),
                "metadata": detail.record.metadata,
                "folder_tiers": detail.record.folder_tiers,
            }
        )


class SessionPage(ResponseBody):
    items: list[SessionSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")

    @classmethod
    def of(cls, listing: session_service.SessionListing) -> SessionPage:
        return cls(items=[SessionSummary.of(item) for item in listing.items], next_cursor=listing.next_cursor)


class FileVersion(ResponseBody):
    """One version of a file, as written, read or restored."""

    path: str
    version_id: str | None
    etag: str
    size: int = Field(ge=0)
    content_type: str
    last_modified: Timestamp
    tier: str | None
    expires_at: Timestamp | None = Field(description="When the tier's retention removes this version; null: never")
    sha256: Sha256 | None = Field(description="SHA-256 of the bytes, lower-case hex; null where unknown")

    @classmethod
    def of(cls, file: file_service.FileVersion) -> FileVersion:
        return cls.model_validate(file, from_attributes=True)


class FileEntry(ResponseBody):
    """A file in a listing: S3 listings carry no content type."""

    path: str
    version_id: str | None
    etag: str
    size: int = Field(ge=0)
    last_modified: Timestamp
    tier: str | None
    expires_at: Timestamp | None
    sha256: Sha256 | None = Field(description="SHA-256 of the bytes, lower-case hex; null where unknown")


class FilePage(ResponseBody):
    items: list[FileEntry]
    prefixes: list[str] = Field(description="With delimiter '/': the folders directly under the prefix")
    next_cursor: str | None

    @classmethod
    def of(cls, listing: file_service.FileListing) -> FilePage:
        return cls.model_validate(listing, from_attributes=True)


class HistoryEntry(ResponseBody):
    version_id: str
    is_latest: bool
    is_delete_marker: bool
    size: int | None = Field(ge=0, description="null for delete markers")
    etag: str | None
    last_modified: Timestamp
    tier: str | None
    sha256: Sha256 | None = Field(
        description="SHA-256 of the bytes, lower-case hex; null for delete markers and where unknown"
    )


class HistoryPage(ResponseBody):
    path: str
    items: list[HistoryEntry] = Field(description="Newest first, delete markers included")
    next_cursor: str | None

    @classmethod
    def of(cls, history: file_service.History) -> HistoryPage:
        return cls.model_validate(history, from_attributes=True)


class TierChange(RequestBody):
    """Re-tag a file, or a folder's files (`recursive: true`), and/or set a folder's default tier.

    A folder is a path ending in '/' (or any path with `recursive: true` for re-tagging). `default_tier`, a tier
    name or `null` to remove the folder's default, is accepted only on a path ending in '/'; on any other path it
    is refused with a 400 naming `default_tier`. `tier` on a folder needs `recursive: true`.
    """

    tier: OptionalTierName = None
    recursive: bool = False
    default_tier: TierName | None = None


class FolderChange(ResponseBody):
    """What changed in a folder: its default tier (the session's new `folder_tiers`) and/or its files' tier."""

    path: str
    folder_tiers: dict[str, str] | None = None
    tier: str | None = None
    files: int | None = Field(default=None, ge=1, description="How many files were re-tagged")

    @classmethod
    def of(
        cls, path: str, record: session_records.SessionRecord | None, retagged: file_service.FolderRetagged | None
    ) -> FolderChange:
        change = FolderChange(path=path)
        if record is not None:
            change = change.model_copy(update={"folder_tiers": record.folder_tiers})
        if retagged is not None:
            change = change.model_copy(update={"tier": retagged.tier, "files": retagged.files})
        return change


# Checked by `gateway.keys` (400 `invalid-path` naming the rule); the pattern only describes it.
FilePath = Annotated[
    str,
    Field(
        min_length=1,
        json_schema_extra={"pattern": FILE_PATH_PATTERN},
        description=PATH_RULES_IN_WORDS,
    ),
]


class RollbackInput(RequestBody):
    path: FilePath
    version_id: VersionId


class LinkInput(RequestBody):
    path: FilePath
    version_id: VersionId | None = None
    expires_in: WholeNumber = Field(default=DEFAULT_LINK_SECONDS, ge=1, le=MAX_LINK_SECONDS, description="Seconds")


class Link(ResponseBody):
    url: str
    expires_at: Timestamp
    path: str

    @classmethod
    def of(cls, link: file_service.Link, path: str) -> Link:
        return cls(url=link.url, expires_at=link.expires_at, path=path)


Moment = Annotated[
    datetime,
    BeforeValidator(moment),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "RFC 3339, with an offset"}),
]


GrantUser = Annotated[
    str,
    Field(min_length=1, max_length=1024, pattern=r"^[^\u0000-\u001f]*$", description="The grantee's user id (`sub`)"),
]


class GrantInput(RequestBody):
    """Open this session (or one folder of it) to another user of the same tenant."""

    user: GrantUser
    access: Literal["read", "write"]
    prefix: str = Field(default="", pattern=PREFIX_PATTERN, description="A folder path ending in '/'; '' opens all")
    expires_at: Moment | None = Field(default=None, description="When the grant ends; must lie in the future")


class Grant(ResponseBody):
    id: str
    session_id: str = Field(pattern=SESSION_ID_PATTERN)
    owner: str
    user: str
    access: Literal["read", "write"]
    prefix: str
    created_at: Timestamp
    expires_at: Timestamp | None

    @classmethod
    def of(cls, grant: grant_service.Grant) -> Grant:
        return cls.model_validate(grant.to_json())


class GrantPage(ResponseBody):
    items: list[Grant]


class ShareInput(RequestBody):
    """A link anyone holding it may open without a login: one file (`path`, optionally one version) or a folder
    (`prefix`, streamed as a zip). Send exactly one of `path` and `prefix`; `version_id` only with `path`."""

    path: FilePath | None = None
    prefix: str | None = Field(default=None, pattern=PREFIX_PATTERN, description="A folder path ending in '/'")
    version_id: VersionId | None = None
    # The bounds go inside the optional type: on the field they would not reach the JSON schema's `minimum`.
    expires_in: Annotated[int, Field(ge=1), BeforeValidator(_whole)] | None = Field(
        default=None, description="Seconds; leave out for a link that lasts"
    )
    max_downloads: Annotated[int, Field(ge=1, le=share_service.MAX_DOWNLOADS), BeforeValidator(_whole)] | None = None


class Share(ResponseBody):
    id: str
    url: str = Field(description="The link to hand out: the gateway's /s/{id}")
    session_id: str = Field(pattern=SESSION_ID_PATTERN)
    path: str | None
    prefix: str | None
    version_id: str | None
    created_at: Timestamp
    expires_at: Timestamp | None
    max_downloads: int | None
    downloads: int

    @classmethod
    def of(cls, share: share_service.Share, base_url: str) -> Share:
        data = share.to_json()
        data.pop("owner")
        return cls.model_validate({**data, "url": f"{base_url}/s/{share.id}"})


class SharePage(ResponseBody):
    items: list[Share]


# A file, or a folder (ending in '/', or any path with files under it); checked by `gateway.keys`.
FileOrFolderPath = Annotated[
    str,
    Field(
        min_length=1,
        json_schema_extra={"pattern": FOLDER_PATH_PATTERN},
        description="A file path, or a folder path (ending in '/', or naming a folder). " + PATH_RULES_IN_WORDS,
    ),
]
SessionId = Annotated[str, Field(json_schema_extra={"pattern": SESSION_ID_PATTERN}, description="A session id")]


class TransferInput(RequestBody):
    """Copy or move a file or a folder, in this session or into another session of yours (`to_session`).

    `from` is a folder when it ends in '/', or when no file has that path but files lie under it. A file goes to
    `to`, or into `to` when `to` ends in '/'; a folder's files go under `to` (a folder, '/' optional), keeping their
    paths below `from`. Without `overwrite: true`, existing targets are a 409 and nothing is written.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_by_alias=True, validate_by_name=False)

    source: FileOrFolderPath = Field(alias="from")
    to: FileOrFolderPath
    to_session: SessionId | None = Field(default=None, description="Another session of yours; default: this one")
    overwrite: bool = False


class Transfer(ResponseBody):
    """One file copied or moved: its path before and after, and its new version at `to`."""

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True, validate_by_name=True)

    source: str = Field(alias="from")
    to: str
    version_id: str | None

    @classmethod
    def of(cls, item: moving_service.Transferred) -> Transfer:
        return cls.model_validate({"from": item.source_path, "to": item.target_path, "version_id": item.version_id})


class CopyReport(ResponseBody):
    to_session: str = Field(pattern=SESSION_ID_PATTERN)
    copied: list[Transfer] = Field(description="Every file copied, in path order")

    @classmethod
    def of(cls, report: moving_service.TransferReport) -> CopyReport:
        return cls(to_session=report.to_session, copied=[Transfer.of(item) for item in report.items])


class MoveReport(ResponseBody):
    to_session: str = Field(pattern=SESSION_ID_PATTERN)
    moved: list[Transfer] = Field(description="Every file moved, in path order")

    @classmethod
    def of(cls, report: moving_service.TransferReport) -> MoveReport:
        return cls(to_session=report.to_session, moved=[Transfer.of(item) for item in report.items])


class ForkInput(RequestBody):
    """A new session with this session's files, as they are now or as they were at `at`."""

    name: SessionName | None = Field(default=None, description="Default: the source's name (or id) + ' (fork)'")
    at: Moment | None = Field(default=None, description="The moment whose files to take; default: now")


# A file, or a folder ending in '/': checked by `gateway.keys` like every path; the pattern only describes it.
SelectedPath = Annotated[
    str, Field(min_length=1, json_schema_extra={"pattern": FOLDER_PATH_PATTERN}, description=PATH_RULES_IN_WORDS)
]


class ExportRequest(RequestBody):
    """What to export: the files under `prefix`, only those `paths` when given (a path ending in '/' is a folder),
    as they were at `at` when given, with secrets in text files replaced when `redact` is true."""

    prefix: str = Field(
        default="", json_schema_extra={"pattern": PREFIX_PATTERN}, description="Only paths starting with this"
    )
    paths: list[SelectedPath] = Field(
        default_factory=list, max_length=MAX_SELECTED_PATHS, description="Files, or folders ending in '/'"
    )
    at: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="RFC 3339: the files as they were at that moment (not in the future)",
    )
    redact: bool = False


class ExportStatus(ResponseBody):
    """An export built into the bucket. `url` (done only) downloads the zip until `expires_at`, when the export is
    removed; `error` (failed only) says why it failed."""

    id: str = Field(pattern=SESSION_ID_PATTERN)
    status: Literal["pending", "running", "done", "failed"]
    created_at: Timestamp
    expires_at: Timestamp
    size: int | None = Field(ge=0, description="Bytes of the zip: so far while running, in all once done")
    url: str | None = Field(default=None, description="A presigned link to the zip; only when done")
    error: str | None = Field(default=None, description="Why the export failed; only when failed")

    @classmethod
    def of(cls, view: export_service.ExportView) -> ExportStatus:
        record = view.record
        status = cls(
            id=record.id,
            status=record.status,  # type: ignore[arg-type]
            created_at=record.created_at,
            expires_at=record.expires_at,
            size=record.size,
        )
        if view.url is not None:
            status = status.model_copy(update={"url": view.url})
        if record.error is not None:
            status = status.model_copy(update={"error": record.error})
        return status


class ImportedFile(ResponseBody):
    path: str = Field(description="Where the entry was written (NFC, under the prefix)")
    version_id: str | None
    size: int = Field(ge=0)
    tier: str | None
    sha256: Sha256 | None


class RefusedEntry(ResponseBody):
    name: str = Field(description="The entry's name in the archive")
    rule: str = Field(description="Which rule it broke (docs/import.md lists them)")
    detail: str


class SkippedEntry(ResponseBody):
    name: str = Field(description="The entry's name in the archive")
    reason: Literal["manifest", "unchanged"] = Field(
        description="manifest: the export's manifest, read for tiers and digests; unchanged: with "
        "if_content_differs, the file already held these bytes"
    )
    detail: str


class ImportReport(ResponseBody):
    """What an import did with each entry, in archive order. Folders are not listed."""

    imported: list[ImportedFile]
    refused: list[RefusedEntry]
    skipped: list[SkippedEntry]

    @classmethod
    def of(cls, report: import_service.ImportReport) -> ImportReport:
        return cls.model_validate(report, from_attributes=True)


class FieldProblem(ResponseBody):
    field: str = Field(description="Dotted path of the field (list items by index); '' for the body itself")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document. Extension members other than those listed may appear (the RFC allows them)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str | None = None
    rule: str | None = Field(default=None, description="invalid-path: the broken path rule")
    errors: list[FieldProblem] | None = Field(default=None, description="invalid-body: every refused field")
    valid_tiers: list[str] | None = Field(default=None, description="An unknown tier was named: the valid ones")
    required_scope: str | None = Field(default=None, description="insufficient-scope: the scope needed")
    limit_files: int | None = Field(default=None, description="too-many-files: the limit")
    conflicts: list[str] | None = Field(default=None, description="target-exists: the first targets that exist")
    conflict_count: int | None = Field(default=None, description="target-exists: how many targets exist")
    copied: list[dict[str, Any]] | None = Field(
        default=None, description="A copy or move failed part-way: the files copied (from, to, version_id)"
    )
    moved: list[dict[str, Any]] | None = Field(
        default=None, description="A move failed part-way: the files moved (from, to, version_id)"
    )
    failed: list[dict[str, Any]] | None = Field(
        default=None, description="A copy or move failed part-way: the files that failed (from, to, detail)"
    )
    not_attempted: int | None = Field(
        default=None, description="A copy or move failed part-way: files not attempted after the failure"
    )
    parameter: str | None = Field(default=None, description="invalid-parameter: the refused query parameter")
    limit_bytes: int | None = Field(
        default=None, description="payload-too-large, archive-limit: the limit, when it is a number of bytes"
    )
    limit: str | None = Field(default=None, description="archive-limit: which import limit was reached")
    limit_value: int | None = Field(default=None, description="archive-limit: the value of that limit")
    entry: str | None = Field(default=None, description="archive-limit, invalid-archive: the entry at fault")


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    SessionCreate,
    SessionUpdate,
    TierChange,
    RollbackInput,
    LinkInput,
    GrantInput,
    ShareInput,
    TransferInput,
    ForkInput,
    ExportRequest,
)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    Session,
    SessionPage,
    FileVersion,
    FilePage,
    HistoryPage,
    FolderChange,
    Link,
    Grant,
    GrantPage,
    Share,
    SharePage,
    CopyReport,
    MoveReport,
    ExportStatus,
    ImportReport,
    Problem,
)


def render(model: BaseModel) -> dict[str, Any]:
    """The JSON-ready form of a response model (only set fields of optional members, so absent stays absent)."""
    return model.model_dump(mode="json", exclude_unset=True)
