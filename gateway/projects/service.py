"""Projects: the operations behind `/v1/projects`, and the steps the janitor's cleanup takes.

A project is its record (`{owner}/p/{id}.json`); its sessions are the owner's sessions whose record names it
(`SessionRecord.project`, set when the session is created in it). Which sessions those are, and when they were
last active, comes from the owner's session index (`gateway.index.catalog`): one view of it answers for every
project of the owner at once, so neither a project nor a listing of projects reads its sessions one by one.

Deleting a project marks its record first (`deleting_at`, by a conditional write: the janitor's cleanup only
marks a record that is still due as it reads it), then deletes its sessions the usual, recoverable way (an
automatic snapshot of each first; a few at a time), then the record. A project being deleted is gone for every
route but DELETE, which, like the janitor, finishes a deletion that was cut short.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway import changes, strict_json
from gateway.auth.cursors import CursorSealer
from gateway.changes import Actor, Change, ChangeHook
from gateway.errors import Conflict, DamagedRecord, InvalidBody, NotFound, ObjectMissing, PreconditionFailed
from gateway.index.catalog import SessionIndex
from gateway.index.query import SessionQuery
from gateway.index.summaries import canonical_time
from gateway.keys import Owner, OwnerSpace, new_project_id
from gateway.ordered import bounded
from gateway.projects.outlook import Outlook, judge
from gateway.projects.records import (
    DEFAULT_PREFIX,
    MAX_DAYS,
    ProjectRecord,
    Warned,
    checked_days,
    checked_lifetime,
    checked_prefix,
)
from gateway.services import records
from gateway.services.session_records import SessionRecord, checked_metadata, checked_name
from gateway.services.sessions import KEEP, Keep, SessionListing, Sessions
from gateway.settings import Settings
from gateway.storage.store import Store
from gateway.storage.writes import CREATE_ONLY, DeleteMarker, Prepared, VersionWriter

log = logging.getLogger(__name__)

LIST_OPERATION = "projects.list"
# A new id collides with one of the owner's projects once in 2**32 tries per prefix; a few tries always do.
ID_ATTEMPTS = 8
# Sessions of one project deleted at once: each is a snapshot and a few deletes, so a handful keeps S3 busy
# without one deletion taking every connection of the replica.
DELETE_CONCURRENCY = 4


class NotDue(Exception):
    """The janitor's change no longer applies to the record as it now reads (its owner acted meanwhile)."""


@dataclass(frozen=True)
class Members:
    """A project's sessions as the owner's index sees them: how many, and the latest activity among them."""

    count: int = 0
    last_activity_at: str | None = None


@dataclass(frozen=True)
class ProjectView:
    record: ProjectRecord
    outlook: Outlook
    session_count: int


@dataclass(frozen=True)
class ProjectListing:
    items: list[ProjectView]
    next_cursor: str | None


def encode(record: ProjectRecord) -> bytes:
    return json.dumps(record.to_json(), separators=(",", ":")).encode()


def decode(key: str, data: bytes) -> ProjectRecord:
    try:
        return ProjectRecord.from_json(strict_json.loads(data))
    except InvalidBody as exc:
        reason = exc.detail
    except ValueError as exc:
        reason = str(exc)
    log.warning("project record %s cannot be read: %s", key, reason)
    raise DamagedRecord("this project's stored record cannot be read")


class Projects:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        writer: VersionWriter,
        hook: ChangeHook,
        sessions: Sessions,
        index: SessionIndex,
        cursors: CursorSealer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._settings = settings
        self._writer = writer
        self._hook = hook
        self._sessions = sessions
        self._index = index
        self._cursors = cursors
        self._clock = clock

    # Reading

    async def read(self, space: OwnerSpace, project_id: str) -> tuple[ProjectRecord, str]:
        """The record, deleting or not, and its ETag; 404 when there is none."""
        key = space.project(project_id)
        try:
            data, info = await self._store.read_bytes(key)
        except ObjectMissing as exc:
            raise NotFound("no such project") from exc
        return decode(key, data), info.etag

    async def _live(self, space: OwnerSpace, project_id: str) -> ProjectRecord:
        record, _ = await self.read(space, project_id)
        if record.deleting_at is not None:
            raise NotFound("no such project")
        return record

    async def members(self, space: OwnerSpace) -> dict[str, Members]:
        """Every project's sessions of this owner, from one view of the index."""
        found: dict[str, Members] = {}
        for summary, _name in (await self._index.view(space)).entries.values():
            if summary.project is None:
                continue
            seen = found.get(summary.project, Members())
            latest = max(filter(None, (seen.last_activity_at, summary.last_activity_at)), default=None)
            found[summary.project] = Members(seen.count + 1, latest)
        return found

    def judge(self, record: ProjectRecord, members: Members) -> Outlook:
        return judge(record, members.last_activity_at, self._clock(), self._settings.day_seconds)

    def _view(self, record: ProjectRecord, members: Members) -> ProjectView:
        return ProjectView(record, self.judge(record, members), members.count)

    async def get(self, owner: Owner, project_id: str) -> ProjectView:
        record, members = await asyncio.gather(self._live(owner.space, project_id), self.members(owner.space))
        return self._view(record, members.get(project_id, Members()))

    async def page(self, owner: Owner, *, limit: int, cursor: str | None) -> ProjectListing:
        """A page of the owner's projects in id order."""
        space = owner.space
        binding = (LIST_OPERATION, space.prefix)
        after = self._cursors.open(cursor, binding, expect=("after",))["after"] if cursor else None
        ids, members = await asyncio.gather(self._ids(space), self.members(space))
        chosen = [pid for pid in sorted(ids) if after is None or pid > after][: limit + 1]
        page = chosen[:limit]
        found = await bounded(page, lambda pid: self._listed(space, pid))
        items = [self._view(record, members.get(record.id, Members())) for record in found if record is not None]
        next_cursor = self._cursors.seal({"after": page[-1]}, binding) if len(chosen) > limit else None
        return ProjectListing(items, next_cursor)

    async def _ids(self, space: OwnerSpace) -> list[str]:
        ids: list[str] = []
        async for batch in self._store.current_keys(space.projects_prefix):
            ids += [pid for pid in map(space.project_id_of, batch) if pid is not None]
        return ids

    async def _listed(self, space: OwnerSpace, project_id: str) -> ProjectRecord | None:
        try:
            return await self._live(space, project_id)
        except (NotFound, DamagedRecord):
            return None  # deleted meanwhile, being deleted, or damaged (logged): a listing does not fail on one

    # Changing

    def _lifetime(self, cleanup_after_days: int | Keep | None, warning_days: int | Keep) -> tuple[int | None, int]:
        if cleanup_after_days is KEEP:
            cleanup_after_days = self._settings.project_cleanup_after_days or None
        if warning_days is KEEP:
            warning_days = self._settings.project_warning_days
            if cleanup_after_days is not None:
                warning_days = max(0, min(warning_days, cleanup_after_days - 1))
        return checked_lifetime(cleanup_after_days, warning_days)

    async def create(
        self,
        owner: Owner,
        *,
        prefix: str = DEFAULT_PREFIX,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        cleanup_after_days: int | Keep | None = KEEP,
        warning_days: int | Keep = KEEP,
    ) -> ProjectView:
        checked_prefix(prefix)
        cleanup, warning = self._lifetime(cleanup_after_days, warning_days)
        now = canonical_time(self._clock())
        draft = ProjectRecord(
            id=new_project_id(prefix, os.urandom(4)),
            name=checked_name(name),
            created_at=now,
            updated_at=now,
            touched_at=now,
            tenant=owner.tenant,
            user=owner.user,
            cleanup_after_days=cleanup,
            warning_days=warning,
            metadata=checked_metadata(metadata or {}),
        )
        for _attempt in range(ID_ATTEMPTS):
            key = owner.space.project(draft.id)
            try:
                written = await self._writer.write(
                    key, encode(draft), precondition=CREATE_ONLY, content_type=records.RECORD_CONTENT_TYPE
                )
            except PreconditionFailed:
                draft = replace(draft, id=new_project_id(prefix, os.urandom(4)))
                continue
            await self._announce(changes.PROJECT_CREATED, owner, key, draft.id, written.info.version_id)
            return self._view(draft, Members())
        raise Conflict("no free project id was found with this prefix; retry")

    async def update(
        self,
        owner: Owner,
        project_id: str,
        *,
        name: str | Keep | None = KEEP,
        metadata_patch: Mapping[str, Any] | None = None,
        cleanup_after_days: int | Keep | None = KEEP,
        warning_days: int | Keep = KEEP,
    ) -> ProjectView:
        """Change what is given; `metadata_patch` is merged (null removes). A shorter `cleanup_after_days` without
        `warning_days` takes fewer warning days when it must."""
        checked = checked_name(name) if name is not KEEP else KEEP
        patch = checked_metadata(metadata_patch) if metadata_patch else None

        def change(record: ProjectRecord) -> ProjectRecord:
            updated = record if checked is KEEP else replace(record, name=checked)
            if patch is not None:
                merged = {**record.metadata, **patch}
                kept = {k: v for k, v in merged.items() if v is not None}
                updated = replace(updated, metadata=checked_metadata(kept))
            if cleanup_after_days is not KEEP or warning_days is not KEEP:
                cleanup = record.cleanup_after_days if cleanup_after_days is KEEP else cleanup_after_days
                warning = record.warning_days if warning_days is KEEP else warning_days
                if warning_days is KEEP and cleanup is not None:
                    warning = max(0, min(warning, cleanup - 1))
                cleanup, warning = checked_lifetime(cleanup, warning)
                updated = replace(updated, cleanup_after_days=cleanup, warning_days=warning)
            return updated

        return await self._change(owner, project_id, change, changes.PROJECT_UPDATED, touch=True)

    async def pin(self, owner: Owner, project_id: str) -> ProjectView:
        """Never cleaned up while pinned (no warnings either). Pinning is no activity."""
        return await self._change(
            owner, project_id, lambda r: replace(r, pinned=True), changes.PROJECT_PINNED, touch=False
        )

    async def unpin(self, owner: Owner, project_id: str) -> ProjectView:
        """Cleanup resumes, counting inactivity from now: a project pinned for long is not cleaned up at once."""
        return await self._change(
            owner,
            project_id,
            lambda r: replace(r, pinned=False, warned=None),
            changes.PROJECT_UNPINNED,
            touch=True,
            only_if=lambda r: r.pinned,
        )

    async def extend(self, owner: Owner, project_id: str, days: int) -> ProjectView:
        """Keep the project `days` longer: until its cleanup time (or now, if later) plus `days`. The warnings it
        already had count for the new time, so that is exactly when it goes (if it stays idle)."""
        checked_days("days", days, least=1)
        members = (await self.members(owner.space)).get(project_id, Members())
        now = self._clock()

        def change(record: ProjectRecord) -> ProjectRecord:
            before = self.judge(record, members)
            start = max(before.cleanup_at or now, now)
            keep = start + timedelta(seconds=days * self._settings.day_seconds)
            if keep > now + timedelta(seconds=MAX_DAYS * self._settings.day_seconds):
                raise InvalidBody.field("days", f"the project would be kept more than {MAX_DAYS} days from now")
            updated = replace(record, keep_until=canonical_time(keep))
            warned = record.warned
            if warned is not None and warned.target == before.target_text:
                after = self.judge(updated, members)
                updated = replace(updated, warned=Warned(after.target_text or "", warned.since, warned.days_left))
            return updated

        return await self._change(owner, project_id, change, changes.PROJECT_EXTENDED, touch=False, members=members)

    async def _change(
        self,
        owner: Owner,
        project_id: str,
        change: Callable[[ProjectRecord], ProjectRecord],
        action: str,
        *,
        touch: bool,
        only_if: Callable[[ProjectRecord], bool] | None = None,
        members: Members | None = None,
    ) -> ProjectView:
        space = owner.space
        key = space.project(project_id)
        changed = False

        def stamped(record: ProjectRecord) -> ProjectRecord:
            nonlocal changed
            if record.deleting_at is not None:
                raise NotFound("no such project")
            updated = change(record) if only_if is None or only_if(record) else record
            changed = updated != record
            if not changed:
                return record
            now = canonical_time(self._clock())
            return replace(updated, updated_at=now, touched_at=now if touch else record.touched_at)

        try:
            record = await records.modify(self._writer, key, lambda: self.read(space, project_id), stamped, encode)
        except (InvalidBody, NotFound):
            raise
        except Conflict:
            raise Conflict("the project is being changed by others right now; retry") from None
        if changed:
            await self._announce(action, owner, key, project_id)
        if members is None:
            members = (await self.members(space)).get(project_id, Members())
        return self._view(record, members)

    # Its sessions

    async def create_session(self, owner: Owner, project_id: str, **fields: Any) -> SessionRecord:
        """A new session in the project (`fields` as `Sessions.create` takes them)."""
        await self._live(owner.space, project_id)
        session = await self._sessions.create(owner, project=project_id, **fields)
        try:
            # A deletion that listed the project's sessions just before this one was stored would leave it behind.
            await self._live(owner.space, project_id)
        except NotFound:
            await self._drop_session(owner, session.id, None)
            raise
        return session

    async def sessions(
        self, owner: Owner, project_id: str, *, query: SessionQuery, limit: int, cursor: str | None
    ) -> SessionListing:
        await self._live(owner.space, project_id)
        return await self._sessions.list(owner, query=replace(query, project=project_id), limit=limit, cursor=cursor)

    # Deleting

    async def delete(
        self,
        owner: Owner,
        project_id: str,
        *,
        actor: Actor | None = None,
        still: Callable[[ProjectRecord], bool] | None = None,
    ) -> int:
        """Delete the project's sessions (recoverably) and then its record; how many sessions went. `still`, for
        the janitor: the record as read just before it is marked must still call for this (else `NotDue`)."""
        space = owner.space
        key = space.project(project_id)
        now = canonical_time(self._clock())

        def marking(record: ProjectRecord) -> ProjectRecord:
            if record.deleting_at is not None:
                return record  # a deletion cut short: finish it
            if still is not None and not still(record):
                raise NotDue(project_id)
            return replace(record, deleting_at=now)

        await records.modify(self._writer, key, lambda: self.read(space, project_id), marking, encode)
        view = await self._index.view(space)
        chosen = [sid for sid, (summary, _) in view.entries.items() if summary.project == project_id]
        await bounded(chosen, lambda sid: self._drop_session(owner, sid, actor), limit=DELETE_CONCURRENCY)
        marker = await self._writer.write(key, DeleteMarker(), prepared=Prepared(None, None))
        action = changes.PROJECT_DELETED if actor is None else changes.PROJECT_CLEANED_UP
        await self._announce(
            action, owner, key, project_id, marker.info.version_id, actor=actor, detail={"sessions": len(chosen)}
        )
        return len(chosen)

    async def _drop_session(self, owner: Owner, session_id: str, actor: Actor | None) -> None:
        with contextlib.suppress(NotFound):  # deleted meanwhile
            await self._sessions.delete(owner, session_id, purge=False, actor=actor)

    # The janitor's warning

    async def warn(self, space: OwnerSpace, project_id: str, members: Members) -> Outlook:
        """Record the warning the janitor announces now (the first for this target, or a new day left); `NotDue`
        when the record as read no longer calls for one. The janitor's write is no activity, and no update."""
        now = canonical_time(self._clock())
        found: Outlook | None = None

        def warning(record: ProjectRecord) -> ProjectRecord:
            nonlocal found
            outlook = self.judge(record, members)
            if record.deleting_at is not None or not outlook.announce or outlook.target_text is None:
                raise NotDue(project_id)
            kept = record.warned is not None and record.warned.target == outlook.target_text
            since = record.warned.since if kept and record.warned is not None else now
            updated = replace(record, warned=Warned(outlook.target_text, since, outlook.days_left or 0))
            found = self.judge(updated, members)
            return updated

        key = space.project(project_id)
        await records.modify(self._writer, key, lambda: self.read(space, project_id), warning, encode)
        assert found is not None
        return found

    async def _announce(
        self,
        action: str,
        owner: Owner,
        key: str,
        project_id: str,
        version_id: str | None = None,
        *,
        actor: Actor | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        await self._hook.announce(
            Change(
                action=action,
                actor=actor or Actor.user_of(owner.tenant, owner.user),
                key=key,
                version_id=version_id,
                detail={"project": project_id, **(detail or {})},
                at=self._clock(),
            )
        )
