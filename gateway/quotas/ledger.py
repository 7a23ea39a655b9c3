"""The usage ledger of one quota scope (a tenant, a user, a session), kept in the bucket beside the scope's keys.

A scope's usage is a base record (`_usage/base.json`: bytes, files, the entries it absorbed, the operations it
counted as under way) plus small entries whose keys say everything (`_usage/e/{ms}.{nonce}.{r|c}.{bytes}.{files}`):
reservations (`r`) of writes under way and the committed figures (`c`) of changes made. Reading a scope is one
GET and one LIST, however many entries there are; nothing is read per entry. Entries are removed by exact version,
so no delete markers pile up in the ledger.

What is counted: the current versions of files under `f/` of the scope's sessions (bytes: the sum of their sizes,
files: how many). Old versions, session records, snapshots and exports are not counted.

The figures are kept right by the writers themselves: every operation posts its reservation before it changes
anything, its committed figures after, and then removes its reservation. Whatever changes files without an entry
(lifecycle rules and the janitor expiring them, a purge, a crash between a write and its entry) makes the ledger
drift; `recount` corrects it from the files themselves. Its error can only ever be an over-count, which refuses
writes a little early rather than letting a scope past its limit:

1. List the entries (A), count the current files (the truth, T), list the entries again (B).
2. The new base is T; it absorbs A's committed entries: each was posted after its change, so T reflects it.
3. An operation with an entry in B and not absorbed may or may not be reflected in T (its change ran while the
   files were counted). The base remembers its nonce as *pending*: that operation's committed figures still count
   when they add (over-counting at worst, if T had them already) and are skipped when they take away (if T lacked
   the change, the figures over-count by it; if T had it, they are exact). An operation that has no entry in B
   started after B, so after the count: T does not reflect it, and its figures count in full.
4. Reservations are never absorbed; they are removed once stale (their operation died).

Compaction folds committed entries into the base (the conditional record write of `gateway.services.records`,
which holds across replicas) and then removes them; the base's list of absorbed entries is pruned to those still
listed, which can only make a later reading count an entry twice (an over-count), never drop one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from gateway import strict_json
from gateway.errors import ObjectMissing, PreconditionFailed
from gateway.keys import UsageEntryName, UsageKeys
from gateway.services import records
from gateway.storage.preconditions import Precondition, normalise_etag
from gateway.storage.store import Store
from gateway.storage.writes import CREATE_ONLY, Prepared, VersionWriter

# A scope with more entries than this is compacted by the next writer that reads it.
COMPACT_AFTER = 100
RECOUNT_ATTEMPTS = 5
COUNT_PAGE = 1000
ENTRY_TYPE = "application/octet-stream"
NEW = Prepared(None, None)  # an entry's key is new: no look at its history


@dataclass(frozen=True)
class Figures:
    bytes: int = 0
    files: int = 0

    def __add__(self, other: Figures) -> Figures:
        return Figures(self.bytes + other.bytes, self.files + other.files)

    def __sub__(self, other: Figures) -> Figures:
        return Figures(self.bytes - other.bytes, self.files - other.files)

    def __neg__(self) -> Figures:
        return Figures(-self.bytes, -self.files)

    def of(self, dimension: str) -> int:
        return self.bytes if dimension == "bytes" else self.files

    @property
    def adds(self) -> bool:
        return self.bytes > 0 or self.files > 0

    @property
    def zero(self) -> bool:
        return self.bytes == 0 and self.files == 0


ZERO = Figures()


@dataclass(frozen=True)
class Entry:
    key: str
    version_id: str
    name: str  # the key below the entries prefix: what a base absorbs
    said: UsageEntryName

    @property
    def figures(self) -> Figures:
        return Figures(self.said.bytes, self.said.files)

    @property
    def committed(self) -> bool:
        return self.said.kind == "c"


@dataclass(frozen=True)
class Base:
    figures: Figures = ZERO
    absorbed: frozenset[str] = frozenset()
    pending: frozenset[str] = frozenset()

    def to_json(self) -> bytes:
        document = {
            "bytes": self.figures.bytes,
            "files": self.figures.files,
            "absorbed": sorted(self.absorbed),
            "pending": sorted(self.pending),
        }
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Base:
        document = strict_json.loads(data)
        if not isinstance(document, dict):
            raise ValueError("a usage base is a JSON object")
        size, files = document.get("bytes"), document.get("files")
        absorbed, pending = document.get("absorbed", []), document.get("pending", [])
        if not isinstance(size, int) or not isinstance(files, int):
            raise ValueError("a usage base has whole bytes and files")
        if not all(isinstance(item, str) for item in [*absorbed, *pending]):
            raise ValueError("a usage base lists names")
        return cls(Figures(size, files), frozenset(absorbed), frozenset(pending))


@dataclass(frozen=True)
class Reading:
    """A scope as one GET and one LIST found it. `base` is None when the scope was never counted."""

    base: Base | None
    etag: str | None
    entries: list[Entry] = field(default_factory=list)

    @property
    def used(self) -> Figures:
        """The base and every entry it did not absorb: reservations of operations that have not committed yet,
        committed figures (less the taking-away figures of operations the base counted as under way)."""
        return self._sum(reservations=True)

    @property
    def committed(self) -> Figures:
        """`used` without the reservations: what the changes that were made hold."""
        return self._sum(reservations=False)

    def _sum(self, *, reservations: bool) -> Figures:
        base = self.base or Base()
        settled = {entry.said.nonce for entry in self.entries if entry.committed}
        total = base.figures
        for entry in self.entries:
            if entry.name in base.absorbed:
                continue
            if entry.committed:
                skipped = entry.said.nonce in base.pending and not entry.figures.adds
            else:
                skipped = not reservations or entry.said.nonce in settled  # its committed figures stand for it
            if not skipped:
                total += entry.figures
        return total


@dataclass(frozen=True)
class Recounted:
    before: Figures | None
    after: Figures
    removed: int


class Ledger:
    def __init__(self, store: Store, writer: VersionWriter, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._writer = writer
        self._clock = clock

    def now_ms(self) -> int:
        return int(self._clock().timestamp() * 1000)

    async def read(self, keys: UsageKeys) -> Reading:
        (base, etag), entries = await asyncio.gather(self._base(keys), self.entries(keys))
        return Reading(base, etag, entries)

    async def _base(self, keys: UsageKeys) -> tuple[Base | None, str | None]:
        try:
            data, info = await self._store.read_bytes(keys.base)
        except ObjectMissing:
            return None, None
        return Base.from_json(data), info.etag

    async def entries(self, keys: UsageKeys) -> list[Entry]:
        found = []
        async for page in self._store.version_pages(keys.entries_prefix):
            for item in page:
                said = keys.entry_of(item.key)
                if said is not None and not item.is_delete_marker:
                    found.append(Entry(item.key, item.version_id, item.key[len(keys.entries_prefix) :], said))
        return found

    async def post(self, keys: UsageKeys, nonce: str, kind: str, figures: Figures) -> Entry:
        key = keys.entry(self.now_ms(), nonce, kind, figures.bytes, figures.files)
        written = await self._writer.write(key, b"", prepared=NEW, content_type=ENTRY_TYPE)
        said = keys.entry_of(key)
        assert said is not None and written.info.version_id is not None
        return Entry(key, written.info.version_id, key[len(keys.entries_prefix) :], said)

    async def remove(self, entries: Iterable[Entry]) -> None:
        """Remove entries by exact version, one S3 call per 1,000 (entries of several scopes together)."""
        listed = [(entry.key, entry.version_id) for entry in entries]
        if listed:
            await self._writer.withdraw(listed[0][0], listed)

    async def count(self, keys: UsageKeys) -> Figures:
        """The truth: the scope's current files, from a listing of them."""
        total, continuation = ZERO, None
        while True:
            page = await self._store.list_page(
                keys.counted, delimiter=None, limit=COUNT_PAGE, continuation=continuation
            )
            for item in page.objects:
                if keys.counts(item.key):
                    total += Figures(item.size, 1)
            continuation = page.continuation
            if continuation is None:
                return total

    async def counted(self, keys: UsageKeys) -> Reading:
        """The scope as read, counted first when it never was (quotas set on a tenant that already had files)."""
        reading = await self.read(keys)
        if reading.base is None:
            await self.recount(keys, stale_before_ms=None, only_if_missing=True)
            reading = await self.read(keys)
        return reading

    async def recount(
        self, keys: UsageKeys, *, stale_before_ms: int | None, dry_run: bool = False, only_if_missing: bool = False
    ) -> Recounted:
        """Set the base to the truth (see the module's docstring); remove the committed entries it absorbed and,
        with `stale_before_ms`, reservations posted before then. Lost races with other writers of the base start
        it again; `only_if_missing` (a first count) leaves a base someone else wrote meanwhile as it is."""
        for _ in range(RECOUNT_ATTEMPTS):
            before, etag = await self._base(keys)
            if only_if_missing and before is not None:
                return Recounted(None, before.figures, 0)
            first = await self.entries(keys)
            truth = await self.count(keys)
            second = await self.entries(keys)
            was = Reading(before, etag, second).used if before is not None else None
            absorbed = {entry.name for entry in first if entry.committed}
            pending = {entry.said.nonce for entry in second if entry.name not in absorbed}
            stale = [
                entry
                for entry in second
                if not entry.committed and stale_before_ms is not None and entry.said.at_ms < stale_before_ms
            ]
            base = Base(truth, frozenset(absorbed), frozenset(pending))
            after = Reading(base, None, [entry for entry in second if entry not in stale]).used
            if dry_run:
                return Recounted(was, after, 0)
            precondition = CREATE_ONLY if etag is None else Precondition(if_match=frozenset({normalise_etag(etag)}))
            try:
                await self._writer.write(
                    keys.base, base.to_json(), precondition=precondition, content_type=records.RECORD_CONTENT_TYPE
                )
            except PreconditionFailed:
                if only_if_missing:
                    return Recounted(None, base.figures, 0)
                continue
            gone = [entry for entry in first if entry.committed] + stale
            await self.remove(gone)
            return Recounted(was, after, len(gone))
        raise PreconditionFailed("the usage of this scope is being changed by others right now; retry")

    async def compact(self, keys: UsageKeys) -> None:
        """Fold committed entries into the base, then remove them (by version)."""
        entries = await self.entries(keys)
        listed = {entry.name for entry in entries}
        folded: list[Entry] = []

        async def read() -> tuple[Base, str]:
            base, etag = await self._base(keys)
            if base is None or etag is None:
                raise ObjectMissing("no usage base to compact")
            return base, etag

        def fold(base: Base) -> Base:
            folded.clear()
            total = base.figures
            for entry in entries:
                if not entry.committed or entry.name in base.absorbed:
                    continue
                folded.append(entry)
                if entry.said.nonce not in base.pending or entry.figures.adds:
                    total += entry.figures
            absorbed = (base.absorbed & listed) | {entry.name for entry in folded}
            return Base(total, frozenset(absorbed), base.pending)

        try:
            base = await records.modify(self._writer, keys.base, read, fold, lambda found: found.to_json())
        except ObjectMissing:
            return
        await self.remove([entry for entry in entries if entry.committed and entry.name in base.absorbed])
