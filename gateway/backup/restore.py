"""`backup restore`: a session's files as they were at a moment (by default the newest the backup holds) written
back into the gateway's bucket, even after the bucket lost them, its session record, or its owner key.

The session is found in the backup under each owner key the backup keeps (usually one), then written under the
key the bucket has now: the backed-up one put back when the bucket lost its own, else the bucket's, so restored
files are where tokens lead either way. Every file goes through the one write step, conditionally on the head it
was compared with (a version written meanwhile is not overwritten: the file is reported and the rest goes on),
with its type, metadata and tags (the tier, the SHA-256) as they were; its bytes are checked against the backed-up
SHA-256 before they become visible. A file whose current version has the same SHA-256 and tier is left alone, so
a restore can be repeated. Nothing is deleted: files that did not exist at the moment, or that came later, stay
as they are (restore into a new session, `to_session`, for the moment's state alone). The session record is
written last, and only when the session has none, so a restored session appears with its files in place.

After a total loss nobody holds a list of owners: `restore_everything` brings back every session the backup holds
at the keys it was kept from, which the owner key (put back first) makes the keys its owners' tokens lead to.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime

from gateway import changes, strict_json
from gateway.audit.recorders import Recorders
from gateway.auth.server_key import find_owner_key, restore_owner_key
from gateway.backup import layout, state, target, walk
from gateway.backup.entries import Entry
from gateway.backup.summary import Summary
from gateway.changes import SYSTEM_RESTORE, Change
from gateway.errors import GatewayError, ObjectMissing, PreconditionFailed
from gateway.keys import FILES_DIR, SESSION_RECORD_NAME, Owner, SessionKeys
from gateway.ordered import bounded
from gateway.policy.tiers import TIER_TAG, Policy, tier_of
from gateway.services import files
from gateway.services.assembly import assemble
from gateway.services.records import RECORD_CONTENT_TYPE
from gateway.services.session_records import SessionRecord
from gateway.services.sessions import encode_record
from gateway.settings import Settings
from gateway.storage.digests import Expected
from gateway.storage.preconditions import Precondition
from gateway.storage.store import Store
from gateway.storage.writes import NOTHING_EXPECTED, Streamed, Traits, Written, sha256_of
from gateway.wire import iso

# A record is written only where there is none: a session that appeared meanwhile keeps its own.
CREATE = Precondition(if_none_match_any=True)


class NothingToRestore(Exception):
    """The backup holds nothing of the session asked for, or nothing this bucket's owner key can reach."""


@dataclass(frozen=True)
class Request:
    """One session to restore, named by its owner (the owner segments are opaque without them)."""

    tenant: str | None
    user: str
    session_id: str
    at: datetime | None = None
    to_session: str | None = None


@dataclass(frozen=True)
class Everything:
    """Every session the backup holds."""

    at: datetime | None = None


async def restore_session(
    source: Store, backup: Store, settings: Settings, policy: Policy, summary: Summary, request: Request
) -> Summary:
    restore = await Restore.start(source, backup, settings, policy, summary)
    async with restore.recorders.running():  # what it writes is in the audit log too
        await restore.one(request)
    return summary


async def restore_everything(
    source: Store, backup: Store, settings: Settings, policy: Policy, summary: Summary, at: datetime | None
) -> Summary:
    restore = await Restore.start(source, backup, settings, policy, summary)
    async with restore.recorders.running():
        await restore.every(at)
    return summary


class Restore:
    def __init__(
        self, source: Store, backup: Store, settings: Settings, policy: Policy, summary: Summary, traits: Traits
    ) -> None:
        self._source = source
        self._backup = backup
        self._settings = settings
        self._policy = policy
        self._root = settings.key_root
        self._summary = summary
        self._writer = target.writer(source, settings, traits)
        self._core = assemble(source, settings, policy, traits=traits)

    @property
    def recorders(self) -> Recorders:
        return self._core.recorders

    @classmethod
    async def start(cls, source: Store, backup: Store, settings: Settings, policy: Policy, summary: Summary) -> Restore:
        return cls(source, backup, settings, policy, summary, await target.source_traits(source, settings))

    async def one(self, request: Request) -> None:
        """The session `request` names, found under whichever owner key it was kept with."""
        for saved in await self._saved_keys():
            prefix = Owner(self._root, request.tenant, request.user, saved).session(request.session_id).prefix
            records = await walk.session_records(self._backup, self._root, prefix)
            if records:
                owner = Owner(self._root, request.tenant, request.user, await self._owner_key(saved))
                keys = owner.session(request.to_session or request.session_id)
                await self._session(keys, records, request.at, request.session_id)
                return
        raise NothingToRestore(f"the backup holds nothing of session {request.session_id} of that user")

    async def every(self, at: datetime | None) -> None:
        """Every session the backup holds, at the keys it was kept from: after a bucket lost everything, no owner
        needs to be named. The bucket's owner key must be the one they were kept under: the backed-up key is put
        back when the bucket has none."""
        saved = await self._saved_keys()
        current = await find_owner_key(self._source, self._settings)
        if current is None:
            if len(saved) != 1:
                raise NothingToRestore(
                    f"the bucket has no owner key and the backup holds {len(saved)}: restore one session by its "
                    "owner first (--tenant, --user, --session), which puts back the key it was kept under"
                )
            current = await self._owner_key(saved[0])
        if current not in saved:
            raise NothingToRestore(
                "the bucket's owner key is not one the backup was made with: sessions restored at their kept keys "
                "would be out of every token's reach; restore them one by one, by their owners"
            )
        async for prefix, records in walk.recorded_sessions(self._backup, self._root):
            keys = SessionKeys(prefix)
            await self._session(keys, records, at, keys.session_id)
            self._summary.count("sessions")

    async def _saved_keys(self) -> list[bytes]:
        """The owner keys the backup holds (usually one), each checked against the fingerprint it is kept under."""
        saved = []
        async for batch in self._backup.current_keys(layout.owner_keys_prefix(self._root)):
            for key in batch:
                data, _ = await self._backup.read_bytes(key, believe_missing=True)
                if layout.owner_key_copy(self._root, data) == key:
                    saved.append(data)
                else:
                    self._summary.fail("owner-key", "a saved owner key does not match its fingerprint", key=key)
        return saved

    async def _owner_key(self, saved: bytes) -> bytes:
        current = await find_owner_key(self._source, self._settings)
        if current is None:
            current = await restore_owner_key(self._source, self._settings, saved)
            self._summary.count("owner_keys_restored")
        return current

    async def _session(self, keys: SessionKeys, records: list[layout.Listed], at: datetime | None, origin: str) -> None:
        histories = state.merged(records)
        record_name = layout.name_of(SESSION_RECORD_NAME)
        chosen = await bounded(
            [history for name, history in histories.items() if name != record_name],
            lambda history: self._choose(state.candidates(history, at)),
        )
        wanted = [entry for entry in chosen if entry is not None]
        # One listing says which files exist now: only those are read (HEAD and tags) to compare.
        existing = {key async for batch in self._source.current_keys(keys.files_prefix) for key in batch}

        async def write(entry: Entry) -> None:
            await self._restore_file(keys, entry, origin, existing)

        await target.copy_all(wanted, lambda entry: entry.size or 0, write)
        await self._record(keys, histories.get(record_name, []), at)

    async def _choose(self, candidates: list[layout.Listed]) -> Entry | None:
        """The kept version a key held at the moment, or None (with the reason counted)."""
        if not candidates:
            self._summary.count("files_not_yet_there")
            return None
        if len(candidates) == 1 and candidates[0].kind != layout.VERSION:
            self._summary.count("files_deleted_then" if candidates[0].kind == layout.DELETED else "files_not_kept")
            return None
        entries = [entry for entry in [await self._read(listed) for listed in candidates] if entry is not None]
        if len(entries) < len(candidates):
            return None
        found = state.newest(entries)
        if found.kind != layout.VERSION:
            self._summary.count("files_deleted_then" if found.kind == layout.DELETED else "files_not_kept")
            return None
        return found

    async def _read(self, listed: layout.Listed) -> Entry | None:
        try:
            data, _ = await self._backup.read_bytes(listed.key, believe_missing=True)
            return Entry.decode(data)
        except (GatewayError, ValueError) as exc:
            self._summary.failed_on("record", exc, key=listed.key)
            return None

    async def _restore_file(self, keys: SessionKeys, entry: Entry, origin: str, existing: set[str]) -> None:
        try:
            key = keys.file(entry.name.removeprefix(FILES_DIR))
            # A file that appeared since the listing makes the create-only write below fail (412), not vanish.
            head = await self._head(key) if key in existing else None
            if head is not None and self._same(head, entry):
                self._summary.count("files_identical")
                return
            precondition = Precondition(if_version=head[0]) if head else Precondition(if_none_match_any=True)
            written = await self._write(key, entry, precondition)
        except PreconditionFailed:
            detail = "the file changed while it was restored; run the restore again"
            self._summary.fail("restore", detail, path=entry.name, version_id=entry.version_id)
            return
        except GatewayError as exc:
            self._summary.failed_on("restore", exc, path=entry.name, version_id=entry.version_id)
            return
        version = self._core.files.file_version(keys, written.info, tier_of(self._policy, entry.tags), written.sha256)
        previous = written.previous.version_id if written.previous else None
        restored_from = {"session_id": origin, "version_id": entry.version_id, "time": iso(entry.time)}
        await self._core.files.announce_written(
            SYSTEM_RESTORE,
            keys,
            files.Written(version, not written.replaced, False, previous),
            restored_from=restored_from,
        )
        self._summary.count("files_restored", size=written.info.size)

    async def _head(self, key: str) -> tuple[str | None, str | None, str | None] | None:
        """The current version of `key` as (version id, SHA-256, tier), or None when there is none."""
        try:
            info = await self._source.head(key)
            tags = await self._source.get_tags(key, info.version_id)
        except ObjectMissing:
            return None
        return info.version_id, sha256_of(info, tags), tags.get(TIER_TAG)

    @staticmethod
    def _same(head: tuple[str | None, str | None, str | None], entry: Entry) -> bool:
        return head[1] is not None and head[1] == entry.sha256 and head[2] == entry.tags.get(TIER_TAG)

    async def _write(self, key: str, entry: Entry, precondition: Precondition) -> Written:
        assert entry.blob is not None and entry.content_type is not None
        stream = await self._backup.get(entry.blob, believe_missing=True)
        expected = Expected(sha256=bytes.fromhex(entry.sha256)) if entry.sha256 else NOTHING_EXPECTED
        try:
            return await self._writer.write(
                key,
                Streamed(stream.body, entry.size, expected),
                precondition=precondition,
                content_type=entry.content_type,
                metadata=entry.metadata,
                tags=entry.tags,
            )
        finally:
            await stream.body.aclose()
            stream.close()

    async def _record(self, keys: SessionKeys, history: list[layout.Listed], at: datetime | None) -> None:
        """The session's record, written when the session has none (last: its files are in place by then)."""
        try:
            await self._source.head(keys.record)
            self._summary.count("session_records_kept")
            return
        except ObjectMissing:
            pass
        record = await self._saved_record(history, at)
        if record is None:
            record = self._core.sessions.draft()  # the backup has no record of it: a new, empty one
        data = encode_record(replace(record, id=keys.session_id))
        written = await self._writer.write(keys.record, data, precondition=CREATE, content_type=RECORD_CONTENT_TYPE)
        change = Change(
            action=changes.SESSION_CREATED,
            actor=SYSTEM_RESTORE,
            key=keys.record,
            session_id=keys.session_id,
            version_id=written.info.version_id,
        )
        await self._core.hook.announce(change)
        self._summary.count("session_records_restored")

    async def _saved_record(self, history: list[layout.Listed], at: datetime | None) -> SessionRecord | None:
        entries = [await self._read(listed) for listed in state.record_versions(history, at)]
        kept = [entry for entry in entries if entry is not None]
        if not kept:
            return None
        entry = state.newest(kept)
        try:
            assert entry.blob is not None
            data, _ = await self._backup.read_bytes(entry.blob, believe_missing=True)
            if entry.sha256 is not None and hashlib.sha256(data).hexdigest() != entry.sha256:
                raise ValueError("its backed-up bytes do not match their SHA-256")
            return SessionRecord.from_json(strict_json.loads(data))
        except (GatewayError, ValueError) as exc:
            self._summary.failed_on("session-record", exc, key=entry.key, version_id=entry.version_id)
            return None
