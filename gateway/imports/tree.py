"""`import-tree`: an existing on-disk session store migrated into the bucket, through the services.

Each session directory the layout finds (`gateway.imports.disk`) becomes a session of its user: a new session id,
named after the directory, with `{"imported_from": "<its path under the directory given>"}` in its metadata.
Its files are uploaded through the files service and its one write step, streamed from disk, and announced
through the change hook like any other write.

**Running it again writes nothing.** A directory already imported is found by that recorded origin: before its
first session is handled, each user's sessions are listed once (one listing page per 1,000 sessions and one read
per session record, which a listing reads anyway) and matched on `imported_from`. A deterministic session id
made from the origin would need no listing, but ids are ULIDs that sort by creation time, which the listing
order relies on, and a marker object per origin would be a second record of the same fact. The files of a
session found so are listed once, with their SHA-256 (a tag read per file, 16 at a time), and a file whose SHA-256
is the current version's is not written again; the others are written with `if_content_differs`, in case the
file changed on disk since it was hashed. A session whose
record was deleted, or whose `imported_from` was removed, is imported anew; two runs at once on the same tree
could each create a session for one directory, so run one at a time.

There is no all-or-nothing here, unlike the zip import: each file is written on its own, and a run that stops
half-way is completed by running it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from gateway.changes import Actor
from gateway.errors import BadRequest, DamagedRecord, GatewayError, InvalidBody, NotFound, PayloadTooLarge
from gateway.imports.disk import (
    DiskFile,
    Layout,
    Passed,
    SessionDir,
    check_readable,
    file_chunks,
    session_dirs,
    session_files,
    sha256_of,
    shown,
)
from gateway.imports.names import Refusal, place
from gateway.keys import Owner, SessionKeys
from gateway.ordered import bounded
from gateway.services.downloads import content_type_for_name
from gateway.services.files import Files
from gateway.services.session_records import SessionRecord
from gateway.services.sessions import Sessions
from gateway.storage.writes import Streamed
from gateway.wire import MAX_PAGE

IMPORTED_FROM = "imported_from"
SESSIONS_AT_ONCE = 4
FILES_AT_ONCE = 8
# Dry runs on a bucket that has no owner key yet (nothing was ever stored): paths are judged against keys of the
# same length, which is all their rules depend on.
_STAND_IN_OWNER_KEY = bytes(32)
_STAND_IN_SESSION = "0" * 26


@dataclass
class TreeReport:
    created: int = 0
    found: int = 0
    imported: int = 0
    unchanged: int = 0
    refused: int = 0
    failed: int = 0

    def summary(self, *, dry_run: bool) -> str:
        would = "would be " if dry_run else ""
        return (
            f"{self.created + self.found} session(s): {self.created} {would}created, {self.found} already imported; "
            f"{self.imported} file(s) {would}imported, {self.unchanged} unchanged, {self.refused} refused, "
            f"{self.failed} failed"
        )


class TreeImport:
    def __init__(
        self,
        sessions: Sessions,
        files: Files,
        *,
        key_root: str,
        owner_key: bytes | None,
        tenant: str | None,
        dry_run: bool,
        say: Callable[[str], None],
        quiet: bool = False,
    ) -> None:
        self._sessions = sessions
        self._files = files
        self._key_root = key_root
        self._owner_key = owner_key
        self._tenant = tenant
        self._dry_run = dry_run
        self._say = say
        self._quiet = quiet
        self._file_gate = asyncio.Semaphore(FILES_AT_ONCE)
        self.report = TreeReport()

    def _tell(self, line: str, *, always: bool = False) -> None:
        if always or not self._quiet:
            self._say(line)

    def _refuse(self, where: str, rule: str, detail: str) -> None:
        self.report.refused += 1
        self._tell(f"refused    {shown(where)}: {rule} ({detail})", always=True)

    def _fail(self, where: str, detail: str) -> None:
        self.report.failed += 1
        self._tell(f"failed     {shown(where)}: {detail}", always=True)

    async def run(self, directory: str, layout: Layout) -> TreeReport:
        found = await asyncio.to_thread(lambda: list(session_dirs(directory, layout)))
        by_user: dict[str, list[SessionDir]] = {}
        for item in found:
            if isinstance(item, Passed):
                self._refuse(item.where, item.rule, item.detail)
            else:
                by_user.setdefault(item.user, []).append(item)
        for user, directories in by_user.items():
            owner = Owner(self._key_root, self._tenant, user, self._owner_key or _STAND_IN_OWNER_KEY)
            await self._user(owner, directories)
        return self.report

    async def _user(self, owner: Owner, directories: list[SessionDir]) -> None:
        try:
            imported = await self._imported_sessions(owner)
        except GatewayError as exc:
            self._fail(owner.user, f"the user's sessions cannot be listed: {exc.detail}")
            return
        gate = asyncio.Semaphore(SESSIONS_AT_ONCE)

        async def one(directory: SessionDir) -> None:
            async with gate:
                await self._session(owner, directory, imported.get(directory.origin))

        await asyncio.gather(*(one(directory) for directory in directories))

    async def _imported_sessions(self, owner: Owner) -> dict[str, SessionRecord]:
        """The owner's sessions by the origin they were imported from (the oldest, should there be two)."""
        if self._owner_key is None:
            return {}  # no owner key: nothing was ever stored in this bucket
        found: dict[str, SessionRecord] = {}
        cursor: str | None = None
        while True:
            page = await self._sessions.list(owner, limit=MAX_PAGE, cursor=cursor)
            # Listings carry no metadata: the records of a page, read at once.
            records = await bounded([item.id for item in page.items], lambda sid: self._record(owner, sid))
            for record in filter(None, records):
                origin = record.metadata.get(IMPORTED_FROM)
                if isinstance(origin, str):
                    found.setdefault(origin, record)
            cursor = page.next_cursor
            if cursor is None:
                return found

    async def _record(self, owner: Owner, session_id: str) -> SessionRecord | None:
        try:
            return await self._sessions.get(owner, session_id)
        except (NotFound, DamagedRecord):
            return None  # deleted since it was listed, or damaged (logged where it was found)

    async def _session(self, owner: Owner, directory: SessionDir, record: SessionRecord | None) -> None:
        existed = record is not None
        try:
            if record is None:
                record = await self._create(owner, directory)
                if record is None:
                    return
            else:
                self.report.found += 1
                self._tell(f"found      {shown(directory.origin)} -> session {record.id}")
        except GatewayError as exc:
            self._fail(directory.origin, f"the session cannot be created: {exc.detail}")
            return
        if record.ended:
            self._tell(f"skipped    {shown(directory.origin)}: session {record.id} has ended (read-only)", always=True)
            return
        keys = owner.session(record.id)
        try:
            current = await self._current_digests(keys) if existed else None
        except GatewayError as exc:
            self._fail(directory.origin, f"the session's files cannot be listed: {exc.detail}")
            return
        files = await asyncio.to_thread(lambda: list(session_files(directory)))
        await asyncio.gather(*(self._file(owner, keys, record, directory, item, current) for item in files))

    async def _current_digests(self, keys: SessionKeys) -> dict[str, str | None]:
        """The SHA-256 of each current file of a session already imported: one listing page per 1,000 files and a
        tag read per file (the listing reads them anyway), instead of a look at each file's head."""
        found: dict[str, str | None] = {}
        cursor: str | None = None
        while True:
            page = await self._files.list(keys, prefix="", delimiter=None, limit=MAX_PAGE, cursor=cursor)
            found.update((item.path, item.sha256) for item in page.items)
            cursor = page.next_cursor
            if cursor is None:
                return found

    async def _create(self, owner: Owner, directory: SessionDir) -> SessionRecord | None:
        if self._dry_run:
            self.report.created += 1
            self._tell(f"would create {shown(directory.origin)}")
            now = "1970-01-01T00:00:00+00:00"
            return SessionRecord(_STAND_IN_SESSION, directory.name, now, now, "active", {})
        try:
            record = await self._sessions.create(owner, name=directory.name, metadata={IMPORTED_FROM: directory.origin})
        except InvalidBody as exc:
            self._refuse(directory.origin, "session-name", exc.detail)
            return None
        self.report.created += 1
        self._tell(f"created    {shown(directory.origin)} -> session {record.id}")
        return record

    async def _file(
        self,
        owner: Owner,
        keys: SessionKeys,
        record: SessionRecord,
        directory: SessionDir,
        item: DiskFile | Passed,
        current: dict[str, str | None] | None,
    ) -> None:
        """Import one file; `current` has the digests of the session's files, None for a session made just now."""
        if isinstance(item, Passed):
            self._refuse(item.where, item.rule, item.detail)
            return
        where = f"{directory.origin}/{item.relative}"
        path = place(keys, "", item.relative)
        if isinstance(path, Refusal):
            self._refuse(where, path.rule, path.detail)
            return
        async with self._file_gate:
            try:
                if current is not None and path in current and current[path] == await sha256_of(item.path):
                    self.report.unchanged += 1
                    self._tell(f"unchanged  {shown(where)}")
                elif self._dry_run:
                    await check_readable(item.path)
                    self.report.imported += 1
                    self._tell(f"would import {shown(where)} ({item.size} bytes)")
                else:
                    await self._write(owner, keys, record, path, item, where)
            except OSError as exc:
                self._refuse(where, "unreadable", exc.strerror or str(exc))
            except PayloadTooLarge as exc:
                self._refuse(where, "too-large", exc.detail)
            except BadRequest as exc:  # the file changed size while it was read
                self._refuse(where, "changed-while-reading", exc.detail)
            except GatewayError as exc:
                self._fail(where, exc.detail)

    async def _write(
        self, owner: Owner, keys: SessionKeys, record: SessionRecord, path: str, item: DiskFile, where: str
    ) -> None:
        written = await self._files.write_version(
            keys,
            record,
            keys.file(path),
            Streamed(file_chunks(item.path), item.size),
            content_type=content_type_for_name(path),
            tier=None,
            # Only files found to differ get here, but the file may have changed on disk since it was hashed.
            if_content_differs=True,
        )
        if written.unchanged:
            self.report.unchanged += 1
            self._tell(f"unchanged  {shown(where)}")
            return
        await self._files.announce_written(Actor.user_of(owner.tenant, owner.user), keys, written, via="import-tree")
        self.report.imported += 1
        self._tell(f"imported   {shown(where)} ({written.file.size} bytes)")
