"""Named snapshots of a session (or one folder of it) that survive version retention until they are deleted.

Taking a snapshot records every current file's version and makes a protected copy of it (a server-side copy
through the one write step, without the tier tag: no lifecycle rule matches it and the janitor does not judge it
as a file). The copies are what makes a snapshot outlive retention on every backend; the price is their storage,
which on Ceph RGW shares the data of large objects and on AWS S3 is billed in full (see docs/recovery.md).

In order, so that a failure leaves nothing that looks whole:
1. the record is written in state `creating` on condition that no snapshot has the name (409 otherwise);
2. the files are walked (the one walk of `services/snapshot.py`) and copied 16 at a time, and the manifest is
   streamed into the bucket as the copies settle, in path order;
3. the record becomes `ready`, with its counts.
A failure removes the copies and the record again. A snapshot being deleted is marked `deleting` first, so a
restore never reads a half-removed one.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from gateway import changes
from gateway.changes import Actor, Change, ChangeHook
from gateway.errors import Conflict, NotFound, ObjectMissing, PreconditionFailed
from gateway.keys import SNAPSHOT_RECORD_SUFFIX, SessionKeys
from gateway.ordered import CONCURRENCY, bounded, ordered
from gateway.policy import visibility
from gateway.policy.tiers import Policy
from gateway.recovery import records
from gateway.recovery.copying import Source, bring
from gateway.recovery.records import (
    AUTOMATIC_PREFIX,
    BEFORE_SESSION_DELETE,
    CREATING,
    READY,
    PendingRestore,
    SavedFile,
    SnapshotRecord,
)
from gateway.services import records as stored_records
from gateway.services.snapshot import Selection, Selector, SnapshotFile, Snapshots, selectors
from gateway.settings import Settings
from gateway.storage.store import Store
from gateway.storage.uploads import SHA256_TAG
from gateway.storage.writes import CREATE_ONLY, Prepared, Streamed, VersionWriter, Written
from gateway.wire import iso
from gateway.wire import moment as _moment

DELETING = "deleting"
SNAPSHOT_TAG = "snapshot"
MANIFEST_TYPE = "application/x-ndjson"
LIST_PAGE = 1000
# A snapshot still `creating` this long after it began was abandoned by a replica that stopped.
ABANDONED_AFTER = timedelta(hours=1)

log = logging.getLogger(__name__)


class SessionSnapshots:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        policy: Policy,
        *,
        writer: VersionWriter,
        hook: ChangeHook,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._settings = settings
        self._policy = policy
        self._writer = writer
        self._hook = hook
        self._clock = clock

    # Taking

    async def take(
        self,
        actor: Actor,
        keys: SessionKeys,
        *,
        name: str | None,
        selection: Selection,
        reason: str,
        restore: PendingRestore | None = None,
        files: list[SnapshotFile] | None = None,
    ) -> SnapshotRecord:
        """Take a snapshot of the selected files (a folder, or chosen paths in it); `name` None makes an automatic
        one, kept for `GATEWAY_SNAPSHOT_KEEP_SECONDS`."""
        now = self._clock()
        scope = folder_of(keys, selection.prefix)
        chosen_files = selectors(keys, Selection(scope, selection.paths))  # every path checked before any write
        automatic = name is None
        chosen = _automatic_name(now, reason) if name is None else records.check_name(name)
        expires = now + timedelta(seconds=self._settings.snapshot_keep_seconds) if automatic else None
        try:
            session_record = await self._store.head(keys.record)
        except ObjectMissing as exc:
            raise NotFound("no such session") from exc
        record = SnapshotRecord(
            name=chosen,
            created_at=iso(now),
            state=CREATING,
            prefix=scope,
            reason=reason,
            paths=selection.paths,
            expires_at=iso(expires) if expires else None,
            record_version=session_record.version_id,
            restore=restore,
        )
        key = keys.snapshot_record(chosen)
        try:
            await self._writer.write(
                key, records.encode(record), precondition=CREATE_ONLY, content_type=stored_records.RECORD_CONTENT_TYPE
            )
        except PreconditionFailed:
            raise Conflict(f"a snapshot named {chosen!r} exists already", extra={"field": "name"}) from None
        try:
            count, size = await self._copy_files(keys, chosen, chosen_files, now, expires, files)
            record = await self._modify(keys, chosen, lambda r: replace(r, state=READY, file_count=count, bytes=size))
        except BaseException:
            await self._discard(keys, chosen)
            raise
        await self._announce(changes.SNAPSHOT_CREATED, actor, keys, chosen, reason=reason, files=count)
        return record

    async def before(
        self,
        actor: Actor,
        keys: SessionKeys,
        selection: Selection,
        reason: str,
        *,
        restore: PendingRestore | None = None,
        files: list[SnapshotFile] | None = None,
    ) -> SnapshotRecord | None:
        """An automatic snapshot before an operation that changes or removes files; None when they are switched off
        (`GATEWAY_SNAPSHOT_KEEP_SECONDS=0`) or a folder holds no file to keep. A session's delete always takes one,
        empty or not: it is what brings the session's record back."""
        if self._settings.snapshot_keep_seconds == 0:
            return None
        if not selection.paths and files is None and reason != BEFORE_SESSION_DELETE:
            listing = keys.files_prefix + folder_of(keys, selection.prefix)
            page = await self._store.list_page(listing, delimiter=None, limit=1, continuation=None)
            if not page.objects:
                return None
        return await self.take(actor, keys, name=None, selection=selection, reason=reason, restore=restore, files=files)

    async def _copy_files(
        self,
        keys: SessionKeys,
        name: str,
        chosen: list[Selector],
        now: datetime,
        ends: datetime | None,
        files: list[SnapshotFile] | None,
    ) -> tuple[int, int]:
        """Copy the chosen files (walked now, or `files` as the caller has just read them, in path order)."""
        found: AsyncIterator[SnapshotFile]
        if files is None:
            walk = Snapshots(self._store, self._settings, self._policy, clock=lambda: now)
            found = walk.files(keys, chosen, at=None)
        else:
            found = _listed(sorted(files, key=lambda item: item.key))
        numbered = _numbered(found)
        totals = [0, 0]

        async def copy(item: tuple[int, SnapshotFile]) -> SavedFile | None:
            return await self._copy(keys, name, *item, now, ends)

        async def lines() -> AsyncIterator[bytes]:
            async with contextlib.aclosing(ordered(numbered, copy, width=CONCURRENCY)) as copies:
                async for saved in copies:
                    if saved is not None:
                        totals[0] += 1
                        totals[1] += saved.size
                        yield saved.to_line()

        await self._writer.write(
            keys.snapshot_manifest(name),
            Streamed(lines(), None),
            prepared=Prepared(None, None),
            content_type=MANIFEST_TYPE,
        )
        return totals[0], totals[1]

    async def _copy(
        self, keys: SessionKeys, name: str, number: int, found: SnapshotFile, now: datetime, ends: datetime | None
    ) -> SavedFile | None:
        """The manifest line of one file, with its protected copy unless its tier keeps the version until `ends`
        anyway (None: the snapshot lives until it is deleted)."""
        kept = visibility.kept_until(found.tier, now, self._settings.day_seconds)
        copied: Written | None = None
        if kept is not None and (ends is None or kept < ends):
            tags = {SNAPSHOT_TAG: name, **({SHA256_TAG: found.sha256} if found.sha256 else {})}
            try:
                copied = await bring(
                    self._store,
                    self._writer,
                    keys.snapshot_copy(name, number),
                    Source(found.key, found.version_id, found.size),
                    tags=tags,
                    prepared=Prepared(None, None),
                )
            except ObjectMissing:
                return None  # removed since it was listed: it is not part of the snapshot
        return SavedFile(
            path=found.path,
            version_id=found.version_id,
            size=found.size,
            etag=found.etag,
            last_modified=iso(found.last_modified),
            sha256=found.sha256 or (copied.sha256 if copied else None),
            tier=found.tier.name if found.tier else None,
            content_type=copied.info.content_type if copied else None,
            copy=number if copied else None,
            copy_version=copied.info.version_id if copied else None,
            tags=found.tags,
        )

    # Reading

    async def get(self, keys: SessionKeys, name: str) -> SnapshotRecord:
        record, _ = await self._read(keys, name)
        return record

    async def all(self, keys: SessionKeys) -> list[SnapshotRecord]:
        """Every snapshot of the session, oldest first."""
        names: list[str] = []
        continuation: str | None = None
        while True:
            page = await self._store.list_page(
                keys.snapshots_prefix, delimiter="/", limit=LIST_PAGE, continuation=continuation
            )
            for item in page.objects:
                stem = item.key[len(keys.snapshots_prefix) :]
                if stem.endswith(SNAPSHOT_RECORD_SUFFIX):
                    names.append(stem[: -len(SNAPSHOT_RECORD_SUFFIX)])
            continuation = page.continuation
            if continuation is None:
                break

        async def one(name: str) -> SnapshotRecord | None:
            try:
                return await self.get(keys, name)
            except NotFound:
                return None  # deleted meanwhile

        found = [record for record in await bounded(names, one) if record is not None]
        head = None if found else await self._store.latest_entry(keys.record)
        if not found and (head is None or head.is_delete_marker):
            raise NotFound("no such session")  # neither a session nor one deleted with snapshots left
        return sorted(found, key=lambda record: (record.created_at, record.name))

    async def files(self, keys: SessionKeys, record: SnapshotRecord) -> AsyncGenerator[SavedFile, None]:
        """A ready snapshot's files, in path order, as the manifest streams in."""
        if record.state != READY:
            raise Conflict(f"the snapshot {record.name!r} is {record.state}, not ready")
        try:
            stream = await self._store.get(keys.snapshot_manifest(record.name))
        except ObjectMissing as exc:
            raise NotFound("no such snapshot") from exc
        try:
            async for saved in records.manifest_lines(stream.body):
                yield saved
        finally:
            stream.close()

    async def page(
        self, keys: SessionKeys, record: SnapshotRecord, *, limit: int, start: int
    ) -> tuple[list[SavedFile], int | None]:
        """`limit` of a snapshot's files from the `start`-th; the number the next page starts at, if any."""
        found: list[SavedFile] = []
        following: int | None = None
        async with contextlib.aclosing(self.files(keys, record)) as saved_files:
            index = 0
            async for saved in saved_files:
                if index >= start:
                    if len(found) == limit:
                        following = index
                        break
                    found.append(saved)
                index += 1
        return found, following

    @staticmethod
    def source_of(keys: SessionKeys, record: SnapshotRecord, saved: SavedFile) -> tuple[str, str | None]:
        """Where a snapshot's file is read: its protected copy, or the file's own version."""
        if saved.copy is None:
            return keys.file(saved.path), saved.version_id
        return keys.snapshot_copy(record.name, saved.copy), saved.copy_version

    # Changing

    async def mark_restored(self, keys: SessionKeys, name: str) -> SnapshotRecord:
        """Note on a `before-restore` snapshot that its restore finished, so it is not resumed again."""
        done = iso(self._clock())

        def completed(record: SnapshotRecord) -> SnapshotRecord:
            if record.restore is None or record.restore.completed_at is not None:
                return record
            return replace(record, restore=replace(record.restore, completed_at=done))

        return await self._modify(keys, name, completed)

    async def delete(self, actor: Actor, keys: SessionKeys, name: str) -> None:
        await self._modify(keys, name, lambda r: replace(r, state=DELETING))  # 404 for one that is not there
        await self._remove(keys, name)
        await self._announce(changes.SNAPSHOT_DELETED, actor, keys, name)

    async def discard(self, actor: Actor, keys: SessionKeys, name: str) -> None:
        """Remove an automatic snapshot the operation it was taken for did not need (it failed and left nothing);
        a failure here is logged, never raised over the operation's own."""
        try:
            await self._remove(keys, name)
        except Exception:
            log.warning("the snapshot %s of %s was left behind", name, keys.session_id, exc_info=True)
            return
        await self._announce(changes.SNAPSHOT_DELETED, actor, keys, name, reason="its operation failed")

    async def expire(self, keys: SessionKeys, name: str) -> None:
        """Remove a snapshot the janitor found expired (or abandoned while it was being taken)."""
        await self._remove(keys, name)
        await self._announce(changes.SNAPSHOT_DELETED, changes.SYSTEM_JANITOR, keys, name, reason="expired")

    def judge(self, record: SnapshotRecord) -> str | None:
        """Why the janitor removes this snapshot, or None while it stays."""
        now = self._clock()
        if record.expires_at is not None and _moment(record.expires_at) <= now:
            return "automatic snapshot past its keep time"
        if record.state in (CREATING, DELETING) and _moment(record.created_at) + ABANDONED_AFTER <= now:
            return f"snapshot left {record.state} by a replica that stopped"
        return None

    async def _remove(self, keys: SessionKeys, name: str) -> None:
        # The copies first: while they go, the record (marked `deleting`) keeps the name taken and readers away.
        await self._store.purge(keys.snapshot_copies(name))
        await self._remove_record(keys, name)

    async def _remove_record(self, keys: SessionKeys, name: str) -> None:
        key = keys.snapshot_record(name)
        versions: list[tuple[str, str]] = []
        after: str | None = None
        while True:
            page = await self._store.versions_page(key, limit=LIST_PAGE, after=after)
            versions += [(entry.key, entry.version_id) for entry in page.entries]
            if page.next_after is None:
                break
            after = page.next_after
        await self._store.delete_versions(key, versions)

    async def _discard(self, keys: SessionKeys, name: str) -> None:
        try:
            await self._remove(keys, name)
        except Exception:  # the original failure is what the caller must hear of; the janitor sweeps this later
            log.warning("a failed snapshot %s of %s was left behind", name, keys.session_id, exc_info=True)

    async def _read(self, keys: SessionKeys, name: str) -> tuple[SnapshotRecord, str]:
        key = keys.snapshot_record(name)
        try:
            data, info = await self._store.read_bytes(key)
        except ObjectMissing as exc:
            raise NotFound("no such snapshot") from exc
        return records.decode(key, data), info.etag

    async def _modify(
        self, keys: SessionKeys, name: str, change: Callable[[SnapshotRecord], SnapshotRecord]
    ) -> SnapshotRecord:
        return await stored_records.modify(
            self._writer, keys.snapshot_record(name), lambda: self._read(keys, name), change, records.encode
        )

    async def _announce(self, action: str, actor: Actor, keys: SessionKeys, name: str, **detail: object) -> None:
        await self._hook.announce(
            Change(
                action=action,
                actor=actor,
                key=keys.snapshot_record(name),
                session_id=keys.session_id,
                detail={"snapshot": name, **detail},
                at=self._clock(),
            )
        )


def folder_of(keys: SessionKeys, prefix: str) -> str:
    """A folder path ending with '/' ('' for the whole session), checked like every path."""
    if prefix in ("", "/"):
        return ""
    return keys.path_of(keys.folder(prefix))


def _automatic_name(now: datetime, reason: str) -> str:
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{AUTOMATIC_PREFIX}{stamp}-{reason.removeprefix('before-')}-{os.urandom(3).hex()}"


async def _listed(files: list[SnapshotFile]) -> AsyncIterator[SnapshotFile]:
    for item in files:
        yield item


async def _numbered(found: AsyncIterator[SnapshotFile]) -> AsyncIterator[tuple[int, SnapshotFile]]:
    number = 0
    async for item in found:
        yield number, item
        number += 1
