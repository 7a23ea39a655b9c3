"""File operations inside one session: the service behind the `/files`, `/history`, `/rollback` and `/links` routes.

Callers pass an `OpenSession` the caller may reach; raw client paths become keys through its `SessionKeys`. Every
read applies the file's tier: what S3 lifecycle would already have removed is gone here too, however late S3 is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from gateway import changes
from gateway.auth.cursors import CursorSealer
from gateway.changes import Actor, Change, ChangeHook
from gateway.errors import BadRequest, Conflict, NotFound, NotModified, ObjectMissing
from gateway.keys import SessionKeys
from gateway.policy import visibility
from gateway.policy.tiers import Policy, Tier, tier_for_new_file, tier_of
from gateway.quotas.gate import Charge, Quotas, Scopes, added_by, charging, removed_by, room_for
from gateway.quotas.ledger import ZERO, Figures
from gateway.recovery.records import BEFORE_FOLDER_DELETE
from gateway.recovery.snapshots import SessionSnapshots
from gateway.services.downloads import DEFAULT_CONTENT_TYPE, content_disposition, is_inline_safe
from gateway.services.session_records import SessionRecord
from gateway.services.sessions import Sessions, named_tier
from gateway.services.snapshot import Selection
from gateway.settings import Settings
from gateway.storage.digests import Expected
from gateway.storage.preconditions import Precondition, none_match_holds
from gateway.storage.store import ObjectInfo, ObjectStream, Store, VersionEntry
from gateway.storage.tagging import current_tags, retag, tags_of, tier_tags
from gateway.storage.uploads import SHA256_TAG
from gateway.storage.writes import (
    UNCONDITIONAL,
    Assembled,
    CopyOf,
    DeleteMarker,
    Prepared,
    Streamed,
    VersionWriter,
    sha256_of,
)

# Operation names in cursor bindings: a cursor of one never opens for another.
LIST_OPERATION = "files.list"
HISTORY_OPERATION = "files.history"
MAX_LINK_SECONDS = 604_800  # S3's ceiling for SigV4 presigned URLs
DEFAULT_LINK_SECONDS = 3600


@dataclass(frozen=True)
class FileVersion:
    path: str
    version_id: str | None
    etag: str
    size: int
    content_type: str
    last_modified: datetime
    tier: str | None
    expires_at: datetime | None
    sha256: str | None = None


@dataclass(frozen=True)
class FileEntry:
    """A file in a listing; S3 listings carry no content type."""

    path: str
    version_id: str | None
    etag: str
    size: int
    last_modified: datetime
    tier: str | None
    expires_at: datetime | None
    sha256: str | None


@dataclass(frozen=True)
class FileListing:
    items: list[FileEntry]
    prefixes: list[str]
    next_cursor: str | None


@dataclass(frozen=True)
class HistoryEntry:
    version_id: str
    is_latest: bool
    is_delete_marker: bool
    size: int | None
    etag: str | None
    last_modified: datetime
    tier: str | None
    sha256: str | None


@dataclass(frozen=True)
class History:
    path: str
    items: list[HistoryEntry]
    next_cursor: str | None


@dataclass(frozen=True)
class FolderRetagged:
    """The files under a folder were re-tagged."""

    path: str
    tier: str
    files: int


@dataclass(frozen=True)
class StoredVersion:
    """A version as stored: what a HEAD says of it, its tags (tier, SHA-256 of multipart uploads), and its tier."""

    info: ObjectInfo
    tags: Mapping[str, str]
    tier: Tier | None


@dataclass(frozen=True)
class Written:
    file: FileVersion
    created: bool
    # The upload asked to write only if the content differs, and it did not: nothing was written.
    unchanged: bool = False
    # The version the new one was written on top of (for the change hook).
    previous_version_id: str | None = None
    # What it changed in the quotas' figures (bytes, files).
    added: Figures = ZERO


@dataclass(frozen=True)
class Opened:
    """A file about to be streamed. A read that had no need to fetch the version's tags does not know its tier."""

    stream: ObjectStream
    sha256: str | None


@dataclass(frozen=True)
class Link:
    url: str
    expires_at: datetime


def require_active(record: SessionRecord) -> None:
    if record.ended:
        raise Conflict("this session has ended; its files can be read but not changed")


class Files:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        policy: Policy,
        cursors: CursorSealer,
        *,
        sessions: Sessions,
        writer: VersionWriter,
        hook: ChangeHook,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._settings = settings
        self._policy = policy
        self._cursors = cursors
        self._sessions = sessions
        self._writer = writer
        self._hook = hook
        self._clock = clock
        # Set by the assembly: automatic snapshots before a folder is deleted.
        self.snapshots: SessionSnapshots | None = None
        # Set by the assembly: the quotas users' writes count against.
        self.quotas: Quotas | None = None

    def scopes(self, actor: Actor, keys: SessionKeys) -> Scopes | None:
        """Where a change by `actor` in the session of `keys` counts: a user's changes of files count (in the
        session's owner's scopes), the gateway's own (janitor, restores from backups) do not."""
        if self.quotas is None or actor.kind != changes.USER:
            return None
        return self.quotas.scopes(actor.tenant, keys)

    def _now(self) -> datetime:
        return self._clock()

    def _expires(self, tier: Tier | None, created: datetime) -> datetime | None:
        return visibility.expires_at(tier, created, self._settings.day_seconds)

    def _gone(self, tier: Tier | None, created: datetime, *, pinned: bool) -> bool:
        judge = visibility.pinned_is_gone if pinned else visibility.current_is_gone
        return judge(tier, created, self._now(), self._settings.day_seconds)

    def _tags_needed(self, created: datetime, *, pinned: bool) -> bool:
        needed = visibility.tags_needed_for_pinned if pinned else visibility.tags_needed_for_current
        return needed(self._policy, created, self._now(), self._settings.day_seconds)

    def file_version(
        self, keys: SessionKeys, info: ObjectInfo, tier: Tier | None, sha256: str | None = None
    ) -> FileVersion:
        return FileVersion(
            path=keys.path_of(info.key),
            version_id=info.version_id,
            etag=info.etag,
            size=info.size,
            content_type=info.content_type,
            last_modified=info.last_modified,
            tier=tier.name if tier else None,
            expires_at=self._expires(tier, info.last_modified),
            sha256=sha256 if sha256 is not None else sha256_of(info),
        )

    async def _announce(
        self, action: str, actor: Actor, keys: SessionKeys, key: str, version_id: str | None, **extra: Any
    ) -> None:
        previous = extra.pop("previous", None)
        await self._hook.announce(
            Change(
                action=action,
                actor=actor,
                key=key,
                session_id=keys.session_id,
                path=keys.path_of(key),
                version_id=version_id,
                previous_version_id=previous,
                detail=extra,
                at=self._now(),
            )
        )

    async def write(
        self,
        actor: Actor,
        keys: SessionKeys,
        path: str,
        body: AsyncIterator[bytes],
        *,
        content_type: str,
        declared_length: int | None,
        precondition: Precondition,
        tier: str | None,
        expected: Expected | None = None,
        if_content_differs: bool = False,
    ) -> Written:
        def streamed(charge: Charge, replacing: int) -> Streamed:
            return Streamed(charge.capped(body, replacing=replacing), declared_length, expected or Expected())

        return await self.admitted_write(
            actor,
            keys,
            keys.file(path),
            streamed,
            size=declared_length,
            content_type=content_type,
            precondition=precondition,
            tier=tier,
            if_content_differs=if_content_differs,
        )

    async def admitted_write(
        self,
        actor: Actor,
        keys: SessionKeys,
        key: str,
        content: Callable[[Charge, int], Streamed | Assembled],
        *,
        size: int | None,
        content_type: str,
        precondition: Precondition,
        tier: str | None,
        if_content_differs: bool = False,
        detail: Mapping[str, Any] | None = None,
    ) -> Written:
        """A user's new version of the file at `key` (from `keys.file`), whole: the session must be active, the
        write is admitted by the quotas (`content` makes the body once the charge is known: the room it may take,
        and the size of the file it replaces), written, counted and announced (with `detail`). A body streamed now
        (a file PUT) and a resumable upload's assembled parts take this same path."""
        if tier is not None:
            named_tier(self._policy, tier, "tier")  # an unknown tier is refused before anything is read or written
        # The session record (is it active? which default tiers?) and the key's head are independent reads. Only
        # a conditional write must know the head before it writes; an unconditional one lets the look run on.
        looking = asyncio.ensure_future(self._writer.prepare(key, precondition))
        scopes = self.scopes(actor, keys)
        try:
            record = await self._sessions.read(keys)
            require_active(record)
            # Admission needs to know whether the write replaces a file.
            prepared = await looking if precondition.conditional or scopes else looking
        except BaseException:
            looking.cancel()
            await asyncio.gather(looking, return_exceptions=True)
            raise
        reserve, replacing = room_for(prepared if isinstance(prepared, Prepared) else None, size or 0)
        async with charging(self.quotas, scopes, reserve, headroom=size is None) as charge:
            written = await self.write_version(
                keys,
                record,
                key,
                content(charge, replacing),
                content_type=content_type,
                tier=tier,
                precondition=precondition,
                prepared=prepared,
                if_content_differs=if_content_differs,
            )
            charge.add(written.added)
        if not written.unchanged:
            await self.announce_written(actor, keys, written, **(detail or {}))
        return written

    async def write_version(
        self,
        keys: SessionKeys,
        record: SessionRecord,
        key: str,
        content: Streamed | Assembled,
        *,
        content_type: str,
        tier: str | None,
        precondition: Precondition = UNCONDITIONAL,
        prepared: Prepared | asyncio.Future[Prepared] | None = None,
        if_content_differs: bool = False,
    ) -> Written:
        """Write one version of the file at `key` (from `keys.file`) in the session whose `record` the caller read,
        without announcing it. `write` announces at once; callers that write several files as one change (imports)
        announce with `announce_written` once every file is in place, so that nothing withdrawn is ever announced.
        """
        chosen = tier_for_new_file(
            self._policy,
            keys.path_of(key),
            explicit=tier,
            session_default=record.default_tier,
            folder_defaults=record.folder_tiers,
        )
        if prepared is None and not precondition.conditional:
            # The look at the key's head runs alongside the upload (see `VersionWriter.write`).
            prepared = asyncio.ensure_future(self._writer.prepare(key, precondition))
        written = await self._writer.write(
            key,
            content,
            precondition=precondition,
            prepared=prepared,
            content_type=content_type,
            tags=tier_tags(chosen),
            if_content_differs=if_content_differs,
        )
        file = self.file_version(keys, written.info, self._policy.tiers[chosen], written.sha256)
        if written.unchanged:
            head_tier = tier_of(self._policy, await self._store.get_tags(key, written.info.version_id))
            return Written(self.file_version(keys, written.info, head_tier, written.sha256), False, unchanged=True)
        previous = written.previous.version_id if written.previous else None
        return Written(file, created=not written.replaced, previous_version_id=previous, added=added_by(written))

    async def announce_written(self, actor: Actor, keys: SessionKeys, written: Written, **detail: Any) -> None:
        """Announce a version `write_version` wrote (never one that was withdrawn since)."""
        file = written.file
        await self._announce(
            changes.FILE_WRITTEN,
            actor,
            keys,
            keys.file(file.path),
            file.version_id,
            previous=written.previous_version_id,
            size=file.size,
            tier=file.tier,
            **detail,
        )

    async def _tags(self, key: str, version_id: str | None) -> Mapping[str, str]:
        return await self._store.get_tags(key, version_id)

    async def read_version(self, key: str, version_id: str | None) -> StoredVersion:
        """A version (the current one by default) with its tags and tier: a HEAD and a tag read. `ObjectMissing`
        when there is none, or its tier's retention has removed it."""
        if version_id is not None:
            info, tags = await asyncio.gather(self._store.head(key, version_id), self._tags(key, version_id))
        else:
            # One after the other: the tags must be those of the version the HEAD saw, not of a later write.
            info = await self._store.head(key)
            tags = await self._tags(key, info.version_id)
        tier = tier_of(self._policy, tags)
        if self._gone(tier, info.last_modified, pinned=version_id is not None):
            raise ObjectMissing("no such file or version (its tier's retention has passed)")
        return StoredVersion(info, tags, tier)

    async def head(self, keys: SessionKeys, path: str, version_id: str | None) -> FileVersion:
        """What a file (or one version) is, with its tier and SHA-256."""
        found = await self.read_version(keys.file(path), version_id)
        return self.file_version(keys, found.info, found.tier, sha256_of(found.info, found.tags))

    async def open(
        self,
        keys: SessionKeys,
        path: str,
        *,
        version_id: str | None,
        byte_range: str | None,
        if_none_match: str | None,
        judged_tags: Mapping[str, str] | None = None,
    ) -> Opened:
        """Open a file for streaming with one S3 call when it is too young for any tier to have removed it.

        `judged_tags` are the tags of `version_id` when the caller has read them and judged its retention already
        (a read of the past judges the version against its history, which says more than its age alone)."""
        key = keys.file(path)
        pinned = version_id is not None
        stream = await self._store.get(key, version_id=version_id, byte_range=byte_range)
        try:
            info = stream.info
            sha256 = sha256_of(info, judged_tags)
            judged = judged_tags is not None and pinned
            if not judged and (sha256 is None or self._tags_needed(info.last_modified, pinned=pinned)):
                tags = await self._tags(key, info.version_id)
                sha256 = sha256_of(info, tags)
                if self._gone(tier_of(self._policy, tags), info.last_modified, pinned=pinned):
                    raise ObjectMissing("no such file or version (its tier's retention has passed)")
            # Judged here rather than by S3, whose handling of weak tags and lists varies; a 304 repeats the
            # validators and, coming after the retention check, never vouches for an expired file.
            if if_none_match is not None and none_match_holds(if_none_match, info.etag):
                raise NotModified(info.etag, format_datetime(info.last_modified.astimezone(UTC), usegmt=True))
        except BaseException:
            stream.close()
            raise
        return Opened(stream, sha256)

    async def delete(self, actor: Actor, keys: SessionKeys, path: str) -> None:
        key = keys.file(path)
        record, prepared = await asyncio.gather(
            self._sessions.read(keys), self._writer.prepare(key, Precondition()), return_exceptions=True
        )
        if isinstance(record, BaseException):
            raise record
        if isinstance(prepared, BaseException):
            raise prepared
        require_active(record)
        head = prepared.head
        # 404 rather than a pointless delete marker, also for a file its tier's retention has removed.
        if head is None or head.is_delete_marker:
            raise NotFound("no such file")
        if self._tags_needed(head.last_modified, pinned=False):
            tier = tier_of(self._policy, await self._tags(key, head.version_id))
            if self._gone(tier, head.last_modified, pinned=False):
                raise NotFound("no such file")
        async with charging(self.quotas, self.scopes(actor, keys), ZERO) as charge:
            written = await self._writer.write(key, DeleteMarker(), prepared=prepared)
            charge.add(removed_by(written))
        await self._announce(changes.FILE_DELETED, actor, keys, key, written.info.version_id, previous=head.version_id)

    async def delete_folder(self, actor: Actor, keys: SessionKeys, folder: str) -> int:
        require_active(await self._sessions.read(keys))
        if self.snapshots is not None and not keys.scope:
            # A grantee's delete is not snapshotted: snapshots belong to the owner, and cover the owner's view.
            await self.snapshots.before(actor, keys, Selection(keys.path_of(keys.folder(folder))), BEFORE_FOLDER_DELETE)
        async with charging(self.quotas, self.scopes(actor, keys), ZERO) as charge:
            deleted, size = await self._store.delete_all_current_sized(keys.folder(folder))
            charge.add(Figures(-size, -len(deleted)))
        if not deleted:
            raise NotFound("no files under that folder")
        for key, marker in deleted:
            await self._announce(changes.FILE_DELETED, actor, keys, key, marker, folder=folder)
        return len(deleted)

    async def list(
        self, keys: SessionKeys, *, prefix: str, delimiter: str | None, limit: int, cursor: str | None
    ) -> FileListing:
        if delimiter not in (None, "", "/"):
            raise BadRequest("delimiter may only be '/'")
        listing = keys.listing(prefix)
        # A cursor only continues this very listing: this session (its key prefix names tenant, user and session
        # injectively), this operation, this prefix and delimiter.
        binding = (LIST_OPERATION, keys.prefix, keys.path_of(listing), delimiter or "")
        continuation = self._cursors.open(cursor, binding, expect=("token",))["token"] if cursor else None
        page = await self._store.list_page(listing, delimiter=delimiter or None, limit=limit, continuation=continuation)
        current = await current_tags(self._store, [item.key for item in page.objects])
        items = []
        for item, (item_tags, version_id) in zip(page.objects, current, strict=True):
            tier = tier_of(self._policy, item_tags)
            if self._gone(tier, item.last_modified, pinned=False):
                continue
            items.append(
                FileEntry(
                    path=keys.path_of(item.key),
                    version_id=version_id,
                    etag=item.etag,
                    size=item.size,
                    last_modified=item.last_modified,
                    tier=tier.name if tier else None,
                    expires_at=self._expires(tier, item.last_modified),
                    sha256=sha256_of(item, item_tags),
                )
            )
        next_cursor = self._cursors.seal({"token": page.continuation}, binding) if page.continuation else None
        return FileListing(items, [keys.path_of(item) for item in page.prefixes], next_cursor)

    async def history(self, keys: SessionKeys, path: str, *, limit: int, cursor: str | None) -> History:
        key = keys.file(path)
        binding = (HISTORY_OPERATION, keys.prefix, keys.path_of(key))
        after = self._cursors.open(cursor, binding, expect=("after",))["after"] if cursor else None
        page = await self._store.versions_page(key, limit=limit, after=after)
        if not page.entries and after is None:
            raise NotFound("this path has no history")
        versions = [e for e in page.entries if not e.is_delete_marker]
        tags = await tags_of(self._store, [(key, e.version_id) for e in versions])
        tags_by_version = dict(zip([e.version_id for e in versions], tags, strict=True))
        verdicts = visibility.judge_history(
            page.entries,
            {version: tier_of(self._policy, found) for version, found in tags_by_version.items()},
            now=self._now(),
            day_seconds=self._settings.day_seconds,
            from_top=after is None,
        )
        items = [
            self._history_entry(v.entry, v.tier, tags_by_version.get(v.entry.version_id, {}))
            for v in verdicts
            if v.visible
        ]
        next_cursor = self._cursors.seal({"after": page.next_after}, binding) if page.next_after else None
        return History(path, items, next_cursor)

    @staticmethod
    def _history_entry(entry: VersionEntry, tier: Tier | None, tags: Mapping[str, str]) -> HistoryEntry:
        return HistoryEntry(
            version_id=entry.version_id,
            is_latest=entry.is_latest,
            is_delete_marker=entry.is_delete_marker,
            size=entry.size,
            etag=entry.etag,
            last_modified=entry.last_modified,
            tier=tier.name if tier else None,
            sha256=None if entry.is_delete_marker else tags.get(SHA256_TAG),
        )

    async def rollback(self, actor: Actor, keys: SessionKeys, path: str, version_id: str) -> Written:
        """Make an old version the head again, as a new version; the versions in between stay in history."""
        key = keys.file(path)
        record, source, source_tags = await asyncio.gather(
            self._sessions.read(keys),
            self._store.head(key, version_id),
            self._tags(key, version_id),
            return_exceptions=True,
        )
        if isinstance(record, BaseException):
            raise record
        require_active(record)
        if isinstance(source, ObjectMissing) or isinstance(source_tags, ObjectMissing):
            raise NotFound("no such version of this file (delete markers cannot be restored)")
        if isinstance(source, BaseException):
            raise source
        if isinstance(source_tags, BaseException):
            raise source_tags
        tier = tier_of(self._policy, source_tags)
        if self._gone(tier, source.last_modified, pinned=True):
            raise NotFound("that version is past its tier's retention")
        scopes = self.scopes(actor, keys)
        prepared = await self._writer.prepare(key, UNCONDITIONAL) if scopes else None
        async with charging(self.quotas, scopes, room_for(prepared, source.size)[0]) as charge:
            written = await self._writer.write(
                key, CopyOf(source), prepared=prepared, metadata=source.metadata, tags=source_tags
            )
            charge.add(added_by(written))
        file = self.file_version(keys, written.info, tier, sha256_of(source, source_tags))
        previous = written.previous.version_id if written.previous else None
        await self._announce(
            changes.FILE_ROLLED_BACK, actor, keys, key, file.version_id, previous=previous, source_version=version_id
        )
        return Written(file, created=not written.replaced)

    async def set_tier(
        self, actor: Actor, keys: SessionKeys, path: str, tier: str, *, recursive: bool
    ) -> FileVersion | FolderRetagged:
        """Re-tag a file, or everything under a folder, without rewriting any data."""
        name = named_tier(self._policy, tier, "tier")
        require_active(await self._sessions.read(keys))
        if recursive:
            retagged = await retag(self._store, keys.folder(path), name, exact_key=False)
            if not retagged:
                raise NotFound("no files under that folder")
            for key in retagged:
                await self._announce(changes.FILE_RETIERED, actor, keys, key, None, tier=name)
            return FolderRetagged(path, name, len(retagged))
        await self.head(keys, path, None)
        key = keys.file(path)
        await retag(self._store, key, name, exact_key=True)
        file = await self.head(keys, path, None)
        await self._announce(changes.FILE_RETIERED, actor, keys, key, file.version_id, tier=name)
        return file

    async def link(self, keys: SessionKeys, path: str, *, version_id: str | None, expires_in: int) -> Link:
        if not 1 <= expires_in <= MAX_LINK_SECONDS:
            raise BadRequest(f"expires_in must be from 1 to {MAX_LINK_SECONDS} seconds (7 days)")
        file = await self.head(keys, path, version_id)  # no links to nothing
        url = await self._store.presign_get(
            keys.file(path),
            version_id=version_id,
            expires_in=expires_in,
            # The stored (NFC) name, whatever form the caller used.
            content_disposition=content_disposition(file.path.rsplit("/", 1)[-1], inline=False),
            # Never the stored type when a browser could run it: S3 would serve HTML or SVG as a page of its origin.
            content_type=file.content_type if is_inline_safe(file.content_type) else DEFAULT_CONTENT_TYPE,
        )
        expires_at = self._now().replace(microsecond=0) + timedelta(seconds=expires_in)
        if file.expires_at is not None:
            expires_at = min(expires_at, file.expires_at)
        return Link(url=url, expires_at=expires_at)
