"""`backup verify`: every kept version read back from both buckets and hashed, and what the backup lacks.

For each version record the backed-up bytes are streamed and hashed (each object once, however many records
share it), and so is the source version when the source still has it; both must match the size and SHA-256 the
record holds. A version the source no longer has is counted, not reported: retention and deletions remove old
versions, which is what the backup is for. The walk and the plan are `backup run`'s, so whatever a run would
copy or note now is reported as missing from the backup: run `verify` right after `run`, since versions written
in between show up as missing too.
"""

from __future__ import annotations

import asyncio
import hashlib

from gateway.auth.server_key import find_owner_key
from gateway.backup import layout, plan, target, walk
from gateway.backup.entries import Entry
from gateway.backup.run import BATCH_ENTRIES, slices, versions_tags
from gateway.backup.summary import Summary
from gateway.errors import GatewayError, ObjectMissing
from gateway.ordered import bounded
from gateway.policy.tiers import Policy, tier_of
from gateway.settings import Settings
from gateway.storage.store import Store

Digest = tuple[int, str]


async def verify_backup(source: Store, backup: Store, settings: Settings, policy: Policy, summary: Summary) -> Summary:
    await Verify(source, backup, settings, policy, summary).run()
    return summary


class Verify:
    def __init__(self, source: Store, backup: Store, settings: Settings, policy: Policy, summary: Summary) -> None:
        self._source = source
        self._backup = backup
        self._settings = settings
        self._policy = policy
        self._root = settings.key_root
        self._backed = target.backed_up_tiers(settings, policy)
        self._summary = summary
        # One hashing per backed-up object, however many records share it.
        self._blobs: dict[str, asyncio.Task[Digest | None]] = {}

    async def run(self) -> None:
        await self._owner_key()
        sessions = walk.sessions(self._source, self._backup, self._root)
        async for batch in walk.batches(sessions, entries=BATCH_ENTRIES):
            await self._batch(batch)

    async def _owner_key(self) -> None:
        owner_key = await find_owner_key(self._source, self._settings)
        if owner_key is None:
            return
        copy = layout.owner_key_copy(self._root, owner_key)
        try:
            saved, _ = await self._backup.read_bytes(copy, believe_missing=True)
        except ObjectMissing:
            saved = None
        if saved != owner_key:
            self._summary.fail("missing-in-backup", "the bucket's owner key is not in the backup", key=copy)
        else:
            self._summary.count("owner_keys_verified")

    async def _batch(self, batch: list[walk.Session]) -> None:
        tags = await versions_tags(self._source, [pair for session in batch for pair in plan.untiered(session)])
        tiers = {pair: (tier.name if (tier := tier_of(self._policy, found)) else None) for pair, found in tags.items()}
        records: list[layout.Listed] = []
        for session in batch:
            planned = plan.plan(session, tiers, self._backed)
            for item in planned.copies + planned.notes:
                detail = f"a {'version' if item.kind == layout.VERSION else item.kind + ' entry'} the backup lacks"
                self._summary.fail("missing-in-backup", detail, key=item.entry.key, version_id=item.entry.version_id)
            records += [listed for listed in session.recorded if listed.kind == layout.VERSION]
        for part in slices(records):
            await bounded(part, self._check)

    async def _check(self, listed: layout.Listed) -> None:
        try:
            data, _ = await self._backup.read_bytes(listed.key, believe_missing=True)
            entry = Entry.decode(data)
        except (GatewayError, ValueError) as exc:
            self._summary.failed_on("damaged-record", exc, key=listed.key)
            return
        where = {"key": entry.key, "version_id": entry.version_id}
        kept = (entry.size, entry.sha256)
        assert entry.blob is not None
        try:
            found = await self._blob(entry.blob)
        except GatewayError as exc:
            self._summary.failed_on("read-backup", exc, **where)
            return
        if found is None:
            self._summary.fail("missing-in-backup", f"the backed-up bytes ({entry.blob}) are missing", **where)
        elif found != kept:
            self._summary.fail("backup-mismatch", _mismatch(entry.blob, found, entry), **where)
        try:
            at_source = await self._digest(self._source, entry.key, entry.version_id)
        except ObjectMissing:
            self._summary.count("versions_gone_from_source")
            return
        except GatewayError as exc:
            self._summary.failed_on("read-source", exc, **where)
            return
        if at_source != kept:
            self._summary.fail("source-mismatch", _mismatch("the source version", at_source, entry), **where)
        elif found == kept:
            self._summary.count("versions_verified")

    def _blob(self, key: str) -> asyncio.Task[Digest | None]:
        task = self._blobs.get(key)
        if task is None:
            task = self._blobs[key] = asyncio.ensure_future(self._blob_digest(key))
        return task

    async def _blob_digest(self, key: str) -> Digest | None:
        try:
            return await self._digest(self._backup, key, None)
        except ObjectMissing:
            return None

    async def _digest(self, store: Store, key: str, version_id: str | None) -> Digest:
        """The size and SHA-256 of a version's bytes, streamed."""
        stream = await store.get(key, version_id=version_id, believe_missing=True)
        digest = hashlib.sha256()
        size = 0
        try:
            async for chunk in stream.body:
                digest.update(chunk)
                size += len(chunk)
        finally:
            await stream.body.aclose()
            stream.close()
        self._summary.count("objects_hashed", size=size)
        return size, digest.hexdigest()


def _mismatch(what: str, found: Digest, entry: Entry) -> str:
    return f"{what} holds {found[0]} bytes with SHA-256 {found[1]}; the record says {entry.size} bytes, {entry.sha256}"
