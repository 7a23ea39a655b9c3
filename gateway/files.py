"""File operations inside one session: the service behind the `/files`, `/history`, `/rollback` and `/links` routes.

Callers pass `SessionKeys` for a session they may reach; raw client paths are turned into keys by those keys.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from gateway import preconditions
from gateway.downloads import content_disposition
from gateway.errors import BadRequest, NotFound, NotModified, ObjectMissing
from gateway.keys import SessionKeys
from gateway.settings import Settings
from gateway.store import ObjectInfo, ObjectStream, Store, VersionEntry
from gateway.uploads import stream_upload

MAX_LINK_SECONDS = 604_800  # S3's ceiling for SigV4 presigned URLs
DEFAULT_LINK_SECONDS = 3600
MAX_PAGE = 1000
DEFAULT_PAGE = 100


@dataclass(frozen=True)
class FileVersion:
    path: str
    version_id: str | None
    etag: str
    size: int
    content_type: str
    last_modified: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "version_id": self.version_id,
            "etag": self.etag,
            "size": self.size,
            "content_type": self.content_type,
            "last_modified": iso(self.last_modified),
        }


@dataclass(frozen=True)
class Written:
    file: FileVersion
    created: bool


@dataclass(frozen=True)
class Link:
    url: str
    expires_at: datetime


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def page_limit(raw: str | None, default: int = DEFAULT_PAGE) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_PAGE}") from exc
    if not 1 <= value <= MAX_PAGE:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_PAGE}")
    return value


def version_json(entry: VersionEntry) -> dict[str, Any]:
    return {
        "version_id": entry.version_id,
        "is_latest": entry.is_latest,
        "is_delete_marker": entry.is_delete_marker,
        "size": entry.size,
        "etag": entry.etag,
        "last_modified": iso(entry.last_modified),
    }


class Files:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    async def write(
        self,
        keys: SessionKeys,
        path: str,
        body: AsyncIterator[bytes],
        *,
        content_type: str,
        declared_length: int | None,
        precondition: preconditions.Precondition,
    ) -> Written:
        key = keys.file(path)
        base = await preconditions.check(self._store, key, precondition) if precondition.conditional else None
        metadata = {preconditions.BASE_METADATA: base} if base is not None else {}
        version_id, _size = await stream_upload(
            self._store,
            key,
            body,
            content_type=content_type,
            metadata=metadata,
            declared_length=declared_length,
            max_bytes=self._settings.max_upload_bytes,
            threshold=self._settings.multipart_threshold_bytes,
        )
        settled = await preconditions.settle(self._store, key, version_id, base)
        return Written(self._file(keys, settled.version), created=not settled.replaced)

    async def head(self, keys: SessionKeys, path: str, version_id: str | None) -> ObjectInfo:
        return await self._store.head(keys.file(path), version_id)

    async def open(
        self,
        keys: SessionKeys,
        path: str,
        *,
        version_id: str | None,
        byte_range: str | None,
        if_none_match: str | None,
    ) -> ObjectStream:
        key = keys.file(path)
        try:
            return await self._store.get(key, version_id=version_id, byte_range=byte_range, if_none_match=if_none_match)
        except NotModified as exc:
            if exc.etag:
                raise
            # Ceph RGW answers 304 without validators; a 304 must repeat them.
            info = await self._store.head(key, version_id)
            raise NotModified(info.etag, format_datetime(info.last_modified.astimezone(UTC), usegmt=True)) from exc

    async def delete(self, keys: SessionKeys, path: str) -> None:
        key = keys.file(path)
        await self._store.head(key)  # 404 rather than a pointless delete marker
        await self._store.delete(key)

    async def delete_folder(self, keys: SessionKeys, folder: str) -> int:
        deleted = await self._store.delete_all_current(keys.folder(folder))
        if deleted == 0:
            raise NotFound("no files under that folder")
        return deleted

    async def list(
        self, keys: SessionKeys, *, prefix: str, delimiter: str | None, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        if delimiter not in (None, "", "/"):
            raise BadRequest("delimiter may only be '/'")
        page = await self._store.list_page(
            keys.listing(prefix), delimiter=delimiter or None, limit=limit, cursor=cursor
        )
        return {
            "items": [
                {
                    "path": keys.path_of(item.key),
                    "size": item.size,
                    "etag": item.etag,
                    "last_modified": iso(item.last_modified),
                    "version_id": item.version_id,
                }
                for item in page.objects
            ],
            "prefixes": [keys.path_of(item) for item in page.prefixes],
            "next_cursor": page.cursor,
        }

    async def history(self, keys: SessionKeys, path: str, *, limit: int, cursor: str | None) -> dict[str, Any]:
        key = keys.file(path)
        page = await self._store.versions_page(key, limit=limit, cursor=cursor)
        if not page.entries and cursor is None:
            raise NotFound("this path has no history")
        return {"path": path, "items": [version_json(entry) for entry in page.entries], "next_cursor": page.cursor}

    async def rollback(self, keys: SessionKeys, path: str, version_id: str) -> Written:
        """Make an old version the head again, as a new version; the versions in between stay in history."""
        key = keys.file(path)
        try:
            source = await self._store.head(key, version_id)
        except ObjectMissing as exc:
            raise NotFound("no such version of this file (delete markers cannot be restored)") from exc
        # The copy must not inherit a conditional write's base: it would look like a lost race later.
        metadata = {k: v for k, v in source.metadata.items() if k != preconditions.BASE_METADATA}
        new_version = await self._store.copy_version(key, source, metadata=metadata)
        settled = await preconditions.settle(self._store, key, new_version, None)
        return Written(self._file(keys, settled.version), created=not settled.replaced)

    async def link(self, keys: SessionKeys, path: str, *, version_id: str | None, expires_in: int) -> Link:
        if not 1 <= expires_in <= MAX_LINK_SECONDS:
            raise BadRequest(f"expires_in must be from 1 to {MAX_LINK_SECONDS} seconds (7 days)")
        key = keys.file(path)
        await self._store.head(key, version_id)  # no links to nothing
        name = path.rsplit("/", 1)[-1]
        url = await self._store.presign_get(
            key,
            version_id=version_id,
            expires_in=expires_in,
            content_disposition=content_disposition(name, inline=False),
        )
        return Link(url=url, expires_at=datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=expires_in))

    @staticmethod
    def _file(keys: SessionKeys, info: ObjectInfo) -> FileVersion:
        return FileVersion(
            path=keys.path_of(info.key),
            version_id=info.version_id,
            etag=info.etag,
            size=info.size,
            content_type=info.content_type,
            last_modified=info.last_modified,
        )
