"""A project's stored record (`{owner}/p/{id}.json`) and the rules its client-given fields follow.

The record holds what the owner says (name, metadata, how long the project may stay idle, pinned, kept until) and
two things the gateway keeps for itself: whose project it is (tenant and user, so that the janitor, which finds
records by walking the bucket, can act as the owner's sessions need) and the janitor's last warning. Times are
stored in the fixed-width form of `gateway.index.summaries.canonical_time`, so they compare as strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.errors import InvalidBody
from gateway.index.summaries import canonical_time
from gateway.keys import is_project_id, is_project_prefix

MAX_DAYS = 3650
DEFAULT_PREFIX = "proj"


@dataclass(frozen=True)
class Warned:
    """The janitor's last cleanup warning: for which target (the moment inactivity and `keep_until` give), since
    when it warns for that target, and how many days were left when it last announced (one announcement a day)."""

    target: str
    since: str
    days_left: int

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "since": self.since, "days_left": self.days_left}

    @classmethod
    def from_json(cls, data: object) -> Warned:
        if not isinstance(data, dict):
            raise ValueError("warned is not an object")
        days = data.get("days_left")
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            raise ValueError("warned.days_left is not a whole number")
        return cls(target=_moment(data, "target"), since=_moment(data, "since"), days_left=days)


@dataclass(frozen=True)
class ProjectRecord:
    id: str
    name: str | None
    created_at: str
    updated_at: str
    # The last change its owner made to it (pinning and extending are not activity; unpinning is).
    touched_at: str
    tenant: str | None
    user: str
    cleanup_after_days: int | None  # None: never cleaned up for inactivity
    warning_days: int
    pinned: bool = False
    keep_until: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    warned: Warned | None = None
    # Set when a deletion starts: the project is gone for every route but DELETE, which (like the janitor)
    # finishes a deletion cut short.
    deleting_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "touched_at": self.touched_at,
            "owner": {"tenant": self.tenant, "user": self.user},
            "cleanup_after_days": self.cleanup_after_days,
            "warning_days": self.warning_days,
            "pinned": self.pinned,
            "keep_until": self.keep_until,
            "metadata": self.metadata,
            "warned": None if self.warned is None else self.warned.to_json(),
            "deleting_at": self.deleting_at,
        }

    @classmethod
    def from_json(cls, data: object) -> ProjectRecord:
        """Read the stored form back; a ValueError says what does not fit."""
        if not isinstance(data, dict):
            raise ValueError("the record is not a JSON object")
        owner = data.get("owner")
        if not isinstance(owner, dict) or not isinstance(owner.get("user"), str):
            raise ValueError("owner is not an object with a user")
        tenant = owner.get("tenant")
        if tenant is not None and not isinstance(tenant, str):
            raise ValueError("owner.tenant is not a string")
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise ValueError("metadata is not an object")
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise ValueError("name is not a string")
        pinned = data.get("pinned", False)
        if not isinstance(pinned, bool):
            raise ValueError("pinned is not a boolean")
        record = cls(
            id=_text(data, "id"),
            name=name,
            created_at=_moment(data, "created_at"),
            updated_at=_moment(data, "updated_at"),
            touched_at=_moment(data, "touched_at"),
            tenant=tenant,
            user=owner["user"],
            cleanup_after_days=_days(data, "cleanup_after_days", optional=True),
            warning_days=_days(data, "warning_days") or 0,
            pinned=pinned,
            keep_until=None if data.get("keep_until") is None else _moment(data, "keep_until"),
            metadata=metadata,
            warned=None if data.get("warned") is None else Warned.from_json(data["warned"]),
            deleting_at=None if data.get("deleting_at") is None else _moment(data, "deleting_at"),
        )
        if not is_project_id(record.id):
            raise ValueError("id is not a project id")
        return record


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return value


def _moment(data: dict[str, Any], name: str) -> str:
    value = _text(data, name)
    try:
        return canonical_time(value)
    except ValueError as exc:
        raise ValueError(f"{name} is not a time") from exc


def _days(data: dict[str, Any], name: str, *, optional: bool = False) -> int | None:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_DAYS:
        raise ValueError(f"{name} is not a number of days")
    return value


def checked_prefix(value: str) -> str:
    if not is_project_prefix(value):
        raise InvalidBody.field(
            "prefix",
            "lower-case: a letter first, then letters, digits and '-', at most 32 characters",
        )
    return value


def checked_days(name: str, value: int, *, least: int) -> int:
    if not least <= value <= MAX_DAYS:
        raise InvalidBody.field(name, f"a whole number of days from {least} to {MAX_DAYS}")
    return value


def checked_lifetime(cleanup_after_days: int | None, warning_days: int) -> tuple[int | None, int]:
    """Cleanup and warning days together: warnings start before the cleanup, so there are fewer of them."""
    if cleanup_after_days is not None:
        checked_days("cleanup_after_days", cleanup_after_days, least=1)
    checked_days("warning_days", warning_days, least=0)
    if cleanup_after_days is not None and warning_days >= cleanup_after_days:
        raise InvalidBody.field("warning_days", "must be fewer than cleanup_after_days")
    return cleanup_after_days, warning_days
