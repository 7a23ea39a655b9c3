"""A session's summary: what a listing shows of it, in one canonical form.

Times are kept as fixed-width UTC text (`2026-11-21T10:00:00.000000Z`), so sorting and range filters compare
strings, and a summary read from the index compares equal to one built from the truth.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.services.session_records import SessionRecord


def canonical_time(value: str | datetime) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def folded(text: str) -> str:
    """`text` for case- and accent-insensitive matching: compatibility-decomposed, marks dropped, case-folded."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@dataclass(frozen=True)
class Activity:
    """What a session's files last looked like: stored beside its record, refreshed by `activity.ActivityTracker`."""

    last_activity_at: str | None  # None: no user changed its files yet
    file_count: int
    bytes: int
    counted_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "last_activity_at": self.last_activity_at,
            "file_count": self.file_count,
            "bytes": self.bytes,
            "counted_at": self.counted_at,
        }

    @classmethod
    def from_json(cls, data: object) -> Activity:
        if not isinstance(data, dict):
            raise ValueError("the activity is not a JSON object")
        counts = data.get("file_count"), data.get("bytes")
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
            raise ValueError("file_count and bytes must be whole numbers")
        return cls(
            last_activity_at=None
            if data.get("last_activity_at") is None
            else canonical_time(str(data["last_activity_at"])),
            file_count=int(data["file_count"]),
            bytes=int(data["bytes"]),
            counted_at=canonical_time(str(data["counted_at"])),
        )


@dataclass(frozen=True)
class SessionSummary:
    id: str
    name: str | None
    state: str
    created_at: str
    updated_at: str
    last_activity_at: str
    ended_at: str | None
    archived_at: str | None
    tags: tuple[str, ...]
    external_ids: tuple[str, ...]
    project: str | None
    default_tier: str | None
    file_count: int
    bytes: int

    @classmethod
    def of(cls, record: SessionRecord, activity: Activity | None) -> SessionSummary:
        touched = canonical_time(record.last_touched)
        return cls(
            id=record.id,
            name=record.name,
            state=record.state,
            created_at=canonical_time(record.created_at),
            updated_at=canonical_time(record.updated_at),
            last_activity_at=max(touched, activity.last_activity_at or touched) if activity else touched,
            ended_at=None if record.ended_at is None else canonical_time(record.ended_at),
            archived_at=None if record.archived_at is None else canonical_time(record.archived_at),
            tags=record.tags,
            external_ids=record.external_ids,
            project=record.project,
            default_tier=record.default_tier,
            file_count=activity.file_count if activity else 0,
            bytes=activity.bytes if activity else 0,
        )

    def to_json(self) -> list[Any]:
        # A list, not an object: the base of a user with 10,000 sessions is read whole, and names repeated 10,000
        # times would be most of it.
        return [
            self.id,
            self.name,
            self.state,
            self.created_at,
            self.updated_at,
            self.last_activity_at,
            self.ended_at,
            self.archived_at,
            list(self.tags),
            list(self.external_ids),
            self.project,
            self.default_tier,
            self.file_count,
            self.bytes,
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> SessionSummary:
        (sid, name, state, created, updated, active, ended, archived, tags, ids, project, tier, files, size) = data
        return cls(
            sid,
            name,
            state,
            created,
            updated,
            active,
            ended,
            archived,
            tuple(tags),
            tuple(ids),
            project,
            tier,
            files,
            size,
        )
