"""The files of a session as they are now, or as they were at a moment: one walk that exports (and forks) share.

`Snapshots.files` yields each selected file once, in key order (S3's listing order, which is the UTF-8 order of
the paths), with the exact version to read and its tier, a page at a time: the listing is never held whole.

- **Now** (no moment): the normal listing (ListObjectsV2), then each file's tags and version id, as file listings
  read them; a file its tier's retention has removed is left out, as every read leaves it out.
- **At a moment**: the version listing (ListObjectVersions). Of each key's history, the newest entry written at or
  before the moment counts: a delete marker means the file did not exist then. The version found is judged by
  `policy.visibility` against the whole history above it, exactly as a history page judges it, so a version that
  retention has removed since (or that S3 lifecycle has yet to remove) is never brought back.

A walk can start after a key (`start_after`, for pages of a listing), so a caller that shows a page holds only that
page, never the listing.

Tags are read a few files ahead (`TAG_WIDTH` at once) while the caller consumes earlier files.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gateway.errors import ObjectMissing
from gateway.keys import SessionKeys
from gateway.ordered import bounded, ordered
from gateway.policy import visibility
from gateway.policy.tiers import Policy, Tier, tier_of
from gateway.settings import Settings
from gateway.storage.digests import is_sha256_hex
from gateway.storage.store import ObjectInfo, Store, VersionEntry
from gateway.storage.uploads import SHA256_TAG

# Tag reads in flight while earlier files are consumed.
TAG_WIDTH = 16
LIST_PAGE = 1000
# The first page is short, so the first file is known (and a zip's first bytes leave) sooner.
FIRST_PAGE = 100
# How many files or folders one selection may name.
MAX_SELECTED_PATHS = 1000


@dataclass(frozen=True)
class Selection:
    """Which files: those whose path starts with `prefix`, and, when `paths` are given, only those paths (a path
    ending in '/' names a folder and everything under it)."""

    prefix: str = ""
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Selector:
    """One stretch of keys to walk: a listing prefix, or one exact key."""

    key: str
    exact: bool


@dataclass(frozen=True)
class SnapshotFile:
    """One file as the snapshot sees it: the exact version to read, and what is known of it before reading it."""

    path: str
    key: str
    version_id: str | None  # None only for an object written before the bucket kept versions
    size: int
    etag: str
    last_modified: datetime
    tier: Tier | None
    sha256: str | None  # as the gateway stored it (its tags); None where unknown
    tags: Mapping[str, str] = field(default_factory=dict)  # the version's tags, for copies that keep them
    # Read from a snapshot's protected copy (`key`, `version_id`): the snapshot's name and the file's own version.
    from_snapshot: str | None = None
    original_version_id: str | None = None


def selectors(keys: SessionKeys, selection: Selection) -> list[Selector]:
    """The stretches of keys a selection covers, validated (400 `invalid-path` naming the rule), in key order and
    without overlaps, so that walking them one after the other yields every file once, in key order."""
    within = keys.listing(selection.prefix)
    if not selection.paths:
        return [Selector(within, exact=False)]
    found: list[Selector] = []
    for path in selection.paths:
        if path.endswith("/"):
            folder = keys.folder(path)
            if within.startswith(folder):
                found.append(Selector(within, exact=False))
            elif folder.startswith(within):
                found.append(Selector(folder, exact=False))
        else:
            key = keys.file(path)
            if key.startswith(within):
                found.append(Selector(key, exact=True))
    found.sort(key=lambda selector: (selector.key, selector.exact))
    kept: list[Selector] = []
    for selector in found:
        # Sorted keys put everything under a prefix right after it: one look back finds what is already covered.
        if kept and (kept[-1] == selector or (not kept[-1].exact and selector.key.startswith(kept[-1].key))):
            continue
        kept.append(selector)
    return kept


@dataclass(frozen=True)
class _Candidate:
    """A version the listing offers; its tags decide whether retention has removed it."""

    key: str
    info: ObjectInfo | None  # now: the listed object
    history: tuple[VersionEntry, ...] = ()  # at a moment: the key's entries from the newest down to the chosen one


class Snapshots:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        policy: Policy,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        page_size: int = LIST_PAGE,
    ) -> None:
        self._store = store
        self._settings = settings
        self._policy = policy
        self._clock = clock
        self._page = page_size

    async def files(
        self,
        keys: SessionKeys,
        chosen: list[Selector],
        *,
        at: datetime | None,
        start_after: str | None = None,
        read_ahead: int = TAG_WIDTH,
    ) -> AsyncGenerator[SnapshotFile, None]:
        """The files under `chosen` (see `selectors`), now or as they were at `at`, in key order.

        With `start_after` (a key or a `SessionKeys.marker`), only the files whose keys sort after it. `read_ahead`
        bounds the tag reads under way: a caller that wants only a few files need not start sixteen.
        """
        now = self._clock()
        walked = [(selector, _marker_within(selector, start_after)) for selector in _after(chosen, start_after)]
        candidates = self._listed(walked) if at is None else self._historic(walked, at)

        async def judged(candidate: _Candidate) -> SnapshotFile | None:
            return await self._judge(keys, candidate, now)

        # Closed explicitly, not left to the garbage collector: it holds a task reading tags ahead.
        async with contextlib.aclosing(ordered(candidates, judged, width=max(1, read_ahead))) as judging:
            async for found in judging:
                if found is not None:
                    yield found

    async def _listed(self, walked: list[tuple[Selector, str | None]]) -> AsyncIterator[_Candidate]:
        if self._store.tags_name_versions is False:
            async for candidate in self._latest(walked):
                yield candidate
            return
        limit = min(FIRST_PAGE, self._page)
        for selector, marker in walked:
            continuation: str | None = None
            while True:
                page = await self._store.list_page(
                    selector.key,
                    delimiter=None,
                    limit=1 if selector.exact else limit,
                    continuation=continuation,
                    start_after=marker,
                )
                limit = self._page
                for item in page.objects:
                    if not selector.exact or item.key == selector.key:
                        yield _Candidate(item.key, item)
                continuation = page.continuation
                if selector.exact or continuation is None:
                    break

    async def _latest(self, walked: list[tuple[Selector, str | None]]) -> AsyncIterator[_Candidate]:
        """The current version of each key, from the version listing: where a tag read does not name the version it
        read (Ceph RGW), this spares a HeadObject per file, at the price of listing old versions too (a page per
        1,000 entries)."""
        for selector, marker in walked:
            async for entries in self._histories(selector, marker):
                found = False
                for entry in entries:
                    if entry.is_latest and (not selector.exact or entry.key == selector.key):
                        found = selector.exact
                        if not entry.is_delete_marker:
                            info = ObjectInfo(
                                entry.key, entry.version_id, entry.etag or "", entry.size or 0, entry.last_modified, ""
                            )
                            yield _Candidate(entry.key, info)
                if found:
                    break

    async def _historic(self, walked: list[tuple[Selector, str | None]], at: datetime) -> AsyncIterator[_Candidate]:
        for selector, marker in walked:
            group: list[VersionEntry] = []
            async for entries in self._histories(selector, marker):
                for entry in entries:
                    if group and entry.key != group[0].key:
                        found = await self._as_of(group, at)
                        if found is not None:
                            yield found
                        group = []
                    group.append(entry)
            if group:
                found = await self._as_of(group, at)
                if found is not None:
                    yield found

    async def _as_of(self, history: list[VersionEntry], at: datetime) -> _Candidate | None:
        """The version of one key that was current at `at`, with the entries written after it; None when the file
        did not exist then."""
        moment = as_of(history, at)
        if moment is None:
            return None
        chosen = moment.newest if moment.newest is not None else await newest_of(self._store, moment.tied)
        if chosen.is_delete_marker:
            return None
        return _Candidate(chosen.key, None, (*moment.later, chosen))

    async def _histories(self, selector: Selector, marker: str | None) -> AsyncIterator[list[VersionEntry]]:
        """Pages of version entries, newest first within each key, for a selector (after `marker`, if given)."""
        if not selector.exact:
            first = min(FIRST_PAGE, self._page)
            pages = self._store.version_pages(selector.key, page_size=self._page, after=marker, first_page=first)
            async for page in pages:
                yield page
            return
        # The first page through the lean client: a file read at a moment waits for it.
        top, complete = await self._store.top_entries(selector.key, self._page)
        yield top
        if complete or not top:
            return
        after: str | None = top[-1].version_id
        while True:
            exact = await self._store.versions_page(selector.key, limit=self._page, after=after)
            yield exact.entries
            if exact.next_after is None:
                return
            after = exact.next_after

    async def _judge(self, keys: SessionKeys, candidate: _Candidate, now: datetime) -> SnapshotFile | None:
        day = self._settings.day_seconds
        try:
            if candidate.info is not None:
                info = candidate.info
                version_id: str | None = info.version_id
                if version_id is not None:  # listed with its version (`_latest`)
                    tags = await self._store.get_tags(candidate.key, version_id)
                else:
                    tags, version_id = await self._store.get_tags_and_version(candidate.key)
                if version_id is None:  # Ceph RGW does not say which version it read the tags of
                    info = await self._store.head(candidate.key)
                    version_id = info.version_id
                tier = tier_of(self._policy, tags)
                if visibility.current_is_gone(tier, info.last_modified, now, day):
                    return None
                size, etag, written = info.size, info.etag, info.last_modified
            else:
                chosen = candidate.history[-1]
                version_id = chosen.version_id
                tags = await self._store.get_tags(candidate.key, version_id)
                tier = tier_of(self._policy, tags)
                verdicts = visibility.judge_history(candidate.history, {version_id: tier}, now=now, day_seconds=day)
                if not verdicts[-1].visible:
                    return None
                size, etag, written = chosen.size or 0, chosen.etag or "", chosen.last_modified
        except ObjectMissing:
            return None  # removed since it was listed
        sha256 = tags.get(SHA256_TAG)
        return SnapshotFile(
            path=keys.path_of(candidate.key),
            key=candidate.key,
            version_id=None if version_id == "null" else version_id,
            size=size,
            etag=etag,
            last_modified=written,
            tier=tier,
            sha256=sha256 if is_sha256_hex(sha256) else None,
            tags=tags,
        )


def _after(chosen: list[Selector], start_after: str | None) -> list[Selector]:
    """The selectors that hold keys after `start_after`."""
    if start_after is None:
        return chosen
    return [
        selector
        for selector in chosen
        if selector.key > start_after or (not selector.exact and start_after.startswith(selector.key))
    ]


def _marker_within(selector: Selector, start_after: str | None) -> str | None:
    """Where the listing of `selector` starts: after `start_after` when that lies inside its stretch of keys."""
    if start_after is None or selector.exact or not start_after.startswith(selector.key):
        return None
    return start_after


@dataclass(frozen=True)
class AsOf:
    """What one key's history says of a moment, before any question to the store."""

    later: tuple[VersionEntry, ...]  # the entries written after the moment, newest first
    newest: VersionEntry | None  # the entry current at the moment, when the listing says which
    tied: tuple[VersionEntry, ...] = ()  # otherwise: the entries it is one of, written at one listed time


def as_of(history: list[VersionEntry], at: datetime) -> AsOf | None:
    """Of one key's history (in the listing's order, the latest entry first), the entries that decide what was
    current at `at`: the newest of those written at or before it. None when nothing had been written by then.

    The listing's order is the order of writes, except that moto lists all of a key's delete markers after all its
    versions; times may not give it either (moto and AWS keep them to the second, Ceph RGW to the millisecond, and
    Ceph RGW stamps concurrent writes in another order than it lists them). So: the newest version and the newest
    delete marker written by `at` are each the first of their kind in the listing, on every backend; of the two,
    the one S3 marks latest wins, else the later time. Only when both share their time is it left open (`tied`).
    """
    written = [entry for entry in history if entry.last_modified <= at]
    if not written:
        return None
    # Newest first by time; the sort is stable (also reversed), so entries of one time keep the listing's order,
    # the latest entry first, which is all the judge needs of them.
    later = tuple(sorted((entry for entry in history if entry.last_modified > at), key=_written, reverse=True))
    first = written[0]
    other = next((entry for entry in written if entry.is_delete_marker != first.is_delete_marker), None)
    if first.is_latest or other is None:
        return AsOf(later, first)
    if first.last_modified != other.last_modified:
        return AsOf(later, max(first, other, key=_written))
    return AsOf(later, None, tuple(entry for entry in written if entry.last_modified == first.last_modified))


def _written(entry: VersionEntry) -> datetime:
    return entry.last_modified


async def newest_of(store: Store, tied: tuple[VersionEntry, ...]) -> VersionEntry:
    """The newest of entries of one key, versions and delete markers, that the listing gives one time.

    Neither the listing's order nor the times can say (see `as_of`). Asking for the entry just below each one (a
    listing that starts after it, which follows the order of writes on every backend) can: each of them is just
    below another one of them, except the newest.
    """
    below = await bounded(list(tied), lambda entry: store.entry_below(entry.key, entry.version_id))
    under = {found.version_id for found in below if found is not None}
    newest = [entry for entry in tied if entry.version_id not in under]
    # Exactly one, unless the history changed while it was asked about: then the listing's order stands.
    return newest[0] if len(newest) == 1 else tied[0]
