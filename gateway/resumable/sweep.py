"""The janitor's care of resumable uploads, in its abandoned-uploads phase.

Its walk of the bucket passes every upload's record and tails (`note`); afterwards each upload is judged by its
record (`judge`): past its expiry, it is ended as a termination ends it (its S3 multipart upload aborted, its record
and tails removed, `upload.aborted` announced). An upload whose record is gone (its session was deleted) or was
never written, with only tails left, is ended once those are older than the expiry. The multipart uploads of live
uploads are left to this judgement, not to the janitor's rule for multipart uploads open too long: their expiry
is their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.changes import SYSTEM_JANITOR
from gateway.errors import DamagedRecord, NotFound, ObjectMissing
from gateway.keys import SessionKeys, UploadKeys, upload_of
from gateway.resumable import state as states
from gateway.resumable.service import Uploads
from gateway.resumable.state import UploadState
from gateway.settings import Settings
from gateway.storage.store import Store, VersionEntry

EXPIRED = "resumable upload past its expiry"
FINISHED = "finished upload's record past its expiry"
ORPHANED = "resumable upload whose record is gone"


@dataclass
class Seen:
    """What the walk found under one upload's prefix."""

    session: SessionKeys
    upload: UploadKeys
    record: VersionEntry | None = None  # the newest entry of its record
    newest: datetime | None = None  # the newest entry under the prefix


@dataclass(frozen=True)
class Due:
    prefix: str
    upload_id: str
    reason: str


class UploadSweep:
    def __init__(self, store: Store, settings: Settings, uploads: Uploads, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._settings = settings
        self._uploads = uploads
        self._clock = clock

    def note(self, seen: dict[str, Seen], key: str, group: list[VersionEntry]) -> bool:
        """Take in one key's history (newest first) when it lies under an upload's prefix; False for other keys."""
        found = upload_of(self._settings.key_root, key)
        if found is None:
            return False
        session, upload = found
        entry = seen.setdefault(upload.prefix, Seen(session, upload))
        if key == upload.state:
            entry.record = group[0]
        newest = max(item.last_modified for item in group)
        entry.newest = newest if entry.newest is None else max(entry.newest, newest)
        return True

    async def judge(self, seen: dict[str, Seen]) -> tuple[list[Due], set[str]]:
        """The uploads to end, and the multipart upload ids this judged (ending them or not): the rule for
        multipart uploads open too long is not theirs."""
        due: list[Due] = []
        judged: set[str] = set()
        for entry in seen.values():
            found = await self._state(entry.upload, entry.record)
            reason = self._verdict(found, entry.newest)
            if reason is not None:
                due.append(Due(entry.upload.prefix, entry.upload.upload_id, reason))
            if found is not None and found.multipart is not None:
                judged.add(found.multipart)
        return due, judged

    async def end(self, prefix: str, reason: str) -> bool:
        """End the upload under `prefix`, judged due, when it still is (a request may have moved it since); whether
        it was ended."""
        found = upload_of(self._settings.key_root, prefix)
        if found is None:
            return False
        session, upload = found
        try:
            current: UploadState | None = await states.read(self._store, upload)
            newest = None
        except NotFound:
            current, newest = await self._last_version(upload)
        except DamagedRecord:
            current, newest = None, None
        if self._verdict(current, newest) is None:
            return False
        if current is None:
            await self._store.purge(upload.prefix)
        else:
            await self._uploads.discard(SYSTEM_JANITOR, session, upload, current, reason)
        return True

    def _verdict(self, found: UploadState | None, newest: datetime | None) -> str | None:
        now = self._clock()
        if found is not None:
            if found.expires() > now:
                return None
            return FINISHED if found.complete else EXPIRED
        limit = now - timedelta(seconds=self._settings.upload_expiry_seconds)
        return ORPHANED if newest is None or newest <= limit else None

    async def _state(self, upload: UploadKeys, record: VersionEntry | None) -> UploadState | None:
        """The record the walk saw as current; None when it has none (or one that cannot be read)."""
        if record is None or record.is_delete_marker:
            return None
        try:
            data = await self._read(upload.state, record.version_id)
            return states.decode(upload.state, data)
        except (ObjectMissing, DamagedRecord):
            return None

    async def _last_version(self, upload: UploadKeys) -> tuple[UploadState | None, datetime | None]:
        """For a record under a delete marker (its session was deleted): its last version, which names the multipart
        upload to abort and has an expiry of its own; and the time of the newest entry under the prefix."""
        newest = None
        async for page in self._store.version_pages(upload.prefix):
            for entry in page:
                newest = entry.last_modified if newest is None else max(newest, entry.last_modified)
                if entry.key == upload.state and not entry.is_delete_marker:
                    try:
                        found = states.decode(upload.state, await self._read(upload.state, entry.version_id))
                    except (ObjectMissing, DamagedRecord):
                        continue
                    return found, newest
        return None, newest

    async def _read(self, key: str, version_id: str) -> bytes:
        stream = await self._store.get(key, version_id=version_id)
        return b"".join([chunk async for chunk in stream.body])
