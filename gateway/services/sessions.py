"""Sessions: a record object per session, next to the session's files, in the same bucket.

The record (`.../s/{id}/session.json`) is the session's existence: a session whose record is absent or deleted
does not exist, whatever objects remain under its prefix. Records change by read-modify-write; two replicas
changing one record at once go through the same conditional-write protocol as files, so no change is lost.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final

from gateway import changes, strict_json
from gateway.auth.cursors import CursorSealer
from gateway.changes import Actor, Change, ChangeHook
from gateway.errors import Conflict, DamagedRecord, InvalidBody, InvalidTransition, NotFound, ObjectMissing
from gateway.keys import Owner, SessionKeys, encode_session_id, is_session_id
from gateway.ordered import bounded
from gateway.policy.janitor import Janitor
from gateway.policy.tiers import Policy
from gateway.recovery.records import BEFORE_SESSION_DELETE
from gateway.recovery.snapshots import SessionSnapshots
from gateway.services import records
from gateway.services.snapshot import Selection
from gateway.storage.store import Store
from gateway.storage.writes import DeleteMarker, Prepared, VersionWriter
from gateway.wire import iso

MAX_NAME_CHARS = 256
MAX_METADATA_BYTES = 16 * 1024
MAX_FOLDER_TIERS = 100
ACTIVE, ENDED, ARCHIVED = "active", "ended", "archived"
STATES = (ACTIVE, ENDED, ARCHIVED)
# The operations that move a session out of each state (asking for the state it is in changes nothing).
TRANSITIONS = {ACTIVE: ("end",), ENDED: ("archive", "reactivate"), ARCHIVED: ("reactivate",)}
# The operation name in session-list cursor bindings.
LIST_OPERATION = "sessions.list"

log = logging.getLogger(__name__)


class Keep(Enum):
    """Leave a field as it is (for `Sessions.update`, where `None` means "clear")."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP


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

    @property
    def ended(self) -> bool:
        """Read-only: ended, or ended and archived since."""
        return self.state in (ENDED, ARCHIVED)

    def to_json(self) -> dict[str, Any]:
        """The stored form of the record."""
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "state": self.state,
            "ended_at": self.ended_at,
            "archived_at": self.archived_at,
            "metadata": self.metadata,
            "default_tier": self.default_tier,
            "folder_tiers": self.folder_tiers,
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
            ended_at=None if data.get("ended_at") is None else _moment(data, "ended_at"),
            archived_at=None if data.get("archived_at") is None else _moment(data, "archived_at"),
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


def _moment(data: dict[str, Any], name: str) -> str:
    value = _text(data, name)
    if datetime.fromisoformat(value).tzinfo is None:  # raises ValueError for what is not a time at all
        raise ValueError(f"{name} has no time zone")
    return value


def _object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{name} is not an object")
    return value


@dataclass(frozen=True)
class OpenSession:
    """A session the caller may reach: its keys and its record."""

    keys: SessionKeys
    record: SessionRecord


@dataclass(frozen=True)
class SessionListing:
    """One page of a user's sessions, oldest first."""

    items: list[SessionRecord]
    next_cursor: str | None


def named_tier(policy: Policy, value: str, field_name: str) -> str:
    """A tier a client named in the body field `field_name`; an unknown one is refused naming the valid tiers."""
    if value not in policy.tiers:
        names = list(policy.names)
        raise InvalidBody.field(
            field_name, f"unknown tier; valid tiers: {', '.join(names)}", extra={"valid_tiers": names}
        )
    return policy.tiers[value].name


def new_session_id() -> str:
    return encode_session_id(time.time_ns() // 1_000_000, os.urandom(10))


def _name(value: str | None) -> str | None:
    if value is not None and (len(value) > MAX_NAME_CHARS or any(ord(c) < 0x20 for c in value)):
        raise InvalidBody.field("name", f"at most {MAX_NAME_CHARS} characters, without control characters")
    return value


def _metadata(value: Mapping[str, Any]) -> dict[str, Any]:
    try:
        size = len(json.dumps(value, allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        raise InvalidBody.field("metadata", "metadata must hold JSON values only") from exc
    if size > MAX_METADATA_BYTES:
        raise InvalidBody.field("metadata", f"metadata must encode to at most {MAX_METADATA_BYTES} bytes of JSON")
    return dict(value)


class Sessions:
    def __init__(
        self,
        store: Store,
        policy: Policy,
        *,
        writer: VersionWriter,
        hook: ChangeHook,
        cursors: CursorSealer,
        janitor: Janitor | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._policy = policy
        self._writer = writer
        self._hook = hook
        self._cursors = cursors
        self._janitor = janitor
        self._clock = clock
        # Set by the assembly: an automatic snapshot before a session is deleted.
        self.snapshots: SessionSnapshots | None = None

    async def _announce(self, action: str, owner: Owner, keys: SessionKeys, version_id: str | None = None) -> None:
        await self._hook.announce(
            Change(
                action=action,
                actor=Actor.user_of(owner.tenant, owner.user),
                key=keys.record,
                session_id=keys.session_id,
                version_id=version_id,
                at=self._clock(),
            )
        )

    def _tier(self, value: str | None, field_name: str) -> str | None:
        return None if value is None else named_tier(self._policy, value, field_name)

    async def create(
        self,
        owner: Owner,
        *,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        default_tier: str | None = None,
    ) -> SessionRecord:
        return await self.add(owner, self.draft(name=name, metadata=metadata, default_tier=default_tier))

    def draft(
        self,
        *,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        default_tier: str | None = None,
    ) -> SessionRecord:
        """A new session's record, checked but not stored: a session exists once `add` has stored it, so a fork
        can fill a new session's files before anyone can see it."""
        now = iso(self._clock())
        return SessionRecord(
            id=new_session_id(),
            name=_name(name),
            created_at=now,
            updated_at=now,
            state=ACTIVE,
            metadata=_metadata(metadata or {}),
            default_tier=self._tier(default_tier, "default_tier"),
        )

    async def add(self, owner: Owner, record: SessionRecord) -> SessionRecord:
        """Store a drafted record: from now on the session exists."""
        keys = owner.session(record.id)
        # A new id has no history: nothing to look up before writing.
        written = await self._writer.write(
            keys.record, _encode(record), prepared=Prepared(None, None), content_type=records.RECORD_CONTENT_TYPE
        )
        await self._announce(changes.SESSION_CREATED, owner, keys, written.info.version_id)
        return record

    async def get(self, owner: Owner, session_id: str) -> SessionRecord:
        return (await self._read(owner.session(session_id)))[0]

    async def open(self, owner: Owner, session_id: str) -> OpenSession:
        """The session's keys and record; 404 for a session the owner does not have."""
        keys = owner.session(session_id)
        record, _etag = await self._read(keys)
        return OpenSession(keys, record)

    async def read(self, keys: SessionKeys) -> SessionRecord:
        """The record of the session at `keys`; 404 when it does not exist."""
        return (await self._read(keys))[0]

    async def _read(self, keys: SessionKeys) -> tuple[SessionRecord, str]:
        try:
            data, info = await self._store.read_bytes(keys.record)
        except ObjectMissing as exc:
            raise NotFound("no such session") from exc
        return _decode(keys.record, data), info.etag

    async def list(self, owner: Owner, *, limit: int, cursor: str | None) -> SessionListing:
        # The owner's prefix names root, tenant and user injectively: a cursor lists only its owner's sessions.
        binding = (LIST_OPERATION, owner.sessions_prefix)
        continuation = self._cursors.open(cursor, binding, expect=("token",))["token"] if cursor else None
        page = await self._store.list_page(owner.sessions_prefix, delimiter="/", limit=limit, continuation=continuation)
        ids = [sid for sid in map(owner.session_id_from_prefix, page.prefixes) if sid is not None]

        async def fetch(session_id: str) -> SessionRecord | None:
            try:
                return await self.get(owner, session_id)
            except NotFound:
                return None  # files left behind by a deleted session
            except DamagedRecord:
                return None  # logged where it was found; one bad record must not hide the others

        records = await bounded(ids, fetch)
        next_cursor = self._cursors.seal({"token": page.continuation}, binding) if page.continuation else None
        return SessionListing([r for r in records if r is not None], next_cursor)

    async def update(
        self,
        owner: Owner,
        session_id: str,
        *,
        name: str | Keep | None = KEEP,
        metadata_patch: Mapping[str, Any] | None = None,
        default_tier: str | Keep | None = KEEP,
    ) -> SessionRecord:
        """Change what is given: `None` clears `name` or `default_tier`; `metadata_patch` is merged (null removes)."""
        updates: dict[str, Any] = {}
        if name is not KEEP:
            updates["name"] = _name(name)
        if default_tier is not KEEP:
            updates["default_tier"] = self._tier(default_tier, "default_tier")
        patch = _metadata(metadata_patch) if metadata_patch else None

        def change(record: SessionRecord) -> SessionRecord:
            updated = replace(record, **updates)
            if patch is not None:
                # JSON merge patch (RFC 7396) on the top level: null removes a key.
                merged = {**record.metadata, **patch}
                updated = replace(updated, metadata=_metadata({k: v for k, v in merged.items() if v is not None}))
            return updated

        keys = owner.session(session_id)
        updated = await self._modify(keys, change)
        await self._announce(changes.SESSION_UPDATED, owner, keys)
        return updated

    async def set_folder_tier(self, owner: Owner, keys: SessionKeys, folder: str, tier: str | None) -> SessionRecord:
        """Make `tier` the default of new files under `folder` (None removes the folder's default)."""
        prefix = keys.path_of(keys.folder(folder))
        name = self._tier(tier, "default_tier")

        def change(record: SessionRecord) -> SessionRecord:
            folders = {k: v for k, v in record.folder_tiers.items() if k != prefix}
            if name is not None:
                folders[prefix] = name
            if len(folders) > MAX_FOLDER_TIERS:
                raise InvalidBody.field("default_tier", f"a session can have at most {MAX_FOLDER_TIERS} folder tiers")
            return replace(record, folder_tiers=folders)

        updated = await self._modify(keys, change)
        await self._announce(changes.SESSION_UPDATED, owner, keys)
        return updated

    async def end(self, owner: Owner, session_id: str) -> SessionRecord:
        """Mark the session ended (read-only from now on) and delete its ephemeral files, every version.

        Repeating it changes nothing but sweeps again: a write that raced the end may have landed after a sweep.
        """
        keys = owner.session(session_id)
        record, _ = await self._read(keys)
        if record.state == ARCHIVED:
            raise _refused(record, "end")
        if not record.ended:
            now = iso(self._clock())

            def ending(current: SessionRecord) -> SessionRecord:
                if current.state == ARCHIVED:
                    raise _refused(current, "end")
                return current if current.ended else replace(current, state=ENDED, ended_at=now)

            record = await self._modify(keys, ending)
            await self._announce(changes.SESSION_ENDED, owner, keys)
        if self._janitor is not None:
            await self._janitor.remove_ephemeral(keys)
        return record

    async def archive(self, owner: Owner, session_id: str) -> SessionRecord:
        """An ended session put away: still read-only, and kept; `reactivate` brings it back."""
        return await self._move(owner, session_id, "archive", ARCHIVED, changes.SESSION_ARCHIVED)

    async def reactivate(self, owner: Owner, session_id: str) -> SessionRecord:
        """An ended or archived session writable again (its ephemeral files, deleted when it ended, stay gone)."""
        return await self._move(owner, session_id, "reactivate", ACTIVE, changes.SESSION_REACTIVATED)

    async def _move(self, owner: Owner, session_id: str, operation: str, target: str, action: str) -> SessionRecord:
        keys = owner.session(session_id)
        now = iso(self._clock())
        changed = False

        def moved(record: SessionRecord) -> SessionRecord:
            nonlocal changed
            changed = record.state != target
            if not changed:
                return record  # already there: nothing changes
            if operation not in TRANSITIONS[record.state]:
                raise _refused(record, operation)
            if target == ARCHIVED:
                return replace(record, state=ARCHIVED, archived_at=now)
            return replace(record, state=ACTIVE, ended_at=None, archived_at=None)

        record = await self._modify(keys, moved)
        if changed:  # as the version that was written found it
            await self._announce(action, owner, keys)
        return record

    async def delete(self, owner: Owner, session_id: str, *, purge: bool) -> None:
        keys = owner.session(session_id)
        # Existence only, not the record's content: a damaged record must not make its session undeletable.
        try:
            await self._store.head(keys.record)
        except ObjectMissing as exc:
            raise NotFound("no such session") from exc
        if purge:
            await self._store.purge(keys.prefix)
            await self._announce(changes.SESSION_PURGED, owner, keys)
            return
        if self.snapshots is not None:
            # Every file as it was, kept beyond retention: restoring this snapshot brings the session back.
            await self.snapshots.before(
                Actor.user_of(owner.tenant, owner.user), keys, Selection(), BEFORE_SESSION_DELETE
            )
        # Files first: a failure half-way leaves a session that still exists and can be deleted again. Exports are
        # copies of the files, not their history: they go for good (a zip must not outlive the session it copied).
        await self._store.purge(keys.exports_prefix)
        await self._store.delete_all_current(keys.files_prefix)
        marker = await self._writer.write(keys.record, DeleteMarker(), prepared=Prepared(None, None))
        await self._announce(changes.SESSION_DELETED, owner, keys, marker.info.version_id)

    async def _modify(self, keys: SessionKeys, change: Callable[[SessionRecord], SessionRecord]) -> SessionRecord:
        def stamped(record: SessionRecord) -> SessionRecord:
            updated = change(record)
            return updated if updated == record else replace(updated, updated_at=iso(self._clock()))

        try:
            return await records.modify(self._writer, keys.record, lambda: self._read(keys), stamped, _encode)
        except InvalidTransition:
            raise
        except Conflict:
            raise Conflict("the session is being changed by others right now; retry") from None


def _refused(record: SessionRecord, operation: str) -> InvalidTransition:
    allowed = TRANSITIONS[record.state]
    return InvalidTransition(
        f"a session that is {record.state} cannot {operation}; it can: {', '.join(allowed)}",
        state=record.state,
        allowed=allowed,
    )


def _encode(record: SessionRecord) -> bytes:
    return json.dumps(record.to_json(), separators=(",", ":")).encode()


encode_record = _encode  # the stored form, for writers outside this module (a restore from a backup)


def _decode(key: str, data: bytes) -> SessionRecord:
    """A stored record, or `DamagedRecord` (logged with its key) for one that is not strict JSON of the right shape."""
    try:
        return SessionRecord.from_json(strict_json.loads(data))
    except InvalidBody as exc:
        reason = exc.detail
    except ValueError as exc:
        reason = str(exc)
    log.warning("session record %s cannot be read: %s", key, reason)
    raise DamagedRecord("this session's stored record cannot be read; it can only be deleted")
