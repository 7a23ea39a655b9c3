"""The one hook that announces every committed change: who did what to which versions.

Services and the janitor announce a `Change` after S3 has accepted it, never before, so a listener never hears of
something that did not happen. Listeners (an audit log, an event feed, a session index) subscribe to the one
`ChangeHook` of the process. A failing listener is logged and does not fail the request: the change is already in
the bucket, and the client must learn that it succeeded.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.telemetry.request_ids import current_request_id

log = logging.getLogger(__name__)

# What changed. Files: a new version, a delete marker, a rollback (a new version copied from an old one), a new tier.
FILE_WRITTEN = "file.written"
FILE_DELETED = "file.deleted"
FILE_ROLLED_BACK = "file.rolled_back"
FILE_RETIERED = "file.retiered"
# Every action on a session record starts so.
SESSION_PREFIX = "session."
SESSION_CREATED = "session.created"
SESSION_UPDATED = "session.updated"
SESSION_ENDED = "session.ended"
SESSION_ARCHIVED = "session.archived"
SESSION_REACTIVATED = "session.reactivated"
SESSION_DELETED = "session.deleted"
SESSION_PURGED = "session.purged"
# Projects: every action on a project's record starts so; the janitor warns before it cleans one up.
PROJECT_PREFIX = "project."
PROJECT_CREATED = "project.created"
PROJECT_UPDATED = "project.updated"
PROJECT_PINNED = "project.pinned"
PROJECT_UNPINNED = "project.unpinned"
PROJECT_EXTENDED = "project.extended"
PROJECT_DELETED = "project.deleted"
PROJECT_CLEANUP_WARNING = "project.cleanup_warning"
PROJECT_CLEANED_UP = "project.cleaned_up"
GRANT_CREATED = "grant.created"
GRANT_REVOKED = "grant.revoked"
SHARE_CREATED = "share.created"
SHARE_REVOKED = "share.revoked"
# Recovery: a file brought back by a restore, a session record brought back, snapshots taken and removed.
FILE_RESTORED = "file.restored"
SESSION_RESTORED = "session.restored"
SNAPSHOT_CREATED = "snapshot.created"
SNAPSHOT_DELETED = "snapshot.deleted"
# The janitor: a delete marker on an expired file, an exact version removed, an abandoned upload aborted.
VERSION_EXPIRED = "version.expired"
VERSION_REMOVED = "version.removed"
UPLOAD_ABORTED = "upload.aborted"

USER = "user"
JANITOR = "janitor"
# `backup restore`, writing files and session records back from a backup.
RESTORE = "restore"


@dataclass(frozen=True)
class Actor:
    """Who made a change: a user of a tenant, or the gateway itself (`kind` "janitor" or "restore")."""

    kind: str
    tenant: str | None = None
    user: str | None = None

    @classmethod
    def user_of(cls, tenant: str | None, user: str) -> Actor:
        return cls(USER, tenant, user)


SYSTEM_JANITOR = Actor(JANITOR)
SYSTEM_RESTORE = Actor(RESTORE)


@dataclass(frozen=True)
class Change:
    """One committed change. `key` is the S3 key; `path` the file path inside its session, when it is a file."""

    action: str
    actor: Actor
    key: str
    session_id: str | None = None
    path: str | None = None
    version_id: str | None = None
    previous_version_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The request that made the change (None for the janitor and commands): audit records and logs name it.
    request_id: str | None = field(default_factory=current_request_id)


Listener = Callable[[Change], Awaitable[None] | None]


def log_change(change: Change) -> None:
    """The default listener: one structured log line per change."""
    log.info(
        "%s by %s on %s version %s",
        change.action,
        change.actor.user or change.actor.kind,
        change.path or change.key,
        change.version_id or "-",
        extra={"change": change},
    )


class ChangeHook:
    def __init__(self, listeners: list[Listener] | None = None) -> None:
        self._listeners: list[Listener] = list(listeners) if listeners is not None else [log_change]

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def announce(self, change: Change) -> None:
        for listener in self._listeners:
            try:
                result = listener(change)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("a change listener failed on %s of %s", change.action, change.key)
