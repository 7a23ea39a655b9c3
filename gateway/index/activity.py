"""A session's activity (`{session}/activity.json`): when its files last changed, how many there are, how big.

Writing it on every upload would double the cost of small writes, so the tracker listens to the change hook and
remembers, in memory, which sessions changed and when; every `interval` it refreshes each of them once: it counts
the session's current files (one listing per 1,000 files), keeps the later of the stored and the noted time,
writes the object, removes its older versions (so a busy session does not pile up thousands of them) and notes
the session in its owner's index.

How stale it may be: on a replica that keeps running, `last_activity_at`, `file_count` and `bytes` lag the truth
by at most one interval plus the refresh itself (`GATEWAY_ACTIVITY_INTERVAL_SECONDS`, 30 s by default). A clean
shutdown refreshes what is pending; a crash loses at most the last interval of *times* (counts are recounted at
the session's next change, and by the janitor's index check). Only changes made by users count as activity: the
janitor expiring files changes the counts, not the time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from gateway import changes, strict_json
from gateway.changes import Change
from gateway.errors import InvalidBody, ObjectMissing
from gateway.index.catalog import SessionIndex
from gateway.index.summaries import Activity, canonical_time
from gateway.keys import SessionKeys, session_keys_of
from gateway.ordered import bounded
from gateway.storage.store import Store

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 30.0
ACTIVITY_CONTENT_TYPE = "application/json"


async def read_activity(store: Store, keys: SessionKeys) -> Activity | None:
    """The stored activity of a session; None when there is none yet, or it cannot be read (it is only derived)."""
    try:
        # A 404 is believed at once: only older versions are ever removed, so the key is never being re-linked.
        data, _ = await store.read_bytes(keys.activity, believe_missing=True)
        return Activity.from_json(strict_json.loads(data))
    except ObjectMissing:
        return None
    except (InvalidBody, ValueError, KeyError, TypeError) as exc:
        log.warning("activity %s cannot be read: %s", keys.activity, exc)
        return None


async def count_files(store: Store, keys: SessionKeys) -> tuple[int, int]:
    """The session's current files: how many and their bytes."""
    files = size = 0
    continuation: str | None = None
    while True:
        page = await store.list_page(keys.files_prefix, delimiter=None, limit=1000, continuation=continuation)
        files += len(page.objects)
        size += sum(item.size for item in page.objects)
        if page.continuation is None:
            return files, size
        continuation = page.continuation


class ActivityTracker:
    def __init__(
        self,
        store: Store,
        root: str,
        index: SessionIndex,
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._root = root
        self._index = index
        self._clock = clock
        self.interval = interval
        # Session prefix -> the latest time a user changed it (None: only counts changed).
        self._pending: dict[str, datetime | None] = {}

    def listener(self, change: Change) -> None:
        """On the change hook: remember the session (no I/O here; the refresh does it)."""
        keys = session_keys_of(self._root, change.key)
        if keys is None or change.action.startswith("snapshot."):
            return
        if change.action == changes.SESSION_PURGED:
            self._pending.pop(keys.prefix, None)  # nothing of it may be written again
            return
        by_user = change.actor.kind == "user"
        seen = self._pending.get(keys.prefix)
        if by_user and (seen is None or change.at > seen):
            self._pending[keys.prefix] = change.at
        else:
            self._pending.setdefault(keys.prefix, None)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        """Refresh every session noted since the last flush; returns how many."""
        taken, self._pending = self._pending, {}
        await bounded(list(taken.items()), lambda item: self._refresh(SessionKeys(item[0]), item[1]))
        return len(taken)

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every interval until `stop` is set, then once more (what a clean shutdown owes)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
            try:
                await self.flush()
            except Exception:
                log.exception("refreshing session activity failed; it is tried again at the next change")

    async def _refresh(self, keys: SessionKeys, at: datetime | None) -> None:
        (files, size), stored = await asyncio.gather(count_files(self._store, keys), read_activity(self._store, keys))
        now = canonical_time(self._clock())
        times = [t for t in (canonical_time(at) if at else None, stored.last_activity_at if stored else None) if t]
        activity = Activity(
            last_activity_at=max(times) if times else None, file_count=files, bytes=size, counted_at=now
        )
        data = json.dumps(activity.to_json(), separators=(",", ":")).encode()
        written = await self._store.put(keys.activity, data, content_type=ACTIVITY_CONTENT_TYPE, metadata={})
        await self._prune(keys, written.version_id)
        await self._index.note(keys)

    async def _prune(self, keys: SessionKeys, kept: str | None) -> None:
        page = await self._store.versions_page(keys.activity, limit=50, after=None)
        old = [(e.key, e.version_id) for e in page.entries if e.version_id is not None and e.version_id != kept]
        # Keep the newest even if it is not ours (a refresh on another replica finished after this one).
        newest = page.entries[0].version_id if page.entries else None
        old = [(key, vid) for key, vid in old if vid != newest]
        if old:
            await self._store.delete_versions(keys.prefix, old)
