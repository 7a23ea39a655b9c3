"""The JSON bodies of recovery: restoring to a moment or a snapshot, and the snapshots themselves."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from gateway.api.models import (
    FILE_PATH_PATTERN,
    IMPORT_FOLDER_PATTERN,
    Moment,
    RequestBody,
    ResponseBody,
    Sha256,
    Timestamp,
)
from gateway.recovery import records as snapshot_records
from gateway.recovery.restoring import SHOWN_PATHS, RestoreReport
from gateway.wire import moment

SNAPSHOT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
RESTORE_RULES = (
    "Files changed since come back as new versions, files created since get delete markers, files deleted since "
    "return; what retention has removed since is not brought back. A real restore first takes an automatic "
    "snapshot (`undo_snapshot`) of what it changes, so restoring that snapshot undoes it. Each write is conditional "
    "on the version the plan saw: a file changed meanwhile is listed in `skipped` and left alone. Repeating the "
    "same restore finishes one that was cut short, with the snapshot taken the first time (`resumed`)."
)

Folder = Annotated[
    str,
    Field(
        json_schema_extra={"pattern": IMPORT_FOLDER_PATTERN},
        description="A folder path (with or without its last '/'); empty for the whole session",
    ),
]
SnapshotName = Annotated[
    str,
    Field(
        json_schema_extra={"pattern": SNAPSHOT_NAME_PATTERN},
        description="1 to 64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit; names "
        "starting with 'auto-' are kept for automatic snapshots",
    ),
]


class RestoreInput(RequestBody):
    """Bring the session, or one folder of it, back to what it was at `at`."""

    at: Moment = Field(description="The moment to go back to (RFC 3339, not in the future)")
    prefix: Folder = ""
    dry_run: bool = Field(default=False, description="Only say what would be done; change nothing")


class SnapshotRestoreInput(RequestBody):
    """Bring the files a snapshot covers back to what it holds (and a session deleted since, too)."""

    dry_run: bool = Field(default=False, description="Only say what would be done; change nothing")


class SnapshotInput(RequestBody):
    """Record every current file's version under `prefix`, kept beyond retention until the snapshot is deleted."""

    name: SnapshotName
    prefix: Folder = ""


class Skipped(ResponseBody):
    path: str
    reason: str


class RestoreCounts(ResponseBody):
    restore: int = Field(description="Files that come (or came) back as new versions")
    delete: int = Field(description="Files that get (or got) a delete marker")
    unchanged: int = Field(description="Files that already hold what they held then")


class RestoreResult(ResponseBody):
    """The plan of a restore (`dry_run`), or what it did."""

    dry_run: bool
    prefix: str
    at: Timestamp | None = Field(description="The moment restored to (a point-in-time restore)")
    snapshot: str | None = Field(description="The snapshot restored (a snapshot restore)")
    counts: RestoreCounts
    restore: list[str] = Field(description=f"Paths restored, in path order (at most {SHOWN_PATHS})")
    delete: list[str] = Field(description=f"Paths deleted, in path order (at most {SHOWN_PATHS})")
    skipped: list[Skipped] = Field(description="Files left alone, and why; restore again to include them")
    undo_snapshot: str | None = Field(description="The automatic snapshot taken first: restore it to undo this")
    resumed: bool = Field(description="This call finished a restore an earlier call had begun")
    session_restored: bool = Field(description="The session itself had been deleted and came back")
    complete: bool = Field(description="Nothing is left to do (false for a dry run)")

    @classmethod
    def of(cls, report: RestoreReport) -> RestoreResult:
        return cls(
            dry_run=report.dry_run,
            prefix=report.prefix,
            at=moment(report.at) if report.at else None,
            snapshot=report.snapshot,
            counts=RestoreCounts(restore=len(report.restore), delete=len(report.delete), unchanged=report.unchanged),
            restore=report.restore[:SHOWN_PATHS],
            delete=report.delete[:SHOWN_PATHS],
            skipped=[Skipped(path=path, reason=why) for path, why in report.skipped],
            undo_snapshot=report.undo_snapshot,
            resumed=report.resumed,
            session_restored=report.session_restored,
            complete=report.complete,
        )


class PendingRestore(ResponseBody):
    at: Timestamp | None
    snapshot: str | None
    prefix: str
    completed_at: Timestamp | None


class Snapshot(ResponseBody):
    name: str
    state: Literal["creating", "ready", "deleting"]
    created_at: Timestamp
    prefix: str = Field(description="The folder it covers ('' for the whole session)")
    paths: list[str] = Field(description="When not empty, only these files and folders under `prefix`")
    reason: str = Field(
        description="`manual`, or the operation an automatic snapshot was taken before: "
        + ", ".join(f"`{reason}`" for reason in snapshot_records.REASONS[1:])
    )
    automatic: bool
    expires_at: Timestamp | None = Field(description="When the janitor removes it (automatic snapshots)")
    file_count: int
    bytes: int
    restore: PendingRestore | None = Field(description="For a `before-restore` snapshot: the restore it preceded")

    @classmethod
    def of(cls, record: snapshot_records.SnapshotRecord) -> Snapshot:
        pending = record.restore
        return cls.model_validate(
            {
                "name": record.name,
                "state": record.state,
                "created_at": moment(record.created_at),
                "prefix": record.prefix,
                "paths": list(record.paths),
                "reason": record.reason,
                "automatic": record.automatic,
                "expires_at": moment(record.expires_at) if record.expires_at else None,
                "file_count": record.file_count,
                "bytes": record.bytes,
                "restore": None
                if pending is None
                else {
                    "at": moment(pending.at) if pending.at else None,
                    "snapshot": pending.snapshot,
                    "prefix": pending.prefix,
                    "completed_at": moment(pending.completed_at) if pending.completed_at else None,
                },
            }
        )


class SnapshotPage(ResponseBody):
    items: list[Snapshot] = Field(description="Every snapshot of the session, oldest first")


class SnapshotFile(ResponseBody):
    path: Annotated[str, Field(json_schema_extra={"pattern": FILE_PATH_PATTERN})]
    version_id: str | None = Field(description="The file's version the snapshot keeps")
    size: int
    sha256: Sha256 | None
    tier: str | None
    last_modified: Timestamp
    content_type: str | None = Field(description="As the snapshot read it (null: kept as the file's own version)")

    @classmethod
    def of(cls, saved: snapshot_records.SavedFile) -> SnapshotFile:
        return cls(
            path=saved.path,
            version_id=saved.version_id,
            size=saved.size,
            sha256=saved.sha256,
            tier=saved.tier,
            last_modified=moment(saved.last_modified),
            content_type=saved.content_type,
        )


class SnapshotDetail(ResponseBody):
    snapshot: Snapshot
    files: list[SnapshotFile] = Field(description="A page of its files, in path order")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


REQUEST_MODELS: tuple[type[BaseModel], ...] = (RestoreInput, SnapshotRestoreInput, SnapshotInput)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (RestoreResult, Snapshot, SnapshotPage, SnapshotDetail)
