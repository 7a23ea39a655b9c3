"""The one step that writes a version: every writer (file PUT, rollback, copies, session records, the janitor's
expiries, deletes) goes through `VersionWriter`.

A write is, in order:
1. **prepare**: check the precondition against the head and take its version as the base
   (`gateway.storage.preconditions`), or, for an unconditional write, just note the head (to answer 201 or 200);
   callers may run this concurrently with their own reads;
2. **store**: stream a body (hashing it, see `gateway.storage.uploads`), put bytes, copy an exact version
   server-side, or put a delete marker; the base goes into the new version's metadata;
3. **repair tags** where the backend drops them (multipart uploads and copies on Ceph RGW 16);
4. **verify** that the store holds the bytes it was sent (S3's ETag is their MD5; a size and ETag check after
   multipart uploads), withdrawing the version otherwise;
5. **settle**: a conditional write confirms its place in the key's history or is withdrawn (412).

Nothing visible is left behind by a failure at any step.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from gateway.errors import ObjectMissing, StoreError
from gateway.storage import preconditions
from gateway.storage.digests import Expected, bare_etag, is_sha256_hex
from gateway.storage.preconditions import BASE_METADATA, Precondition
from gateway.storage.store import ObjectInfo, Store, VersionEntry
from gateway.storage.uploads import SHA256_METADATA, SHA256_TAG, SkipWhen, stream_upload

NOTHING_EXPECTED = Expected()
UNCONDITIONAL = Precondition()


class Traits(Protocol):
    """What the write step needs to know of the backend (probed at start-up)."""

    @property
    def tags_on_multipart(self) -> bool: ...

    @property
    def tags_on_copy(self) -> bool: ...

    @property
    def etag_is_md5(self) -> bool: ...


@dataclass(frozen=True)
class CautiousTraits:
    """Assume the least: repair tags after every multipart upload and copy; verify sizes with a HEAD."""

    tags_on_multipart: bool = False
    tags_on_copy: bool = False
    etag_is_md5: bool = False


@dataclass(frozen=True)
class Streamed:
    chunks: AsyncIterator[bytes]
    declared_length: int | None
    expected: Expected = NOTHING_EXPECTED


@dataclass(frozen=True)
class CopyOf:
    """An exact version of any key in the bucket, copied server-side (no bytes through the gateway)."""

    source: ObjectInfo


@dataclass(frozen=True)
class DeleteMarker:
    pass


Content = Streamed | bytes | CopyOf | DeleteMarker


@dataclass(frozen=True)
class Prepared:
    """The head of a key as a write found it, and the base to record when the write is conditional."""

    head: VersionEntry | None
    base: str | None

    @property
    def exists(self) -> bool:
        return self.head is not None and not self.head.is_delete_marker


@dataclass(frozen=True)
class Written:
    """A version that took its place in its key's history (or, `unchanged`, the head that made it unneeded)."""

    info: ObjectInfo
    previous: VersionEntry | None
    replaced: bool
    sha256: str | None
    unchanged: bool = False


def sha256_of(info: ObjectInfo, tags: Mapping[str, str] | None = None) -> str | None:
    """A version's SHA-256 as the gateway stored it: in its metadata, or (multipart uploads) in its tags."""
    for value in (info.metadata.get(SHA256_METADATA), (tags or {}).get(SHA256_TAG)):
        if is_sha256_hex(value):
            return value
    return None


class VersionWriter:
    def __init__(self, store: Store, *, traits: Traits, max_bytes: int, threshold: int) -> None:
        self._store = store
        self._traits = traits
        self._max_bytes = max_bytes
        self._threshold = threshold

    async def prepare(self, key: str, precondition: Precondition) -> Prepared:
        if precondition.conditional:
            checked = await preconditions.check(self._store, key, precondition)
            return Prepared(checked.head, checked.base)
        return Prepared(await self._store.latest_entry(key), None)

    async def write(
        self,
        key: str,
        content: Content,
        *,
        precondition: Precondition = UNCONDITIONAL,
        prepared: Prepared | None = None,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        if_content_differs: bool = False,
    ) -> Written:
        """Write one new version of `key`. `prepared` is the result of `prepare` when the caller ran it already."""
        if prepared is None:
            prepared = await self.prepare(key, precondition)
        metadata = {k: v for k, v in (metadata or {}).items() if k != BASE_METADATA}
        if prepared.base is not None:
            metadata[BASE_METADATA] = prepared.base
        tags = dict(tags or {})
        if isinstance(content, DeleteMarker):
            return await self._mark(key, prepared)
        if isinstance(content, CopyOf):
            return await self._copy(key, content.source, prepared, metadata, tags)
        if isinstance(content, bytes):
            content = Streamed(_once(content), len(content))
        skip_when = self._same_as_head(key, prepared) if if_content_differs else None
        uploaded = await stream_upload(
            self._store,
            key,
            content.chunks,
            content_type=content_type,
            metadata=metadata,
            tags=tags,
            declared_length=content.declared_length,
            max_bytes=self._max_bytes,
            threshold=self._threshold,
            expected=content.expected,
            skip_when=skip_when,
        )
        if uploaded.skipped:
            assert prepared.head is not None
            head = await self._store.head(key, prepared.head.version_id)
            return Written(head, prepared.head, True, uploaded.sha256, unchanged=True)
        known = uploaded.reported
        if known is None or not self._traits.etag_is_md5:
            known = await self._head_of_new(key, uploaded.version_id)
            known_size = known.size
        else:
            known_size = uploaded.size
        if known_size != uploaded.size or (
            self._traits.etag_is_md5
            and uploaded.expected_etag is not None
            and bare_etag(known.etag) != uploaded.expected_etag
        ):
            await self._withdraw(key, known.version_id)
            raise StoreError("the storage backend did not keep the bytes it was sent; nothing was stored")
        settled = await preconditions.settle(
            self._store, key, known.version_id, prepared.base, known=known, prior=prepared.head
        )
        return Written(settled.version, prepared.head, settled.replaced, uploaded.sha256)

    def _same_as_head(self, key: str, prepared: Prepared) -> SkipWhen:
        async def same(sha256: str) -> bool:
            if not prepared.exists:
                return False
            assert prepared.head is not None
            head, tags = await asyncio.gather(
                self._store.head(key, prepared.head.version_id),
                self._store.get_tags(key, prepared.head.version_id),
            )
            return sha256_of(head, tags) == sha256

        return same

    async def _head_of_new(self, key: str, version_id: str | None) -> ObjectInfo:
        if version_id is None:
            latest = await self._store.latest_entry(key)
            if latest is None or latest.is_delete_marker:
                raise StoreError("the version just written is missing")
            version_id = latest.version_id
        return await self._store.head(key, version_id)

    async def _withdraw(self, key: str, version_id: str | None) -> None:
        if version_id is not None:
            with contextlib.suppress(ObjectMissing):
                await self._store.delete_version(key, version_id)

    async def _copy(
        self, key: str, source: ObjectInfo, prepared: Prepared, metadata: dict[str, str], tags: dict[str, str]
    ) -> Written:
        version_id = await self._store.copy_version(key, source, metadata=metadata, tags=tags)
        info = await self._head_of_new(key, version_id)
        multipart = "-" in bare_etag(info.etag)
        if tags and (not self._traits.tags_on_copy or (multipart and not self._traits.tags_on_multipart)):
            await self._store.put_tags(key, tags, info.version_id)
        if info.size != source.size:
            await self._withdraw(key, info.version_id)
            raise StoreError("the storage backend did not copy the whole file; nothing was stored")
        settled = await preconditions.settle(
            self._store, key, info.version_id, prepared.base, known=info, prior=prepared.head
        )
        return Written(settled.version, prepared.head, settled.replaced, sha256_of(source, tags))

    async def _mark(self, key: str, prepared: Prepared) -> Written:
        marker = await self._store.delete_marking(key)
        if marker is None:
            latest = await self._store.latest_entry(key)
            if latest is None or not latest.is_delete_marker:
                raise StoreError("the delete marker just written is missing")
            marker = latest.version_id
        info = ObjectInfo(key, marker, "", 0, datetime.now(UTC), "")
        settled = await preconditions.settle(
            self._store, key, marker, prepared.base, known=info, prior=prepared.head, marker=True
        )
        return Written(settled.version, prepared.head, settled.replaced, None)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
