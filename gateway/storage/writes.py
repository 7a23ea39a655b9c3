"""The one step that writes a version: every writer (file PUT, rollback, copies, session records, the janitor's
expiries, deletes) goes through `VersionWriter`.

A write is, in order:
1. **prepare**: check the precondition against the head and take its version as the base
   (`gateway.storage.preconditions`), or, for an unconditional write, just note the top of the key's history (to
   answer 201 or 200); callers may run this concurrently with their own reads, and an unconditional upload need
   not wait for it at all (`Prepared.replaced_by` sorts out whether the look saw the new version already);
2. **store**: stream a body (hashing it, see `gateway.storage.uploads`), put bytes, copy an exact version
   server-side, put a delete marker, or complete a multipart upload whose parts came over many requests (a
   resumable upload's, begun with `begin`); the base goes into the new version's metadata (for a multipart upload
   begun earlier, it went there when it began, and the completion holds only while the head is still that base);
3. **repair tags** where the backend drops them (multipart uploads and copies on Ceph RGW 16);
4. **verify** that the store holds the bytes it was sent (S3's ETag is their MD5; a size and ETag check after
   multipart uploads), withdrawing the version otherwise;
5. **settle**: a conditional write confirms its place in the key's history or is withdrawn (412).

Nothing visible is left behind by a failure at any step.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import EllipsisType
from typing import Protocol

from gateway.errors import ObjectMissing, PreconditionFailed, StoreError
from gateway.storage import preconditions
from gateway.storage.digests import Expected, bare_etag, is_sha256_hex
from gateway.storage.preconditions import BASE_METADATA, Precondition
from gateway.storage.store import ObjectInfo, Store, VersionEntry
from gateway.storage.uploads import SHA256_METADATA, SHA256_TAG, SkipWhen, stream_upload

NOTHING_EXPECTED = Expected()
UNCONDITIONAL = Precondition()
# A write that lands only where no file is (a delete marker counts as none).
CREATE_ONLY = Precondition(if_none_match_any=True)


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


@dataclass(frozen=True)
class Assembled:
    """A multipart upload begun with `VersionWriter.begin` whose parts are all stored (a resumable upload's, sent
    over many requests), completed into the new version: no bytes pass through the gateway here.

    `parts` are (part number, ETag) in ascending order. `base` is what `begin` recorded in the upload's metadata.
    `sha256` is the bytes' digest when one process saw them all in order; None: the version is read back for it.
    `expected_etag` is the multipart ETag the parts' MD5s make, checked where the backend's ETags are MD5s.
    """

    upload_id: str
    parts: tuple[tuple[int, str], ...]
    size: int
    base: str | None
    sha256: str | None = None
    expected_etag: str | None = None


Content = Streamed | bytes | CopyOf | DeleteMarker | Assembled


@dataclass(frozen=True)
class Prepared:
    """The head of a key as a write found it, and the base to record when the write is conditional."""

    head: VersionEntry | None
    base: str | None
    # The entry under `head`, when the look saw it: an unconditional write's look may run alongside the write
    # itself and see the new version on top (see `replaced_by`).
    under_head: VersionEntry | None = None
    under_seen: bool = False

    @property
    def exists(self) -> bool:
        return self.head is not None and not self.head.is_delete_marker

    def replaced_by(self, version_id: str | None) -> VersionEntry | EllipsisType | None:
        """The entry that `version_id`, written around the time of this look, was written on top of; `...` when
        the look cannot tell (a rival's version already lay on top of it)."""
        if self.head is None or version_id is None:
            return self.head
        if self.head.version_id == version_id:  # the look came after the write
            return self.under_head if self.under_seen else ...
        if self.under_head is not None and self.under_head.version_id == version_id:
            return ...
        return self.head


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
        top, complete = await self._store.top_entries(key, 2)
        return Prepared(top[0] if top else None, None, top[1] if len(top) > 1 else None, len(top) > 1 or complete)

    async def write(
        self,
        key: str,
        content: Content,
        *,
        precondition: Precondition = UNCONDITIONAL,
        prepared: Prepared | asyncio.Future[Prepared] | None = None,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        if_content_differs: bool = False,
    ) -> Written:
        """Write one new version of `key`. `prepared` is the result of `prepare` when the caller ran it already,
        or, for an unconditional upload, the `prepare` still running: the upload need not wait for it."""
        if prepared is None:
            prepared = await self.prepare(key, precondition)
        if not isinstance(prepared, Prepared) and isinstance(content, Assembled):
            prepared = await prepared  # a completion makes no upload worth overlapping with the look
        if not isinstance(prepared, Prepared):
            assert not precondition.conditional and isinstance(content, Streamed | bytes)
            try:
                return await self._upload(key, content, prepared, content_type, metadata, tags, if_content_differs)
            finally:
                if not prepared.done():
                    prepared.cancel()
                elif not prepared.cancelled():
                    prepared.exception()  # seen: a look that failed after the upload did is not worth a warning
        metadata = {k: v for k, v in (metadata or {}).items() if k != BASE_METADATA}
        if prepared.base is not None:
            metadata[BASE_METADATA] = prepared.base
        tags = dict(tags or {})
        if isinstance(content, DeleteMarker):
            return await self._mark(key, prepared)
        if isinstance(content, CopyOf):
            return await self._copy(key, content.source, prepared, metadata, tags)
        if isinstance(content, Assembled):
            return await self._assemble(key, content, prepared, tags)
        return await self._upload(key, content, prepared, content_type, metadata, tags, if_content_differs)

    async def _upload(
        self,
        key: str,
        content: Streamed | bytes,
        looked: Prepared | asyncio.Future[Prepared],
        content_type: str,
        metadata: Mapping[str, str] | None,
        tags: Mapping[str, str] | None,
        if_content_differs: bool,
    ) -> Written:
        if isinstance(content, bytes):
            content = Streamed(_once(content), len(content))

        async def prepared() -> Prepared:
            return looked if isinstance(looked, Prepared) else await looked

        skip_when = self._same_as_head(key, prepared) if if_content_differs else None
        uploaded = await stream_upload(
            self._store,
            key,
            content.chunks,
            content_type=content_type,
            metadata=dict(metadata or {}),
            tags=dict(tags or {}),
            declared_length=content.declared_length,
            max_bytes=self._max_bytes,
            threshold=self._threshold,
            expected=content.expected,
            skip_when=skip_when,
        )
        if uploaded.skipped:
            head_entry = (await prepared()).head
            assert head_entry is not None
            head = await self._store.head(key, head_entry.version_id)
            return Written(head, head_entry, True, uploaded.sha256, unchanged=True)
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
        found = await prepared()
        prior = found.replaced_by(known.version_id) if found.base is None else found.head
        settled = await preconditions.settle(self._store, key, known.version_id, found.base, known=known, prior=prior)
        return Written(settled.version, settled.below, settled.replaced, uploaded.sha256)

    def _same_as_head(self, key: str, prepared: Callable[[], Awaitable[Prepared]]) -> SkipWhen:
        async def same(sha256: str) -> bool:
            head_entry = (await prepared()).head  # nothing is written yet: the look saw what lies under this write
            if head_entry is None or head_entry.is_delete_marker:
                return False
            head, tags = await asyncio.gather(
                self._store.head(key, head_entry.version_id),
                self._store.get_tags(key, head_entry.version_id),
            )
            return sha256_of(head, tags) == sha256

        return same

    async def begin(self, key: str, prepared: Prepared, *, content_type: str) -> str:
        """Start a multipart upload of `key` whose parts will come over many requests (`Assembled` completes it);
        returns its upload id. The base `prepared` found (its precondition checked) goes into the upload's metadata
        now, since a multipart upload's metadata cannot change later; the completion checks that it still holds.
        Tags wait for the completion, which knows the tier and the SHA-256."""
        metadata = {BASE_METADATA: prepared.base} if prepared.base is not None else {}
        return await self._store.start_multipart(key, content_type=content_type, metadata=metadata)

    async def _assemble(self, key: str, content: Assembled, prepared: Prepared, tags: dict[str, str]) -> Written:
        if prepared.base != content.base:
            # The head moved since the upload began (its precondition held then): the base in its metadata would
            # be wrong, and a version whose recorded base is not the one under it is taken for a lost race.
            raise PreconditionFailed("the file changed since this upload began; nothing was stored")
        parts = [{"PartNumber": number, "ETag": etag} for number, etag in content.parts]
        version_id = await self._store.complete_multipart(key, content.upload_id, parts)
        try:
            info = await self._head_of_new(key, version_id)
            version_id = info.version_id
            if info.size != content.size or (
                self._traits.etag_is_md5
                and content.expected_etag is not None
                and bare_etag(info.etag) != content.expected_etag
            ):
                raise StoreError("the storage backend did not keep the bytes it was sent; nothing was stored")
            sha256 = content.sha256 or await self._digest(key, info.version_id)
            # Tags were not given when the upload began: its tier and digest are known only now.
            await self._store.put_tags(key, {**tags, SHA256_TAG: sha256}, info.version_id)
        except BaseException:
            await asyncio.shield(self._withdraw(key, version_id))
            raise
        prior = prepared.replaced_by(info.version_id) if prepared.base is None else prepared.head
        settled = await preconditions.settle(self._store, key, info.version_id, prepared.base, known=info, prior=prior)
        return Written(settled.version, settled.below, settled.replaced, sha256)

    async def _digest(self, key: str, version_id: str | None) -> str:
        """The SHA-256 of a version, read back as a stream (a completed upload whose bytes no one process saw)."""
        stream = await self._store.get(key, version_id=version_id, believe_missing=True)
        digest = hashlib.sha256()
        async for chunk in stream.body:
            digest.update(chunk)
        return digest.hexdigest()

    async def withdraw(self, prefix: str, versions: Sequence[tuple[str, str]]) -> None:
        """Remove exact versions under `prefix` that a caller wrote through this step and must undo as a whole
        (an import that failed half-way). Only those versions go: whatever others wrote on top of them stays, and
        each key's history is as it was, less these entries. One S3 call per 1,000 versions."""
        await self._store.delete_versions(prefix, list(versions))

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
        return Written(settled.version, settled.below, settled.replaced, sha256_of(source, tags))

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
        return Written(settled.version, settled.below, settled.replaced, None)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
