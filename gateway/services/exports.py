"""Exports: a session's files as one zip, streamed to the caller as it is built, or built into the bucket.

The files come from `Snapshots` (now, or as they were at a moment), the zip from `ArchiveWriter`, and built
exports are run by `ExportJobs`. Callers pass an `OpenSession` the caller may reach; every key comes from its
`SessionKeys`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.errors import NotFound
from gateway.keys import SessionKeys, encode_session_id
from gateway.policy.tiers import Policy
from gateway.recovery.snapshots import SessionSnapshots
from gateway.services.archive import ArchiveWriter
from gateway.services.downloads import content_disposition
from gateway.services.export_jobs import DONE, ZIP_TYPE, ExportJobs, ExportRecord
from gateway.services.files import MAX_LINK_SECONDS
from gateway.services.manifest import Request
from gateway.services.redaction import Redactor
from gateway.services.sessions import OpenSession
from gateway.services.snapshot import Selection, Selector, SnapshotFile, Snapshots, selectors
from gateway.settings import Settings
from gateway.storage.store import Store
from gateway.storage.writes import VersionWriter
from gateway.wire import moment as parse_moment
from gateway.wire import past_moment

EMPTY = "nothing to export: no file matches the selection"


@dataclass(frozen=True)
class ExportInput:
    selection: Selection
    at: datetime | None = None
    redact: bool = False
    snapshot: str | None = None  # the files of this snapshot instead of the session's


@dataclass(frozen=True)
class ZipDownload:
    filename: str
    chunks: AsyncGenerator[bytes, None]
    files: AsyncGenerator[SnapshotFile, None]  # already walking (the first file is known)

    async def close(self) -> None:
        """Let go of a zip that will not be sent (HEAD), and of the walk already under way."""
        await self.chunks.aclose()
        await self.files.aclose()


@dataclass(frozen=True)
class ExportView:
    record: ExportRecord
    url: str | None = None


def zip_filename(session_id: str, name: str | None) -> str:
    """`{session name}.zip`, or `{session id}.zip` for a session without a name; never a path."""
    cleaned = (name or "").replace("/", "_").replace("\\", "_").strip().strip(".")
    return f"{cleaned or session_id}.zip"


class Exports:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        policy: Policy,
        *,
        writer: VersionWriter,
        tier: str,
        snapshots: SessionSnapshots | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._policy = policy
        self._saved = snapshots
        self._clock = clock
        self._snapshots = Snapshots(store, settings, policy, clock=clock)
        self._archive = ArchiveWriter(
            store, redactor=Redactor(settings.redact_patterns), redact_max_bytes=settings.redact_max_bytes, clock=clock
        )
        self.jobs = ExportJobs(
            store,
            writer=writer,
            tier=tier,
            ttl_seconds=settings.export_ttl_seconds,
            heartbeat_seconds=settings.export_heartbeat_seconds,
            stale_seconds=settings.export_stale_seconds,
            clock=clock,
        )
        self._running: set[asyncio.Task[None]] = set()

    def moment(self, raw: str | None) -> datetime | None:
        """The `at` a client sent, or None; ValueError says what is wrong with it."""
        return past_moment(raw, self._clock())

    async def download(self, opened: OpenSession, asked: ExportInput) -> ZipDownload:
        """The zip, ready to stream; 404 when the selection holds no file (known before the first byte)."""
        chosen = selectors(opened.keys, asked.selection)
        if asked.snapshot is not None:
            files = await _first_known(self._saved_files(opened.keys, chosen, asked.snapshot))
        else:
            files = await self._nonempty(opened.keys, chosen, asked.at)
        chunks = self._archive.zip(files, self._request(opened, asked), expected=_named(opened.keys, chosen))
        return ZipDownload(zip_filename(opened.keys.session_id, opened.record.name), chunks, files)

    async def start(self, opened: OpenSession, asked: ExportInput) -> tuple[ExportRecord, str]:
        """Accept an export: check the selection holds a file, write its first record. `launch` then builds it."""
        chosen = selectors(opened.keys, asked.selection)
        files = await self._nonempty(opened.keys, chosen, asked.at)
        await files.aclose()  # the build walks again, from its own start
        selection = asked.selection
        record = self.jobs.new_record(
            encode_session_id(int(self._clock().timestamp() * 1000), os.urandom(10)),
            prefix=selection.prefix,
            paths=selection.paths,
            at=asked.at,
            redact=asked.redact,
            session_name=opened.record.name,
        )
        return record, await self.jobs.create(opened.keys, record)

    async def launch(self, opened: OpenSession, record: ExportRecord, etag: str) -> None:
        """Build an accepted export in a task of this process (the caller has answered already). Returns at once:
        the task outlives the request, so the connection is free for the client's next request."""
        task = asyncio.create_task(self.build(opened, record, etag))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def build(self, opened: OpenSession, record: ExportRecord, etag: str) -> None:
        """Build an accepted export and record the outcome in its status record."""
        asked = ExportInput(Selection(record.prefix, record.paths), record.at, record.redact)
        chosen = selectors(opened.keys, asked.selection)
        chunks = self._archive.zip(
            self._require_files(opened.keys, chosen, asked.at),
            self._request(opened, asked),
            expected=_named(opened.keys, chosen),
        )
        await self.jobs.run(opened.keys, record, etag, chunks)

    async def status(self, keys: SessionKeys, export_id: str) -> ExportView:
        record, etag = await self.jobs.read(keys, export_id)
        if self.jobs.is_abandoned(record):
            record = await self.jobs.abandon(keys, record, etag)
        if record.status != DONE:
            return ExportView(record)
        remaining = int((record.expires_at - self._clock()) / timedelta(seconds=1))
        url = await self._store.presign_get(
            keys.export_archive(record.id),
            version_id=record.archive_version_id,
            expires_in=max(1, min(remaining, MAX_LINK_SECONDS)),
            content_disposition=content_disposition(zip_filename(keys.session_id, record.session_name), inline=False),
            content_type=ZIP_TYPE,
        )
        return ExportView(record, url)

    async def close(self) -> None:
        """Stop the builds of this process (at shutdown): each records that it was stopped."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    def _request(self, opened: OpenSession, asked: ExportInput) -> Request:
        return Request(
            session_id=opened.keys.session_id,
            session_name=opened.record.name,
            prefix=asked.selection.prefix,
            paths=asked.selection.paths,
            at=asked.at,
            redact=asked.redact,
            redaction_kinds=self._archive.redaction_kinds if asked.redact else (),
            snapshot=asked.snapshot,
        )

    async def _nonempty(
        self, keys: SessionKeys, chosen: list[Selector], at: datetime | None
    ) -> AsyncGenerator[SnapshotFile, None]:
        """The selected files, once the first one is known to exist; 404 otherwise."""
        return await _first_known(self._snapshots.files(keys, chosen, at=at))

    async def _saved_files(
        self, keys: SessionKeys, chosen: list[Selector], name: str
    ) -> AsyncGenerator[SnapshotFile, None]:
        """The selected files of a snapshot, read from its protected copies."""
        if self._saved is None:
            raise NotFound("no such snapshot")
        record = await self._saved.get(keys, name)
        async with contextlib.aclosing(self._saved.files(keys, record)) as saved_files:
            async for saved in saved_files:
                key = keys.files_prefix + saved.path
                if not any(key == s.key if s.exact else key.startswith(s.key) for s in chosen):
                    continue
                source = self._saved.source_of(keys, record, saved)
                yield SnapshotFile(
                    path=saved.path,
                    key=source[0],
                    version_id=source[1],
                    size=saved.size,
                    etag=saved.etag,
                    last_modified=parse_moment(saved.last_modified),
                    tier=self._policy.tiers.get(saved.tier or ""),
                    sha256=saved.sha256,
                    tags=saved.tags,
                    from_snapshot=name,
                    original_version_id=saved.version_id,
                )

    async def _require_files(
        self, keys: SessionKeys, chosen: list[Selector], at: datetime | None
    ) -> AsyncGenerator[SnapshotFile, None]:
        """The selected files, failing the build when there are none any more."""
        files = await self._nonempty(keys, chosen, at)
        try:
            async for file in files:
                yield file
        finally:
            await files.aclose()


async def _first_known(files: AsyncGenerator[SnapshotFile, None]) -> AsyncGenerator[SnapshotFile, None]:
    """`files`, once the first one is known to exist; 404 otherwise."""
    try:
        first = await anext(files, None)
    except BaseException:
        await files.aclose()
        raise
    if first is None:
        await files.aclose()
        raise NotFound(EMPTY)
    return _after(first, files)


async def _after(first: SnapshotFile, rest: AsyncGenerator[SnapshotFile, None]) -> AsyncGenerator[SnapshotFile, None]:
    try:
        yield first
        async for file in rest:
            yield file
    finally:
        with contextlib.suppress(Exception):
            await rest.aclose()


def _named(keys: SessionKeys, chosen: list[Selector]) -> list[str]:
    """The paths asked for by name, as stored (NFC): the manifest lists those that were not found."""
    return [keys.path_of(selector.key) for selector in chosen if selector.exact]
