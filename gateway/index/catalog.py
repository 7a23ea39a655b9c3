"""The session index of one owner: a compacted base and a note per session changed since.

Layout (keys from `gateway.keys.OwnerSpace`)::

    {owner}/i/sessions.json   the base: every session's summary as of its last compaction
    {owner}/i/d/{session}     a note, empty: this session changed since (one key per session, however many changes)

The session records stay the truth; the index is a cache that can always be rebuilt from them. It is correct with
any number of replicas because nothing in it is ever computed from a note's content or order:

- a change writes its record first, then its note (the change hook, before the request answers), so a note that
  can be listed names a change that can be read;
- a reader takes the base, lists the notes and reads the truth (record and activity) of each noted session: what
  it shows is the truth for every noted session, and the base for the rest, which the base had right when it was
  compacted;
- compaction lists the notes' *versions* first, then reads the truth, writes the base on condition that it is
  still the base it started from (the one write step's `If-Match`), and only then removes exactly the note versions
  it listed. A change noted after the listing leaves a newer version that stays; a compactor that lost the race
  removes nothing;
- a note that was never written (a crash between record and note) leaves the base wrong for that session until
  the janitor's check or `session-gateway index rebuild` compares the base with the records and writes it again.

Reads keep the parsed base per owner in memory, validated by its ETag on every read (a conditional GET that costs
one short call while the base is unchanged), so a listing of 10,000 sessions does not parse 10,000 summaries again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway import changes
from gateway.changes import Change
from gateway.errors import ObjectMissing, PreconditionFailed
from gateway.index.query import SessionQuery
from gateway.index.summaries import SessionSummary, folded
from gateway.keys import OwnerSpace, SessionKeys, session_keys_of
from gateway.ordered import bounded
from gateway.storage import preconditions
from gateway.storage.store import Store
from gateway.storage.writes import CREATE_ONLY, VersionWriter
from gateway.wire import iso

log = logging.getLogger(__name__)

BASE_FORMAT = 1
# A listing that finds this many notes compacts after answering: readers stay fast after a burst of changes.
COMPACT_AFTER_NOTES = 16
CACHED_OWNERS = 32
# Base versions kept: the current one and the one before it (a reader may be fetching it while it is replaced).
KEPT_BASE_VERSIONS = 2
BASE_CONTENT_TYPE = "application/json"

Entry = tuple[SessionSummary, str]  # a summary and its folded name
TruthReader = Callable[[SessionKeys], Awaitable[SessionSummary | None]]


@dataclass(frozen=True)
class Base:
    etag: str | None
    entries: dict[str, Entry]
    damaged: bool = False


@dataclass(frozen=True)
class View:
    """An owner's sessions as the index sees them now."""

    entries: dict[str, Entry]
    notes: int


@dataclass(frozen=True)
class Repair:
    """What a compaction or check did: `changed` ids the base had wrong though no note said they changed."""

    owner: str
    sessions: int
    notes: int
    changed: list[str]
    written: bool


def _summary_in(entries: dict[str, Entry], session_id: str) -> SessionSummary | None:
    found = entries.get(session_id)
    return found[0] if found else None


def _entry(summary: SessionSummary) -> Entry:
    return summary, folded(summary.name or "")


def encode_base(entries: dict[str, Entry], at: datetime) -> bytes:
    body = {"format": BASE_FORMAT, "built_at": iso(at), "sessions": [s.to_json() for s, _ in entries.values()]}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def decode_base(data: bytes) -> dict[str, Entry]:
    # The gateway's own object, read on every listing after it changed: the plain parser, which is faster.
    body = json.loads(data)
    if not isinstance(body, dict) or body.get("format") != BASE_FORMAT or not isinstance(body.get("sessions"), list):
        raise ValueError("not a session index of a known format")
    entries: dict[str, Entry] = {}
    for item in body["sessions"]:
        summary = SessionSummary.from_json(item)
        entries[summary.id] = _entry(summary)
    return entries


class SessionIndex:
    def __init__(
        self,
        store: Store,
        writer: VersionWriter,
        root: str,
        *,
        read_truth: TruthReader,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        compact_after: int = COMPACT_AFTER_NOTES,
    ) -> None:
        self._store = store
        self._writer = writer
        self._root = root
        self._read_truth = read_truth
        self._clock = clock
        self._compact_after = compact_after
        self._cache: OrderedDict[str, Base] = OrderedDict()
        self._compacting: dict[str, asyncio.Task[Repair | None]] = {}

    # Writing notes

    async def note(self, keys: SessionKeys) -> None:
        """Say that a session changed: its summary is read from the truth until the next compaction."""
        await self._store.put(keys.index_note, b"", content_type="application/octet-stream", metadata={})

    async def listener(self, change: Change) -> None:
        """On the change hook: every change to a session's record (not its files: `activity` notes those)."""
        if not change.action.startswith(changes.SESSION_PREFIX):
            return
        keys = session_keys_of(self._root, change.key)
        if keys is not None:
            await self.note(keys)

    # Reading

    async def view(self, space: OwnerSpace) -> View:
        base, noted = await asyncio.gather(self._base(space), self._noted(space))
        if base.etag is None:
            # No index yet (a new owner, or sessions older than the index): built from the records, once.
            await self.compact(space, full=True)
            base, noted = await asyncio.gather(self._base(space), self._noted(space))
        if base.damaged:
            self._compact_soon(space)
        entries = dict(base.entries)
        truths = await bounded(noted, lambda sid: self._read_truth(space.session(sid)))
        for sid, summary in zip(noted, truths, strict=True):
            if summary is None:
                entries.pop(sid, None)
            else:
                entries[sid] = _entry(summary)
        return View(entries, len(noted))

    async def page(
        self, space: OwnerSpace, query: SessionQuery, limit: int, after: tuple[str, str] | None
    ) -> tuple[list[SessionSummary], tuple[str, str] | None]:
        view = await self.view(space)
        if view.notes >= self._compact_after:
            self._compact_soon(space)
        return query.page(view.entries, limit, after)

    async def _base(self, space: OwnerSpace) -> Base:
        cached = self._cache.get(space.prefix)
        try:
            fetched = await self._store.read_if_changed(space.index_base, cached.etag if cached else None)
        except ObjectMissing:
            return Base(None, {})
        if fetched is None:
            assert cached is not None
            self._cache.move_to_end(space.prefix)
            return cached
        data, info = fetched
        try:
            base = Base(info.etag, decode_base(data))
        except (ValueError, TypeError) as exc:
            # Every session then reads as unlisted until a rebuild; the janitor's check writes the base again.
            log.warning("session index %s cannot be read (%s); run `session-gateway index rebuild`", space.prefix, exc)
            return Base(info.etag, {}, damaged=True)
        self._cache[space.prefix] = base
        self._cache.move_to_end(space.prefix)
        while len(self._cache) > CACHED_OWNERS:
            self._cache.popitem(last=False)
        return base

    async def _noted(self, space: OwnerSpace) -> list[str]:
        noted: list[str] = []
        async for keys in self._store.current_keys(space.index_notes_prefix):
            noted += [sid for sid in map(space.index_note_session_id, keys) if sid is not None]
        return noted

    # Compacting and repairing

    def _compact_soon(self, space: OwnerSpace) -> None:
        if space.prefix in self._compacting:
            return
        task = asyncio.create_task(self._compact_quietly(space))
        self._compacting[space.prefix] = task
        task.add_done_callback(lambda _: self._compacting.pop(space.prefix, None))

    async def _compact_quietly(self, space: OwnerSpace) -> Repair | None:
        try:
            return await self.compact(space)
        except Exception:  # the next listing or the janitor tries again; nothing is lost by waiting
            log.exception("compacting the session index %s failed", space.prefix)
            return None

    async def settle(self) -> None:
        """Wait for compactions started after listings (a clean shutdown, and tests)."""
        while self._compacting:
            await asyncio.gather(*list(self._compacting.values()), return_exceptions=True)

    async def compact(self, space: OwnerSpace, *, full: bool = False, dry_run: bool = False) -> Repair:
        """Fold the notes into the base; with `full`, read every session's truth (a rebuild, and the janitor's
        check) and write the base when anything differed."""
        notes = [
            (entry.key, entry.version_id)
            async for page in self._store.version_pages(space.index_notes_prefix)
            for entry in page
            if entry.version_id is not None
        ]
        noted = sorted({sid for key, _ in notes if (sid := space.index_note_session_id(key)) is not None})
        base = await self._base(space)
        full = full or base.damaged
        ids = await self._all_sessions(space) if full else noted
        truths = await bounded(ids, lambda sid: self._read_truth(space.session(sid)))
        entries = {} if full else dict(base.entries)
        for sid, summary in zip(ids, truths, strict=True):
            if summary is None:
                entries.pop(sid, None)
            else:
                entries[sid] = _entry(summary)
        differs = [
            sid
            for sid in sorted(set(base.entries) | set(entries))
            if _summary_in(base.entries, sid) != _summary_in(entries, sid)
        ]
        # Wrong: the base differs from the truth where no note says the session changed (a lost note, a damaged base).
        noted_ids = set(noted)
        wrong = [sid for sid in differs if sid not in noted_ids]
        repair = Repair(space.prefix, len(entries), len(notes), wrong, written=False)
        if dry_run or (not differs and not notes and base.etag is not None):
            return repair
        if (differs or base.etag is None) and not await self._write_base(space, base, entries):
            return repair  # another replica compacted first: its base stands, and the notes stay for the next
        await self._store.delete_versions(space.index_notes_prefix, [(key, vid) for key, vid in notes if vid])
        await self._prune_base(space)
        return Repair(space.prefix, len(entries), len(notes), wrong, written=True)

    async def _all_sessions(self, space: OwnerSpace) -> list[str]:
        ids: list[str] = []
        continuation: str | None = None
        while True:
            page = await self._store.list_page(
                space.sessions_prefix, delimiter="/", limit=1000, continuation=continuation
            )
            ids += [sid for sid in map(space.session_id_from_prefix, page.prefixes) if sid is not None]
            if page.continuation is None:
                return ids
            continuation = page.continuation

    async def _write_base(self, space: OwnerSpace, base: Base, entries: dict[str, Entry]) -> bool:
        condition = (
            preconditions.Precondition(if_match=frozenset({preconditions.normalise_etag(base.etag)}))
            if base.etag is not None
            else CREATE_ONLY
        )
        try:
            written = await self._writer.write(
                space.index_base,
                encode_base(entries, self._clock()),
                precondition=condition,
                content_type=BASE_CONTENT_TYPE,
            )
        except PreconditionFailed:
            return False
        self._cache[space.prefix] = Base(written.info.etag, entries)
        return True

    async def _prune_base(self, space: OwnerSpace) -> None:
        page = await self._store.versions_page(space.index_base, limit=KEPT_BASE_VERSIONS + 20, after=None)
        old = [(e.key, e.version_id) for e in page.entries[KEPT_BASE_VERSIONS:] if e.version_id is not None]
        if old:
            await self._store.delete_versions(space.index_prefix, old)
