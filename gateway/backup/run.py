"""`backup run`: copy what the backup lacks, incrementally.

Both buckets are walked side by side (`gateway.backup.walk`); for each batch of sessions the versions the backup
does not keep yet have their tier read (one tag read each), `gateway.backup.plan` says what to copy and note, and
the copies run concurrently: small versions 16 at a time, large ones two at a time, so memory stays at a few
upload parts whatever the sizes. A version's bytes are streamed from the source through this process into the
backup (checked against the SHA-256 the gateway recorded when it was written, before anything becomes visible),
then its record is written: a record never names bytes that are not there.

Every key written is a function of what it holds, and nothing is written that a listing shows is there already,
so a second run copies nothing, a run that stopped half-way is finished by the next one, and two runs at once
at worst copy the same bytes to the same key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar

from gateway.auth.server_key import find_owner_key
from gateway.backup import layout, plan, target, walk
from gateway.backup.entries import CONTENT_TYPE, Entry
from gateway.backup.summary import Summary
from gateway.errors import DigestMismatch, GatewayError, ObjectMissing
from gateway.ordered import bounded
from gateway.policy.tiers import Policy, tier_of
from gateway.settings import Settings
from gateway.storage.digests import Expected, is_sha256_hex
from gateway.storage.store import ObjectInfo, ObjectStream, Store
from gateway.storage.tagging import tags_of
from gateway.storage.uploads import SHA256_TAG
from gateway.storage.writes import NOTHING_EXPECTED, Prepared, Streamed, sha256_of

# Entries (source versions and backup records) worked on together: small sessions share a batch, and a large
# session's versions are worked on this many at a time.
BATCH_ENTRIES = 1000
T = TypeVar("T")
BLOB_TYPE = "application/octet-stream"
# The backup's keys are written with no look at what they replace: every write of one writes the same thing.
NEW = Prepared(None, None)


def slices(items: list[T]) -> Iterator[list[T]]:
    """`items` a batch at a time: a session of a hundred thousand versions is not worked on all at once."""
    for start in range(0, len(items), BATCH_ENTRIES):
        yield items[start : start + BATCH_ENTRIES]


async def versions_tags(store: Store, versions: list[tuple[str, str]]) -> dict[tuple[str, str], Mapping[str, str]]:
    """The tags of each (key, version id), 16 reads at a time, a batch at a time."""
    found: dict[tuple[str, str], Mapping[str, str]] = {}
    for part in slices(versions):
        found.update(zip(part, await tags_of(store, part), strict=True))
    return found


async def run_backup(source: Store, backup: Store, settings: Settings, policy: Policy, summary: Summary) -> Summary:
    await Run(source, backup, settings, policy, summary).run()
    return summary


class Run:
    def __init__(self, source: Store, backup: Store, settings: Settings, policy: Policy, summary: Summary) -> None:
        self._source = source
        self._backup = backup
        self._settings = settings
        self._policy = policy
        self._root = settings.key_root
        self._backed = target.backed_up_tiers(settings, policy)
        self._summary = summary
        self._writer = target.writer(backup, settings, target.backup_traits())

    async def run(self) -> None:
        await self._owner_key()
        sessions = walk.sessions(self._source, self._backup, self._root)
        async for batch in walk.batches(sessions, entries=BATCH_ENTRIES):
            await self._batch(batch)

    async def _owner_key(self) -> None:
        """Every session's keys derive from the owner key: without it a restore into an emptied bucket would put
        files where no token leads. It is kept under its fingerprint, once."""
        owner_key = await find_owner_key(self._source, self._settings)
        if owner_key is None:
            return  # no session was ever made
        copy = layout.owner_key_copy(self._root, owner_key)
        try:
            found = await self._backup.head(copy, believe_missing=True)
            if found.size == len(owner_key):
                return
        except ObjectMissing:
            pass
        await self._writer.write(copy, owner_key, prepared=NEW)
        self._summary.count("owner_keys_copied")

    async def _batch(self, batch: list[walk.Session]) -> None:
        tags = await versions_tags(self._source, [pair for session in batch for pair in plan.untiered(session)])
        tiers = {pair: (tier.name if (tier := tier_of(self._policy, found)) else None) for pair, found in tags.items()}
        copies: list[tuple[str, plan.Item]] = []
        notes: list[tuple[str, plan.Item]] = []
        for session in batch:
            if session.histories:
                self._summary.count("sessions")
            planned = plan.plan(session, tiers, self._backed)
            self._summary.count("versions_kept_before", planned.kept)
            copies += [(session.prefix, item) for item in planned.copies]
            notes += [(session.prefix, item) for item in planned.notes]

        async def copy(work: tuple[str, plan.Item]) -> None:
            prefix, item = work
            await self._copy(prefix, item, tags.get((item.entry.key, item.entry.version_id), {}))

        for part in slices(copies):
            await target.copy_all(part, lambda work: work[1].entry.size or 0, copy)
        for part in slices(notes):
            await bounded(part, self._note)

    async def _copy(self, prefix: str, item: plan.Item, tags: Mapping[str, str]) -> None:
        entry = item.entry
        try:
            info, blob, sha256, sent = await self._keep_bytes(entry.key, entry.version_id, entry.size or 0, tags)
            record = Entry(
                kind=layout.VERSION,
                key=entry.key,
                name=item.name,
                version_id=entry.version_id,
                time=entry.last_modified,
                below=item.below,
                tier=item.tier,
                size=info.size,
                sha256=sha256,
                content_type=info.content_type,
                metadata=dict(info.metadata),
                tags=dict(tags),
                blob=blob,
            )
            await self._record(prefix, item, record)
        except ObjectMissing:
            self._summary.count("versions_gone_meanwhile")  # removed from the source since it was listed
        except DigestMismatch:
            detail = "the source version's bytes do not match the SHA-256 recorded when it was written"
            self._summary.fail("copy", detail, key=entry.key, version_id=entry.version_id)
        except GatewayError as exc:
            self._summary.failed_on("copy", exc, key=entry.key, version_id=entry.version_id)
        else:
            self._summary.count("versions_copied")
            self._summary.count("blobs_uploaded" if sent else "blobs_reused", size=sent)

    async def _keep_bytes(
        self, key: str, version_id: str, size: int, tags: Mapping[str, str]
    ) -> tuple[ObjectInfo, str, str | None, int]:
        """The version's bytes in the backup (uploaded unless they are there already): what the source says of
        the version, the blob's key, the SHA-256 and how many bytes were sent."""
        recorded = tags.get(SHA256_TAG)
        sha256 = recorded if is_sha256_hex(recorded) else None
        if sha256 is not None and await self._has_blob(layout.blob(self._root, sha256), size):
            return await self._source.head(key, version_id), layout.blob(self._root, sha256), sha256, 0
        stream = await self._source.get(key, version_id=version_id)
        try:
            sha256 = sha256 or sha256_of(stream.info)
            if sha256 is None:
                blob = layout.unhashed_blob(self._root, key, version_id)
            else:
                blob = layout.blob(self._root, sha256)
            written = await self._upload(blob, stream, sha256)
        finally:
            await stream.body.aclose()
            stream.close()
        return stream.info, blob, written, stream.info.size

    async def _upload(self, blob: str, stream: ObjectStream, sha256: str | None) -> str | None:
        expected = Expected(sha256=bytes.fromhex(sha256)) if sha256 is not None else NOTHING_EXPECTED
        content = Streamed(stream.body, stream.info.size, expected)
        written = await self._writer.write(blob, content, prepared=NEW, content_type=BLOB_TYPE)
        return written.sha256

    async def _has_blob(self, blob: str, size: int) -> bool:
        try:
            return (await self._backup.head(blob, believe_missing=True)).size == size
        except ObjectMissing:
            return False

    async def _note(self, work: tuple[str, plan.Item]) -> None:
        prefix, item = work
        entry = item.entry
        record = Entry(item.kind, entry.key, item.name, entry.version_id, entry.last_modified, item.below, item.tier)
        try:
            await self._record(prefix, item, record)
        except GatewayError as exc:
            self._summary.failed_on("note", exc, key=entry.key, version_id=entry.version_id)
        else:
            self._summary.count("markers_noted" if item.kind == layout.DELETED else "skipped_noted")

    async def _record(self, prefix: str, item: plan.Item, record: Entry) -> None:
        entry = item.entry
        key = layout.entry_key(self._root, prefix, item.name, entry.last_modified, entry.version_id, record.kind)
        await self._writer.write(key, record.encode(), prepared=NEW, content_type=CONTENT_TYPE)
