"""Sessions: a record object per session, next to the session's files, in the same bucket.

The record (`.../s/{id}/session.json`) is the session's existence: a session whose record is absent or deleted
does not exist, whatever objects remain under its prefix. Records change by read-modify-write; two replicas
changing one record at once go through the same conditional-write protocol as files, so no change is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final

from gateway import changes, strict_json
from gateway.auth.cursors import CursorSealer
from gateway.changes import SYSTEM_JANITOR, Actor, Change, ChangeHook
from gateway.errors import (
    Conflict,
    DamagedRecord,
    InvalidBody,
    InvalidCursor,
    InvalidTransition,
    NotFound,
    ObjectMissing,
)
from gateway.index.activity import count_files, read_activity
from gateway.index.catalog import SessionIndex
from gateway.index.query import SessionQuery
from gateway.index.summaries import Activity, SessionSummary
from gateway.keys import Owner, SessionKeys, encode_session_id
from gateway.policy.janitor import Janitor
from gateway.policy.tiers import Policy
from gateway.recovery.records import BEFORE_SESSION_DELETE
from gateway.recovery.snapshots import SessionSnapshots
from gateway.services import records
from gateway.services.session_records import (
    ACTIVE,
    ARCHIVED,
    ENDED,
    SessionRecord,
    checked_external_ids,
    checked_metadata,
    checked_name,
    checked_tags,
)
from gateway.services.snapshot import Selection
from gateway.storage.store import Store
from gateway.storage.writes import DeleteMarker, Prepared, VersionWriter
from gateway.wire import iso

MAX_FOLDER_TIERS = 100
# The operations that move a session out of each state (asking for the state it is in changes nothing).
TRANSITIONS = {ACTIVE: ("end",), ENDED: ("archive", "reactivate"), ARCHIVED: ("reactivate",)}
# The operation name in session-list cursor bindings.
LIST_OPERATION = "sessions.list"
ANY_SESSION = SessionQuery()

log = logging.getLogger(__name__)


class Keep(Enum):
    """Leave a field as it is (for `Sessions.update`, where `None` means "clear")."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP


@dataclass(frozen=True)
class OpenSession:
    """A session the caller may reach: its keys and its record."""

    keys: SessionKeys
    record: SessionRecord


@dataclass(frozen=True)
class SessionDetail:
    """A session's record and its activity (None before its files first changed)."""

    record: SessionRecord
    activity: Activity | None


@dataclass(frozen=True)
class SessionListing:
    """One page of a user's sessions, in the query's order."""

    items: list[SessionSummary]
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
        # Set by the assembly: an automatic snapshot before a session is deleted; the index of each owner's sessions.
        self.snapshots: SessionSnapshots | None = None
        self.index: SessionIndex | None = None
        # Set by the assembly: what closes what a session opened to others (grants, share links), before it goes.
        self.openings: list[Callable[[Owner, SessionKeys], Awaitable[None]]] = []

    async def _announce(
        self, action: str, owner: Owner | Actor, keys: SessionKeys, version_id: str | None = None
    ) -> None:
        actor = owner if isinstance(owner, Actor) else Actor.user_of(owner.tenant, owner.user)
        await self._hook.announce(
            Change(
                action=action,
                actor=actor,
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
        tags: Iterable[str] = (),
        external_ids: Iterable[str] = (),
        project: str | None = None,
    ) -> SessionRecord:
        draft = self.draft(
            name=name,
            metadata=metadata,
            default_tier=default_tier,
            tags=tags,
            external_ids=external_ids,
            project=project,
        )
        return await self.add(owner, draft)

    def draft(
        self,
        *,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        default_tier: str | None = None,
        tags: Iterable[str] = (),
        external_ids: Iterable[str] = (),
        project: str | None = None,
    ) -> SessionRecord:
        """A new session's record, checked but not stored: a session exists once `add` has stored it, so a fork
        can fill a new session's files before anyone can see it."""
        now = iso(self._clock())
        return SessionRecord(
            id=new_session_id(),
            name=checked_name(name),
            created_at=now,
            updated_at=now,
            touched_at=now,
            state=ACTIVE,
            metadata=checked_metadata(metadata or {}),
            default_tier=self._tier(default_tier, "default_tier"),
            tags=checked_tags(tags),
            external_ids=checked_external_ids(external_ids),
            project=project,
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

    async def detail(self, owner: Owner, session_id: str) -> SessionDetail:
        keys = owner.session(session_id)
        (record, _), activity = await asyncio.gather(self._read(keys), self._activity(keys))
        return SessionDetail(record, activity)

    async def detailed(self, owner: Owner, record: SessionRecord) -> SessionDetail:
        """`record` (just changed) with the session's activity."""
        return SessionDetail(record, await self._activity(owner.session(record.id)))

    async def _activity(self, keys: SessionKeys) -> Activity:
        """The stored activity, or, before the first refresh, the files counted now (no user activity yet)."""
        stored = await read_activity(self._store, keys)
        if stored is not None:
            return stored
        files, size = await count_files(self._store, keys)
        return Activity(last_activity_at=None, file_count=files, bytes=size, counted_at=iso(self._clock()))

    async def summary(self, keys: SessionKeys) -> SessionSummary | None:
        """What the index shows of the session at `keys`, from the truth; None when it does not exist."""
        try:
            (record, _), activity = await asyncio.gather(self._read(keys), read_activity(self._store, keys))
        except (NotFound, DamagedRecord):
            return None  # a damaged record is logged where it was found; a listing must not fail on one
        return SessionSummary.of(record, activity)

    async def list(
        self, owner: Owner, *, query: SessionQuery = ANY_SESSION, limit: int, cursor: str | None
    ) -> SessionListing:
        # The owner's prefix names root, tenant and user injectively: a cursor lists only its owner's sessions, and
        # only with the filters and order it was made for.
        binding = (LIST_OPERATION, owner.sessions_prefix, query.binding())
        after = _position(self._cursors.open(cursor, binding, expect=("after",))["after"]) if cursor else None
        assert self.index is not None, "the assembly sets the index"
        items, position = await self.index.page(owner.space, query, limit, after)
        next_cursor = self._cursors.seal({"after": " ".join(position)}, binding) if position else None
        return SessionListing(items, next_cursor)

    async def update(
        self,
        owner: Owner,
        session_id: str,
        *,
        name: str | Keep | None = KEEP,
        metadata_patch: Mapping[str, Any] | None = None,
        default_tier: str | Keep | None = KEEP,
        tags: Iterable[str] | Keep = KEEP,
        external_ids: Iterable[str] | Keep = KEEP,
    ) -> SessionRecord:
        """Change what is given: `None` clears `name` or `default_tier`; `metadata_patch` is merged (null removes);
        `tags` and `external_ids` replace the lists."""
        updates: dict[str, Any] = {}
        if name is not KEEP:
            updates["name"] = checked_name(name)
        if tags is not KEEP:
            updates["tags"] = checked_tags(tags)
        if external_ids is not KEEP:
            updates["external_ids"] = checked_external_ids(external_ids)
        if default_tier is not KEEP:
            updates["default_tier"] = self._tier(default_tier, "default_tier")
        patch = checked_metadata(metadata_patch) if metadata_patch else None

        def change(record: SessionRecord) -> SessionRecord:
            updated = replace(record, **updates)
            if patch is not None:
                # JSON merge patch (RFC 7396) on the top level: null removes a key.
                merged = {**record.metadata, **patch}
                updated = replace(
                    updated, metadata=checked_metadata({k: v for k, v in merged.items() if v is not None})
                )
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
        return await self._end(owner.session(session_id), owner)

    async def archive_idle(self, keys: SessionKeys) -> SessionRecord:
        """The janitor's archiving of an idle session: ended first when it is active (its ephemeral files go)."""
        record = await self.read(keys)
        if record.state == ACTIVE:
            await self._end(keys, SYSTEM_JANITOR)
        return await self._move(keys, SYSTEM_JANITOR, "archive", ARCHIVED, changes.SESSION_ARCHIVED)

    async def _end(self, keys: SessionKeys, by: Owner | Actor) -> SessionRecord:
        record, _ = await self._read(keys)
        if record.state == ARCHIVED:
            raise _refused(record, "end")
        if not record.ended:
            now = iso(self._clock())

            def ending(current: SessionRecord) -> SessionRecord:
                if current.state == ARCHIVED:
                    raise _refused(current, "end")
                return current if current.ended else replace(current, state=ENDED, ended_at=now)

            record = await self._modify(keys, ending, by_owner=not isinstance(by, Actor))
            await self._announce(changes.SESSION_ENDED, by, keys)
        if self._janitor is not None:
            await self._janitor.remove_ephemeral(keys)
        return record

    async def archive(self, owner: Owner, session_id: str) -> SessionRecord:
        """An ended session put away: still read-only, and kept; `reactivate` brings it back."""
        return await self._move(owner.session(session_id), owner, "archive", ARCHIVED, changes.SESSION_ARCHIVED)

    async def reactivate(self, owner: Owner, session_id: str) -> SessionRecord:
        """An ended or archived session writable again (its ephemeral files, deleted when it ended, stay gone)."""
        return await self._move(owner.session(session_id), owner, "reactivate", ACTIVE, changes.SESSION_REACTIVATED)

    async def _move(
        self, keys: SessionKeys, by: Owner | Actor, operation: str, target: str, action: str
    ) -> SessionRecord:
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

        record = await self._modify(keys, moved, by_owner=not isinstance(by, Actor))
        if changed:  # as the version that was written found it
            await self._announce(action, by, keys)
        return record

    async def delete(self, owner: Owner, session_id: str, *, purge: bool, actor: Actor | None = None) -> None:
        """Delete a session (recoverably, an automatic snapshot first; or every version with `purge`), closing
        what it opened to others first. `actor`: who does it, when not the owner (the janitor)."""
        await self.delete_at(
            owner.session(session_id), actor or Actor.user_of(owner.tenant, owner.user), purge=purge, owner=owner
        )

    async def delete_at(self, keys: SessionKeys, actor: Actor, *, purge: bool, owner: Owner | None = None) -> None:
        """Delete the session at `keys`. Without its `owner` (the janitor removing an orphan knows only keys), the
        caller has made sure it opened nothing to others: closing grants needs the owner's claims."""
        # Existence only, not the record's content: a damaged record must not make its session undeletable.
        try:
            await self._store.head(keys.record)
        except ObjectMissing as exc:
            raise NotFound("no such session") from exc
        if owner is not None:
            for close in self.openings:
                await close(owner, keys)
        if purge:
            await self._store.purge(keys.prefix)
            await self._announce(changes.SESSION_PURGED, actor, keys)
            return
        if self.snapshots is not None:
            # Every file as it was, kept beyond retention: restoring this snapshot brings the session back.
            await self.snapshots.before(actor, keys, Selection(), BEFORE_SESSION_DELETE)
        # Files first: a failure half-way leaves a session that still exists and can be deleted again. Exports are
        # copies of the files, not their history: they go for good (a zip must not outlive the session it copied).
        await self._store.purge(keys.exports_prefix)
        await self._store.delete_all_current(keys.files_prefix)
        marker = await self._writer.write(keys.record, DeleteMarker(), prepared=Prepared(None, None))
        await self._announce(changes.SESSION_DELETED, actor, keys, marker.info.version_id)

    async def _modify(
        self, keys: SessionKeys, change: Callable[[SessionRecord], SessionRecord], *, by_owner: bool = True
    ) -> SessionRecord:
        def stamped(record: SessionRecord) -> SessionRecord:
            updated = change(record)
            if updated == record:
                return record
            now = iso(self._clock())
            # The janitor archiving an idle session is no activity: it must not keep the session from being idle.
            return replace(updated, updated_at=now, touched_at=now if by_owner else record.touched_at)

        try:
            return await records.modify(self._writer, keys.record, lambda: self._read(keys), stamped, _encode)
        except InvalidTransition:
            raise
        except Conflict:
            raise Conflict("the session is being changed by others right now; retry") from None


def _position(value: str) -> tuple[str, str]:
    sort_time, _, session_id = value.partition(" ")
    if not session_id:
        raise InvalidCursor("this cursor does not continue this listing")
    return sort_time, session_id


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
