"""Forking a session: a new session of the same caller with the same files, current or as they were at a moment.

The new session gets the source's default tier, folder tiers and metadata, and a server-side copy of each file
(the exact version that was its head then, with its type, metadata and tags), made through the one write step.
From then on each session has its own history.

The new session's files are copied before its record is written, and a session exists only once its record does:
nobody sees a fork half-filled. Should a copy fail, the versions already copied are removed again and the record
is never written, so a failed fork leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from gateway.changes import Actor
from gateway.errors import GatewayError, InvalidBody, ObjectMissing, TooManyFiles
from gateway.keys import Owner, SessionKeys
from gateway.ordered import bounded
from gateway.policy.tiers import Policy
from gateway.services.files import StoredVersion
from gateway.services.moving import UNCONDITIONAL, Moving, Pair
from gateway.services.session_records import MAX_NAME_CHARS, SessionRecord
from gateway.services.sessions import Sessions
from gateway.services.snapshot import Selection, SnapshotFile, Snapshots, selectors
from gateway.settings import Settings
from gateway.storage.store import Store
from gateway.storage.writes import Prepared, Written

FORK_SUFFIX = " (fork)"
# A new session's keys have no history: its copies need no look at what they replace.
NOTHING_THERE = (UNCONDITIONAL, Prepared(None, None))

log = logging.getLogger(__name__)


def fork_name(source: SessionRecord) -> str:
    """ "{name} (fork)", or "{id} (fork)" for a session without a name; shortened to fit the name limit."""
    base = source.name or source.id
    return base[: MAX_NAME_CHARS - len(FORK_SUFFIX)] + FORK_SUFFIX


class Forking:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        policy: Policy,
        *,
        sessions: Sessions,
        moving: Moving,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._settings = settings
        self._policy = policy
        self._sessions = sessions
        self._moving = moving
        self._clock = clock

    async def fork(
        self, actor: Actor, owner: Owner, source: SessionKeys, *, name: str | None, at: datetime | None
    ) -> SessionRecord:
        """A new session with the files of `source` as they are now (or were at `at`)."""
        record = await self._sessions.read(source)
        now = self._clock()
        if at is not None and at > now:
            raise InvalidBody.field("at", "is in the future; leave it out for the files as they are now")
        # The source's tiers were checked when they were set: they are carried over as they are.
        draft = replace(
            self._sessions.draft(name=fork_name(record) if name is None else name, metadata=record.metadata),
            default_tier=record.default_tier,
            folder_tiers=dict(record.folder_tiers),
        )
        target = owner.session(draft.id)
        files = await self._files_at(record, source, at, now)
        written = await self._copy_all(target, files)
        await self._sessions.add(owner, draft)
        for found, copy in zip(files, written, strict=True):
            if copy is not None:
                origin = {"session_id": source.session_id, "path": found.path, "version_id": found.version_id}
                await self._moving.announce_written(actor, target, copy, {"forked_from": origin})
        return draft

    async def _files_at(
        self, record: SessionRecord, source: SessionKeys, at: datetime | None, now: datetime
    ) -> list[SnapshotFile]:
        limit = self._settings.max_bulk_files
        files: list[SnapshotFile] = []
        # The one walk exports use too: retention judged at the injected clock, by the one visibility judge.
        walk = Snapshots(self._store, self._settings, self._policy, clock=lambda: now)
        snapshot = walk.files(source, selectors(source, Selection()), at=at)
        async with contextlib.aclosing(snapshot):
            async for found in snapshot:
                files.append(found)
                if len(files) > limit:
                    raise TooManyFiles(limit)
        return files

    async def _copy_all(self, target: SessionKeys, files: list[SnapshotFile]) -> list[Written | None]:
        """Copy every file into `target`; on a failure, remove what was copied and raise it."""
        failures: list[BaseException] = []

        async def one(found: SnapshotFile) -> Written | None:
            if failures:
                return None
            try:
                info = await self._store.head(found.key, found.version_id)
            except ObjectMissing:
                return None  # removed since it was listed (by the janitor or a purge): nothing to copy
            except Exception as exc:
                failures.append(exc)
                return None
            target_key = target.file(found.path)
            pair = Pair(StoredVersion(info, found.tags, found.tier), found.path, target_key, found.path)
            try:
                return await self._moving.copy_one(pair, NOTHING_THERE)
            except Exception as exc:
                failures.append(exc)
                return None

        written = await bounded(files, one)
        if failures:
            copied = [(copy.info.key, copy.info.version_id) for copy in written if copy and copy.info.version_id]
            try:
                await self._store.delete_versions(target.files_prefix, copied)
            except GatewayError:
                # Invisible (no record makes them a session's files), but worth an operator's look.
                log.warning("a failed fork left %d copies under %s", len(copied), target.files_prefix)
            raise failures[0]
        return written
