"""Both buckets walked side by side, a session at a time.

The source's histories (ListObjectVersions, 1,000 entries a page) and the backup's records (ListObjectsV2, 1,000
keys a page) list sessions in the same order, since a session's records lie under its source prefix moved to
`{root}/entries/` (`gateway.backup.layout`). Walking both at once, one page at a time each, pairs every session's
history with its records without one listing per session; memory holds one session's entries at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TypeVar

from gateway import keys
from gateway.backup import layout
from gateway.storage.store import Store, VersionEntry

T = TypeVar("T")
U = TypeVar("U")


@dataclass
class Session:
    """One session in both buckets: its source keys' histories (newest first) and the records of its backup."""

    prefix: str  # the session's prefix in the source bucket
    histories: dict[str, list[VersionEntry]] = field(default_factory=dict)
    recorded: list[layout.Listed] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(len(entries) for entries in self.histories.values()) + len(self.recorded)


async def source_sessions(store: Store, root: str) -> AsyncIterator[tuple[str, dict[str, list[VersionEntry]]]]:
    """Every session's keys with their histories, in key order. A key's history may span pages: entries of one
    key come together and newest first, so they are appended in order."""
    owners = f"{root}/{keys.OWNERS_DIR}" if root else keys.OWNERS_DIR
    current: str | None = None
    histories: dict[str, list[VersionEntry]] = {}
    async for page in store.version_pages(owners):
        for entry in page:
            found = keys.split_session_key(root, entry.key)
            if found is None:
                continue  # grant indexes and other keys beside the sessions
            if found[0] != current:
                if current is not None:
                    yield current, histories
                current, histories = found[0], {}
            histories.setdefault(entry.key, []).append(entry)
    if current is not None:
        yield current, histories


async def recorded_sessions(store: Store, root: str) -> AsyncIterator[tuple[str, list[layout.Listed]]]:
    """Every backed-up session's records as their keys name them, in key order."""
    current: str | None = None
    listed: list[layout.Listed] = []
    async for batch in store.current_keys(layout.entries_prefix(root)):
        for key in batch:
            found = layout.parse_entry(root, key)
            if found is None:
                continue
            if found.session_prefix != current:
                if current is not None:
                    yield current, listed
                current, listed = found.session_prefix, []
            listed.append(found)
    if current is not None:
        yield current, listed


async def session_records(store: Store, root: str, session_prefix: str) -> list[layout.Listed]:
    """The records of one session (a restore's listing)."""
    found: list[layout.Listed] = []
    async for batch in store.current_keys(layout.session_entries(root, session_prefix)):
        found += [listed for key in batch if (listed := layout.parse_entry(root, key)) is not None]
    return found


async def sessions(source: Store, backup: Store, root: str) -> AsyncIterator[Session]:
    """Sessions found in either bucket, each with what both hold of it, in key order."""
    async for prefix, histories, recorded in _merged(source_sessions(source, root), recorded_sessions(backup, root)):
        yield Session(prefix, histories or {}, recorded or [])


async def _merged(
    left: AsyncIterator[tuple[str, T]], right: AsyncIterator[tuple[str, U]]
) -> AsyncIterator[tuple[str, T | None, U | None]]:
    """Two streams ordered by their first item, joined on it."""
    a = await anext(left, None)
    b = await anext(right, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            yield a[0], a[1], None
            a = await anext(left, None)
        elif a is None or b[0] < a[0]:
            yield b[0], None, b[1]
            b = await anext(right, None)
        else:
            yield a[0], a[1], b[1]
            a, b = await anext(left, None), await anext(right, None)


async def batches(walk: AsyncIterator[Session], *, entries: int) -> AsyncIterator[list[Session]]:
    """Sessions gathered until they hold about `entries` entries: small sessions are then worked on together,
    as many S3 calls at once as one large session gets."""
    batch: list[Session] = []
    held = 0
    async for session in walk:
        batch.append(session)
        held += session.size
        if held >= entries:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch
