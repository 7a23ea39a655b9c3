"""What a snapshot is in the bucket: a small record, and a manifest of its files with their protected copies.

Under the session's `snapshots/` prefix (keys from `gateway.keys`):
- `{name}.json`, the record: name, state (`creating`, then `ready`), the folder it covers, why it was taken,
  when it expires (automatic snapshots only), counts, the session record's version, and for a snapshot taken
  before a restore, that restore (so a second call resumes it with the same snapshot);
- `{name}/manifest.jsonl`, one JSON object per file, in path order: the file's version at the time, its size,
  SHA-256, tier, type and tags, and the number of its protected copy (if it has one);
- `{name}/c/{number}`, the protected copies: copies without the tier tag, so no tier's lifecycle rule matches them
  and the janitor does not judge them as files. They live until the snapshot is deleted. A version whose tier keeps
  it at least as long as the snapshot lives (an automatic snapshot, a tier that keeps old versions for longer; a
  tier that never removes them) needs no copy: its manifest line names the file's own version.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway import strict_json
from gateway.errors import DamagedRecord, InvalidBody
from gateway.keys import is_snapshot_name

CREATING = "creating"
READY = "ready"
MANUAL = "manual"
# Why an automatic snapshot was taken: the operation that was about to change or remove files.
BEFORE_RESTORE = "before-restore"
BEFORE_SESSION_DELETE = "before-session-delete"
BEFORE_FOLDER_DELETE = "before-folder-delete"
BEFORE_MOVE = "before-move"
BEFORE_IMPORT = "before-import"
REASONS = (MANUAL, BEFORE_RESTORE, BEFORE_SESSION_DELETE, BEFORE_FOLDER_DELETE, BEFORE_MOVE, BEFORE_IMPORT)
AUTOMATIC_PREFIX = "auto-"
MAX_NAME_CHARS = 64


def check_name(name: str) -> str:
    """A snapshot name a client chose: 400 naming `name` and the rule it breaks."""
    if not is_snapshot_name(name):
        raise InvalidBody.field(
            "name",
            f"must be 1 to {MAX_NAME_CHARS} ASCII letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    if name.startswith(AUTOMATIC_PREFIX):
        raise InvalidBody.field("name", f"names starting with {AUTOMATIC_PREFIX!r} are kept for automatic snapshots")
    return name


@dataclass(frozen=True)
class PendingRestore:
    """The restore a `before-restore` snapshot was taken for; `completed_at` is set once it finished."""

    at: str | None  # the moment restored to, for a point-in-time restore
    snapshot: str | None  # the snapshot restored, for a snapshot restore
    prefix: str
    completed_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "snapshot": self.snapshot, "prefix": self.prefix, "completed_at": self.completed_at}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PendingRestore:
        return cls(
            at=_optional(data, "at"),
            snapshot=_optional(data, "snapshot"),
            prefix=_text(data, "prefix"),
            completed_at=_optional(data, "completed_at"),
        )

    def same_job(self, other: PendingRestore) -> bool:
        return (self.at, self.snapshot, self.prefix) == (other.at, other.snapshot, other.prefix)


@dataclass(frozen=True)
class SnapshotRecord:
    name: str
    created_at: str
    state: str
    prefix: str  # the folder it covers ('' for the whole session), ending with '/'
    reason: str
    paths: tuple[str, ...] = ()  # when set, only these files and folders (ending with '/') under `prefix`
    expires_at: str | None = None
    file_count: int = 0
    bytes: int = 0
    record_version: str | None = None  # the session record's version when it was taken
    restore: PendingRestore | None = None

    @property
    def automatic(self) -> bool:
        return self.reason != MANUAL

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created_at": self.created_at,
            "state": self.state,
            "prefix": self.prefix,
            "reason": self.reason,
            "paths": list(self.paths),
            "expires_at": self.expires_at,
            "file_count": self.file_count,
            "bytes": self.bytes,
            "record_version": self.record_version,
            "restore": self.restore.to_json() if self.restore else None,
        }

    @classmethod
    def from_json(cls, data: object) -> SnapshotRecord:
        if not isinstance(data, dict):
            raise ValueError("a snapshot record is a JSON object")
        restore = data.get("restore")
        if restore is not None and not isinstance(restore, dict):
            raise ValueError("restore is an object")
        return cls(
            name=_text(data, "name"),
            created_at=_text(data, "created_at"),
            state=_text(data, "state"),
            prefix=_text(data, "prefix"),
            reason=_text(data, "reason"),
            paths=_paths(data),
            expires_at=_optional(data, "expires_at"),
            file_count=_count(data, "file_count"),
            bytes=_count(data, "bytes"),
            record_version=_optional(data, "record_version"),
            restore=PendingRestore.from_json(restore) if restore else None,
        )


@dataclass(frozen=True)
class SavedFile:
    """One file of a snapshot: what it was, and its protected copy."""

    path: str
    version_id: str | None
    size: int
    etag: str
    last_modified: str
    sha256: str | None
    tier: str | None
    content_type: str | None
    # The number of its protected copy; None when its tier keeps the version itself for as long as the snapshot
    # lives (see `SessionSnapshots`).
    copy: int | None
    copy_version: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_line(self) -> bytes:
        data = {
            "path": self.path,
            "version_id": self.version_id,
            "size": self.size,
            "etag": self.etag,
            "last_modified": self.last_modified,
            "sha256": self.sha256,
            "tier": self.tier,
            "content_type": self.content_type,
            "copy": self.copy,
            "copy_version": self.copy_version,
            "tags": dict(self.tags),
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> SavedFile:
        data = strict_json.loads(line)
        if not isinstance(data, dict):
            raise ValueError("a manifest line is a JSON object")
        return cls(
            path=_text(data, "path"),
            version_id=_optional(data, "version_id"),
            size=_count(data, "size"),
            etag=_text(data, "etag"),
            last_modified=_text(data, "last_modified"),
            sha256=_optional(data, "sha256"),
            tier=_optional(data, "tier"),
            content_type=_optional(data, "content_type"),
            copy=None if data.get("copy") is None else _count(data, "copy"),
            copy_version=_optional(data, "copy_version"),
            tags=_strings(data, "tags"),
        )


def encode(record: SnapshotRecord) -> bytes:
    return json.dumps(record.to_json(), separators=(",", ":")).encode()


def decode(key: str, data: bytes) -> SnapshotRecord:
    try:
        return SnapshotRecord.from_json(strict_json.loads(data))
    except (ValueError, InvalidBody) as exc:
        raise DamagedRecord(f"the snapshot record {key.rsplit('/', 1)[-1]} cannot be read") from exc


async def manifest_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[SavedFile]:
    """The files of a manifest as its bytes arrive: one line held at a time, never the whole manifest."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line:
                yield _saved(line)
    if pending:
        yield _saved(pending)


def _saved(line: bytes) -> SavedFile:
    try:
        return SavedFile.from_line(line)
    except (ValueError, InvalidBody) as exc:
        raise DamagedRecord("a snapshot's manifest cannot be read") from exc


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} is a string")
    return value


def _optional(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} is a string or null")
    return value


def _paths(data: Mapping[str, Any]) -> tuple[str, ...]:
    value = data.get("paths") or []
    if not isinstance(value, list) or not all(isinstance(path, str) for path in value):
        raise ValueError("paths is a list of strings")
    return tuple(value)


def _count(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} is a whole number")
    return value


def _strings(data: Mapping[str, Any], name: str) -> dict[str, str]:
    value = data.get(name) or {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"{name} maps names to strings")
    return {str(k): v for k, v in value.items()}
