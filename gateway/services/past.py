"""Reading the past: one file, or a page of a session's listing, as it was at a moment.

Both come from the snapshot walk (`services/snapshot.py`) that exports and forks use, so a file read at a moment,
a listing of that moment and an export of it agree: the same version of each key, judged by the same retention
judge against the history above it. A version that retention has removed since is gone here too.

A listing page holds at most `limit` entries and is the only thing held: it starts where the previous page ended
(its last path, sealed in the cursor), and with the delimiter '/' a folder is shown once one file under it was
there at the moment, after which the walk starts again past the folder rather than reading every file in it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gateway.auth.cursors import CursorSealer
from gateway.errors import BadRequest, NotFound
from gateway.keys import SessionKeys
from gateway.policy import visibility
from gateway.policy.tiers import Policy
from gateway.services.files import LIST_OPERATION, FileEntry, FileListing, Files, FileVersion, Opened
from gateway.services.snapshot import LIST_PAGE, TAG_WIDTH, Selector, SnapshotFile, Snapshots
from gateway.settings import Settings
from gateway.storage.store import Store
from gateway.storage.writes import sha256_of
from gateway.wire import iso, past_moment

# How S3 names the version of an object written before the bucket kept versions.
NULL_VERSION = "null"


@dataclass
class _Page:
    limit: int
    items: list[FileEntry] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    last: str | None = None  # the path of the last entry shown (a folder's ends with '/')
    more: bool = False

    @property
    def full(self) -> bool:
        return len(self.items) + len(self.folders) >= self.limit


class Past:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        policy: Policy,
        cursors: CursorSealer,
        *,
        files: Files,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._settings = settings
        self._policy = policy
        self._cursors = cursors
        self._files = files
        self._clock = clock
        self._snapshots = Snapshots(store, settings, policy, clock=clock)

    def moment(self, raw: str | None) -> datetime | None:
        """The `at` a client sent, or None; ValueError says what is wrong with it (malformed, or in the future)."""
        return past_moment(raw, self._clock())

    async def version_at(self, keys: SessionKeys, path: str, at: datetime) -> SnapshotFile:
        """The version of the file at `path` that was current at `at`; 404 when there was none then (not yet
        written, deleted, or removed by retention since)."""
        walk = self._snapshots.files(keys, [Selector(keys.file(path), exact=True)], at=at, read_ahead=1)
        async with contextlib.aclosing(walk):
            async for found in walk:
                return found
        raise NotFound("no such file at that moment")

    async def open(
        self, keys: SessionKeys, path: str, at: datetime, *, byte_range: str | None, if_none_match: str | None
    ) -> Opened:
        found = await self.version_at(keys, path, at)
        return await self._files.open(
            keys,
            path,
            version_id=found.version_id or NULL_VERSION,
            byte_range=byte_range,
            if_none_match=if_none_match,
            judged_tags=found.tags,
        )

    async def head(self, keys: SessionKeys, path: str, at: datetime) -> FileVersion:
        found = await self.version_at(keys, path, at)
        # The tags were read to judge the version: only its headers are left to read.
        info = await self._store.head(found.key, found.version_id or NULL_VERSION)
        return self._files.file_version(keys, info, found.tier, sha256_of(info, found.tags))

    async def list(
        self,
        keys: SessionKeys,
        *,
        prefix: str,
        delimiter: str | None,
        limit: int,
        cursor: str | None,
        at: datetime,
    ) -> FileListing:
        """A page of the files (and, with delimiter '/', folders) under `prefix` as they were at `at`, in path order,
        in the shape of the listing of now."""
        if delimiter not in (None, "", "/"):
            raise BadRequest("delimiter may only be '/'")
        listing = keys.listing(prefix)
        # As for the listing of now, plus the moment: a cursor continues only this very listing of this moment.
        binding = (LIST_OPERATION, keys.prefix, keys.path_of(listing), delimiter or "", iso(at))
        after = self._cursors.open(cursor, binding, expect=("after",))["after"] if cursor else None
        page = _Page(limit, last=after)
        start = keys.marker(after) if after is not None else None
        while True:
            folder = await self._fill(keys, listing, at, start, page, delimited=bool(delimiter))
            if folder is None:
                break
            start = keys.marker(folder)  # past every file under the folder just shown
        next_cursor = self._cursors.seal({"after": page.last}, binding) if page.more and page.last else None
        return FileListing(page.items, page.folders, next_cursor)

    async def _fill(
        self, keys: SessionKeys, listing: str, at: datetime, start: str | None, page: _Page, *, delimited: bool
    ) -> str | None:
        """Add what the walk finds after `start` to `page`, until it is full (then whether there is more) or the
        walk ends; returns the path of a folder just shown, for the walk to start again past it."""
        wanted = page.limit - len(page.items) - len(page.folders) + 1  # one more tells whether there is a next page
        # Listing pages sized to the page shown (a file has a few entries), not to a walk through the whole session.
        snapshots = Snapshots(
            self._store, self._settings, self._policy, clock=self._clock, page_size=min(LIST_PAGE, 2 * wanted + 2)
        )
        walk = snapshots.files(
            keys, [Selector(listing, exact=False)], at=at, start_after=start, read_ahead=min(TAG_WIDTH, wanted)
        )
        within = len(keys.path_of(listing))
        async with contextlib.aclosing(walk):
            async for found in walk:
                if page.full:
                    page.more = True
                    return None
                slash = found.path.find("/", within)
                if delimited and slash >= 0:
                    folder = found.path[: slash + 1]
                    page.folders.append(folder)
                    page.last = folder
                    return folder
                page.items.append(self._entry(found))
                page.last = found.path
        return None

    def _entry(self, found: SnapshotFile) -> FileEntry:
        return FileEntry(
            path=found.path,
            version_id=found.version_id,
            etag=found.etag,
            size=found.size,
            last_modified=found.last_modified,
            tier=found.tier.name if found.tier else None,
            expires_at=visibility.expires_at(found.tier, found.last_modified, self._settings.day_seconds),
            sha256=found.sha256,
        )
