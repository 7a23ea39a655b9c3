"""Moving sessions from the earlier readable key layout to the opaque one (`gateway.keys`).

Earlier versions kept sessions under `{root}/t/{tenant}/u/{user}/s/...`, readable encodings of the claims, which
every presigned link showed. The opaque owner segments are keyed hashes of exactly those readable segments, so
each old key has one new key and no claim needs to be known.

For each old key, every entry (versions and delete markers) is replayed oldest first onto the new key: a version
by a server-side copy (bytes, type, metadata and tags as they were), a delete marker by a delete marker. With
`remove`, the old entries are deleted once all of them were replayed. Replayed versions are dated by the move,
so tiers count their age from then: files are kept longer than planned, never shorter.

Running it again is safe. A run stopped half-way replayed the oldest entries of a key in order, so a new key with
`k` entries skips the first `k` old ones. Within a session the files sort before `session.json`, so the session
appears through the API only once its files are in place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from gateway import keys
from gateway.storage.store import Store, VersionEntry
from gateway.storage.writes import CopyOf, DeleteMarker, Prepared, VersionWriter


@dataclass
class MigrationReport:
    keys: int = 0
    replayed: int = 0
    skipped: int = 0
    removed: int = 0
    owners: int = 0


async def migrate_layout(
    store: Store,
    writer: VersionWriter,
    *,
    root: str,
    owner_key: bytes,
    apply: bool,
    remove: bool,
    progress: Callable[[str], None] = lambda line: None,
    moved: Callable[[str, str], None] = lambda old, new: None,
) -> MigrationReport:
    """Replay every old-layout key onto its new key (`apply`), or only count what would be moved."""
    report = MigrationReport()
    last_owner = None
    legacy_root = f"{root}/{keys.LEGACY_OWNERS_DIR}" if root else keys.LEGACY_OWNERS_DIR
    async for key, entries in _histories(store, legacy_root):
        found = keys.legacy_owner_prefix(root, key)
        if found is None:
            progress(f"left alone (not a session key): {key}")
            continue
        old_prefix, tenant_segment, user_segment = found
        tenant, user = keys.owner_segments(owner_key, tenant_segment, user_segment)
        new_prefix = f"{root}/{keys.OWNERS_DIR}" if root else keys.OWNERS_DIR
        new_prefix += f"{tenant}/{user}/s/"
        if old_prefix != last_owner:
            # Keys are listed in order, so each owner's keys come together.
            last_owner = old_prefix
            report.owners += 1
            moved(old_prefix, new_prefix)
        new_key = new_prefix + key[len(old_prefix) :]
        report.keys += 1
        oldest_first = list(reversed(entries))
        done = await _entry_count(store, new_key)
        report.skipped += min(done, len(oldest_first))
        for entry in oldest_first[done:]:
            report.replayed += 1
            if apply:
                await _replay(store, writer, entry, new_key)
        if apply and remove:
            await store.delete_versions(old_prefix, [(entry.key, entry.version_id) for entry in entries])
            report.removed += len(entries)
    return report


async def _replay(store: Store, writer: VersionWriter, entry: VersionEntry, new_key: str) -> None:
    if entry.is_delete_marker:
        await writer.write(new_key, DeleteMarker(), prepared=Prepared(None, None))
        return
    source = await store.head(entry.key, entry.version_id)
    tags = await store.get_tags(entry.key, entry.version_id)
    await writer.write(new_key, CopyOf(source), prepared=Prepared(None, None), metadata=source.metadata, tags=tags)


async def _entry_count(store: Store, key: str) -> int:
    count = 0
    async for page in store.version_pages(key):
        count += sum(1 for entry in page if entry.key == key)
    return count


async def _histories(store: Store, prefix: str) -> AsyncIterator[tuple[str, list[VersionEntry]]]:
    """Each key under `prefix` with all its entries, newest first; a key's entries may span listing pages."""
    current: list[VersionEntry] = []
    async for page in store.version_pages(prefix):
        for entry in page:
            if current and current[0].key != entry.key:
                yield current[0].key, current
                current = []
            current.append(entry)
    if current:
        yield current[0].key, current
