"""A session's stored record (`.../s/{id}/session.json`) and the rules its client-given fields follow.

The record holds what the owner says about the session (name, tags, external ids, project, metadata, tiers) and
its state. What follows from its files (how many, how many bytes, when they last changed) is not kept here: the
record would get a version for every upload. `gateway.index.activity` keeps that beside it.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.errors import InvalidBody
from gateway.keys import is_session_id

MAX_NAME_CHARS = 256
MAX_METADATA_BYTES = 16 * 1024
MAX_TAGS = 32
MAX_TAG_CHARS = 64
MAX_EXTERNAL_IDS = 16
MAX_EXTERNAL_ID_CHARS = 256
ACTIVE, ENDED, ARCHIVED = "active", "ended", "archived"
STATES = (ACTIVE, ENDED, ARCHIVED)


@dataclass(frozen=True)
class SessionRecord:
    id: str
    name: str | None
    created_at: str
    updated_at: str
    state: str
    metadata: dict[str, Any]
    default_tier: str | None = None
    folder_tiers: dict[str, str] = field(default_factory=dict)
    ended_at: str | None = None
    archived_at: str | None = None
    tags: tuple[str, ...] = ()
    external_ids: tuple[str, ...] = ()
    project: str | None = None
    # The last change its owner made to the record; the janitor's changes (archiving an idle session) leave it.
    # Records written before this field existed take `updated_at`.
    touched_at: str | None = None

    @property
    def ended(self) -> bool:
        """Read-only: ended, or ended and archived since."""
        return self.state in (ENDED, ARCHIVED)

    @property
    def last_touched(self) -> str:
        return self.touched_at or self.updated_at

    def to_json(self) -> dict[str, Any]:
        """The stored form of the record."""
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "touched_at": self.touched_at,
            "state": self.state,
            "ended_at": self.ended_at,
            "archived_at": self.archived_at,
            "metadata": self.metadata,
            "default_tier": self.default_tier,
            "folder_tiers": self.folder_tiers,
            "tags": list(self.tags),
            "external_ids": list(self.external_ids),
            "project": self.project,
        }

    @classmethod
    def from_json(cls, data: object) -> SessionRecord:
        """Read the stored form back; a ValueError says what is wrong with a record that does not fit it."""
        if not isinstance(data, dict):
            raise ValueError("the record is not a JSON object")
        record = cls(
            id=_text(data, "id"),
            name=_optional_text(data, "name"),
            created_at=_moment(data, "created_at"),
            updated_at=_moment(data, "updated_at"),
            state=_text(data, "state", ACTIVE),
            metadata=_object(data, "metadata"),
            default_tier=_optional_text(data, "default_tier"),
            folder_tiers=_object(data, "folder_tiers"),
            ended_at=_optional_moment(data, "ended_at"),
            archived_at=_optional_moment(data, "archived_at"),
            tags=_texts(data, "tags"),
            external_ids=_texts(data, "external_ids"),
            project=_optional_text(data, "project"),
            touched_at=_optional_moment(data, "touched_at"),
        )
        if not is_session_id(record.id):
            raise ValueError("id is not a session id")
        if record.state not in STATES:
            raise ValueError(f"state is none of {', '.join(STATES)}")
        if not all(isinstance(tier, str) for tier in record.folder_tiers.values()):
            raise ValueError("folder_tiers holds a tier that is not a string")
        return record


def _text(data: dict[str, Any], name: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return value


def _optional_text(data: dict[str, Any], name: str) -> str | None:
    return None if data.get(name) is None else _text(data, name)


def _texts(data: dict[str, Any], name: str) -> tuple[str, ...]:
    value = data.get(name) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{name} is not a list of strings")
    return tuple(value)


def _moment(data: dict[str, Any], name: str) -> str:
    value = _text(data, name)
    if datetime.fromisoformat(value).tzinfo is None:  # raises ValueError for what is not a time at all
        raise ValueError(f"{name} has no time zone")
    return value


def _optional_moment(data: dict[str, Any], name: str) -> str | None:
    return None if data.get(name) is None else _moment(data, name)


def _object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{name} is not an object")
    return value


def _printable(value: str) -> bool:
    return not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value)


def checked_name(value: str | None) -> str | None:
    if value is not None and (len(value) > MAX_NAME_CHARS or not _printable(value)):
        raise InvalidBody.field("name", f"at most {MAX_NAME_CHARS} characters, without control characters")
    return value


def checked_metadata(value: Mapping[str, Any]) -> dict[str, Any]:
    try:
        size = len(json.dumps(value, allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        raise InvalidBody.field("metadata", "metadata must hold JSON values only") from exc
    if size > MAX_METADATA_BYTES:
        raise InvalidBody.field("metadata", f"metadata must encode to at most {MAX_METADATA_BYTES} bytes of JSON")
    return dict(value)


def checked_tags(values: Iterable[str]) -> tuple[str, ...]:
    """Tags as stored: NFC (a tag typed on two keyboards is one tag), without repeats, sorted."""
    tags = sorted({unicodedata.normalize("NFC", value) for value in values})
    if len(tags) > MAX_TAGS:
        raise InvalidBody.field("tags", f"at most {MAX_TAGS} tags")
    for tag in tags:
        if not tag.strip() or len(tag) > MAX_TAG_CHARS or not _printable(tag):
            raise InvalidBody.field(
                "tags", f"a tag is 1 to {MAX_TAG_CHARS} characters, not only spaces, without control characters"
            )
    return tuple(tags)


def checked_external_ids(values: Iterable[str]) -> tuple[str, ...]:
    """External ids as given (another system's identifiers are compared exactly), without repeats."""
    ids = tuple(dict.fromkeys(values))
    if len(ids) > MAX_EXTERNAL_IDS:
        raise InvalidBody.field("external_ids", f"at most {MAX_EXTERNAL_IDS} external ids")
    for value in ids:
        if not value or len(value) > MAX_EXTERNAL_ID_CHARS or not _printable(value):
            raise InvalidBody.field(
                "external_ids", f"an external id is 1 to {MAX_EXTERNAL_ID_CHARS} characters, without control characters"
            )
    return ids
