"""File operations inside one session: the service behind the `/files`, `/history`, `/rollback` and `/links` routes.

Callers pass an `OpenSession` the caller may reach; raw client paths become keys through its `SessionKeys`. Every
read applies the file's tier: what S3 lifecycle would already have removed is gone here too, however late S3 is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from gateway.auth.cursors import CursorSealer
from gateway.errors import BadRequest, Conflict, NotFound, NotModified, ObjectMissing
from gateway.keys import SessionKeys
from gateway.policy import retention
from gateway.policy.tiers import Policy, Tier
from gateway.services.downloads import content_disposition
from gateway.services.sessions import OpenSession
from gateway.settings import Settings
from gateway.storage import preconditions
from gateway.storage.store import ObjectInfo, ObjectStream, Store, VersionEntry
from gateway.storage.tagging import current_tags, retag, tags_of, tier_tags
from gateway.storage.uploads import stream_upload
from gateway.wire import iso, iso_or_none

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

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "version_id": self.version_id,
            "etag": self.etag,
            "size": self.size,
            "content_type": self.content_type,
            "last_modified": iso(self.last_modified),
            "tier": self.tier,
            "expires_at": iso_or_none(self.expires_at),
        }


@dataclass(frozen=True)
class Written:
    file: FileVersion
    created: bool


@dataclass(frozen=True)
class Opened:
    """A file about to be streamed, with its tier."""

    stream: ObjectStream
    tier: Tier | None


@dataclass(frozen=True)
class Link:
    url: str
    expires_at: datetime


def require_active(session: OpenSession) -> None:
    if session.record.ended:
        raise Conflict("this session has ended; its files can be read but not changed")


class Files:
    def __init__(self, store: Store, settings: Settings, policy: Policy, cursors: CursorSealer) -> None:
        self._store = store
        self._settings = settings
        self._policy = policy
        self._cursors = cursors

    def _now(self) -> datetime:
        return datetime.now(UTC)

    def _expires(self, tier: Tier | None, created: datetime) -> datetime | None:
        return retention.expires_at(tier, created, self._settings.day_seconds)

    def _current_gone(self, tier: Tier | None, created: datetime) -> bool:
        return retention.current_is_gone(tier, created, self._now(), self._settings.day_seconds)

    def _pinned_gone(self, tier: Tier | None, created: datetime) -> bool:
        return retention.version_is_certainly_gone(tier, created, self._now(), self._settings.day_seconds)

    def file_version(self, keys: SessionKeys, info: ObjectInfo, tier: Tier | None) -> FileVersion:
        return FileVersion(
            path=keys.path_of(info.key),
            version_id=info.version_id,
            etag=info.etag,
            size=info.size,
            content_type=info.content_type,
            last_modified=info.last_modified,
            tier=tier.name if tier else None,
            expires_at=self._expires(tier, info.last_modified),
        )

    async def write(
        self,
        session: OpenSession,
        path: str,
        body: AsyncIterator[bytes],
        *,
        content_type: str,
        declared_length: int | None,
        precondition: preconditions.Precondition,
        tier: str | None,
    ) -> Written:
        require_active(session)
        keys, record = session.keys, session.record
        key = keys.file(path)
        chosen = retention.tier_for_new_file(
            self._policy,
            keys.path_of(key),
            explicit=tier,
            session_default=record.default_tier,
            folder_defaults=record.folder_tiers,
        )
        base = await preconditions.check(self._store, key, precondition) if precondition.conditional else None
        metadata = {preconditions.BASE_METADATA: base} if base is not None else {}
        version_id, _size = await stream_upload(
            self._store,
            key,
            body,
            content_type=content_type,
            metadata=metadata,
            tags=tier_tags(chosen),
            declared_length=declared_length,
            max_bytes=self._settings.max_upload_bytes,
            threshold=self._settings.multipart_threshold_bytes,
        )
        settled = await preconditions.settle(self._store, key, version_id, base)
        file = self.file_version(keys, settled.version, self._policy.tiers[chosen])
        return Written(file, created=not settled.replaced)

    async def _tier_of(self, key: str, version_id: str | None) -> Tier | None:
        return retention.tier_of(self._policy, await self._store.get_tags(key, version_id))

    async def head(self, keys: SessionKeys, path: str, version_id: str | None) -> FileVersion:
        key = keys.file(path)
        info = await self._store.head(key, version_id)
        tier = await self._tier_of(key, info.version_id)
        gone = self._pinned_gone if version_id else self._current_gone
        if gone(tier, info.last_modified):
            raise ObjectMissing("no such file or version (its tier's retention has passed)")
        return self.file_version(keys, info, tier)

    async def open(
        self,
        keys: SessionKeys,
        path: str,
        *,
        version_id: str | None,
        byte_range: str | None,
        if_none_match: str | None,
    ) -> Opened:
        key = keys.file(path)
        try:
            stream = await self._store.get(
                key, version_id=version_id, byte_range=byte_range, if_none_match=if_none_match
            )
        except NotModified as exc:
            # A 304 must repeat the validators (Ceph RGW omits them) and must not vouch for an expired file.
            file = await self.head(keys, path, version_id)
            raise NotModified(file.etag, format_datetime(file.last_modified.astimezone(UTC), usegmt=True)) from exc
        try:
            tier = await self._tier_of(key, stream.info.version_id)
            gone = self._pinned_gone if version_id else self._current_gone
            if gone(tier, stream.info.last_modified):
                raise ObjectMissing("no such file or version (its tier's retention has passed)")
        except BaseException:
            stream.close()
            raise
        return Opened(stream, tier)

    async def delete(self, session: OpenSession, path: str) -> None:
        require_active(session)
        await self.head(session.keys, path, None)  # 404 rather than a pointless delete marker
        await self._store.delete(session.keys.file(path))

    async def delete_folder(self, session: OpenSession, folder: str) -> int:
        require_active(session)
        deleted = await self._store.delete_all_current(session.keys.folder(folder))
        if deleted == 0:
            raise NotFound("no files under that folder")
        return deleted

    async def list(
        self, keys: SessionKeys, *, prefix: str, delimiter: str | None, limit: int, cursor: str | None
    ) -> dict[str, Any]:
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
            tier = retention.tier_of(self._policy, item_tags)
            if self._current_gone(tier, item.last_modified):
                continue
            entry = self.file_version(keys, replace(item, version_id=version_id), tier).to_json()
            del entry["content_type"]  # S3 listings do not carry it
            items.append(entry)
        return {
            "items": items,
            "prefixes": [keys.path_of(item) for item in page.prefixes],
            "next_cursor": self._cursors.seal({"token": page.continuation}, binding) if page.continuation else None,
        }

    async def history(self, keys: SessionKeys, path: str, *, limit: int, cursor: str | None) -> dict[str, Any]:
        key = keys.file(path)
        binding = (HISTORY_OPERATION, keys.prefix, keys.path_of(key))
        after = self._cursors.open(cursor, binding, expect=("after",))["after"] if cursor else None
        page = await self._store.versions_page(key, limit=limit, after=after)
        if not page.entries and after is None:
            raise NotFound("this path has no history")
        tags = await tags_of(self._store, [(key, e.version_id) for e in page.entries if not e.is_delete_marker])
        tier_by_version = {
            entry.version_id: retention.tier_of(self._policy, entry_tags)
            for entry, entry_tags in zip([e for e in page.entries if not e.is_delete_marker], tags, strict=True)
        }
        items = []
        newer: VersionEntry | None = None
        # Counted from the top of this page: on later pages it undercounts, which only ever shows more.
        noncurrent_rank = 0
        for entry in page.entries:
            tier = tier_by_version.get(entry.version_id)
            if entry.is_delete_marker:
                items.append(self._version_json(entry, None))
            elif not self._version_gone(entry, newer, tier, noncurrent_rank):
                items.append(self._version_json(entry, tier))
            if not entry.is_delete_marker and not entry.is_latest:
                noncurrent_rank += 1
            newer = entry
        next_cursor = self._cursors.seal({"after": page.next_after}, binding) if page.next_after else None
        return {"path": path, "items": items, "next_cursor": next_cursor}

    def _version_gone(self, entry: VersionEntry, newer: VersionEntry | None, tier: Tier | None, rank: int) -> bool:
        if entry.is_latest:
            return self._current_gone(tier, entry.last_modified)
        if newer is not None:
            return retention.noncurrent_is_gone(
                tier, newer.last_modified, self._now(), self._settings.day_seconds, newer_noncurrent=rank
            )
        return self._pinned_gone(tier, entry.last_modified)

    @staticmethod
    def _version_json(entry: VersionEntry, tier: Tier | None) -> dict[str, Any]:
        return {
            "version_id": entry.version_id,
            "is_latest": entry.is_latest,
            "is_delete_marker": entry.is_delete_marker,
            "size": entry.size,
            "etag": entry.etag,
            "last_modified": iso(entry.last_modified),
            "tier": tier.name if tier else None,
        }

    async def rollback(self, session: OpenSession, path: str, version_id: str) -> Written:
        """Make an old version the head again, as a new version; the versions in between stay in history."""
        require_active(session)
        keys = session.keys
        key = keys.file(path)
        try:
            source = await self._store.head(key, version_id)
            source_tags = await self._store.get_tags(key, version_id)
        except ObjectMissing as exc:
            raise NotFound("no such version of this file (delete markers cannot be restored)") from exc
        tier = retention.tier_of(self._policy, source_tags)
        if self._pinned_gone(tier, source.last_modified):
            raise NotFound("that version is past its tier's retention")
        # The copy must not inherit a conditional write's base: it would look like a lost race later.
        metadata = {k: v for k, v in source.metadata.items() if k != preconditions.BASE_METADATA}
        new_version = await self._store.copy_version(key, source, metadata=metadata, tags=source_tags)
        settled = await preconditions.settle(self._store, key, new_version, None)
        if source_tags and settled.version.version_id:
            # Not every backend honours tags on copies (Ceph RGW 16 on multipart copies): set them explicitly.
            await self._store.put_tags(key, source_tags, settled.version.version_id)
        return Written(self.file_version(keys, settled.version, tier), created=not settled.replaced)

    async def set_tier(self, session: OpenSession, path: str, tier: str, *, recursive: bool) -> dict[str, Any]:
        """Re-tag a file, or everything under a folder, without rewriting any data."""
        require_active(session)
        name = self._policy.tier(tier).name
        keys = session.keys
        if recursive:
            count = await retag(self._store, keys.folder(path), name, exact_key=False)
            if count == 0:
                raise NotFound("no files under that folder")
            return {"path": path, "tier": name, "files": count}
        await self.head(keys, path, None)
        await retag(self._store, keys.file(path), name, exact_key=True)
        return (await self.head(keys, path, None)).to_json()

    async def link(self, keys: SessionKeys, path: str, *, version_id: str | None, expires_in: int) -> Link:
        if not 1 <= expires_in <= MAX_LINK_SECONDS:
            raise BadRequest(f"expires_in must be from 1 to {MAX_LINK_SECONDS} seconds (7 days)")
        file = await self.head(keys, path, version_id)  # no links to nothing
        url = await self._store.presign_get(
            keys.file(path),
            version_id=version_id,
            expires_in=expires_in,
            content_disposition=content_disposition(path.rsplit("/", 1)[-1], inline=False),
        )
        expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=expires_in)
        if file.expires_at is not None:
            expires_at = min(expires_at, file.expires_at)
        return Link(url=url, expires_at=expires_at)
