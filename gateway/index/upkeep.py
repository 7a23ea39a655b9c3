"""The janitor's care of sessions, owner by owner: the index checked against the records, idle sessions archived,
abandoned ones removed.

- **Index check**: every owner's index is compared with the records (`SessionIndex.compact(full=True)`): a base
  that disagrees (a note lost in a crash, a damaged base) is written again. `session-gateway index rebuild` does the
  same on demand.
- **Idle sessions** (`GATEWAY_ARCHIVE_AFTER_SECONDS`, 0: never): a session whose last activity is older is
  archived; an active one is ended first (its ephemeral files go, as when its owner ends it).
- **Orphans** (`GATEWAY_ORPHAN_AFTER_SECONDS`, 0: never): a session with no files whose last activity is older is
  deleted the recoverable way (an automatic snapshot first, as for its owner's delete).

Decisions are taken on the index's summaries, then checked once more on the truth (the record, the activity and a
listing of the files) just before acting, so a session that came back to life meanwhile is left alone.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gateway.changes import SYSTEM_JANITOR
from gateway.errors import NotFound
from gateway.index.catalog import Repair, SessionIndex
from gateway.index.summaries import SessionSummary, canonical_time
from gateway.keys import OwnerSpace, owner_space_of, owners_prefix
from gateway.ordered import bounded
from gateway.services.session_records import ARCHIVED
from gateway.services.sessions import Sessions
from gateway.settings import Settings
from gateway.storage.store import Store

ARCHIVE_SESSION, REMOVE_ORPHAN, REINDEX = "archive-session", "remove-orphan", "reindex"


@dataclass(frozen=True)
class SessionAction:
    kind: str
    owner: str  # the owner's key prefix (opaque segments)
    session_id: str | None
    reason: str

    def describe(self) -> str:
        what = {ARCHIVE_SESSION: "archive session", REMOVE_ORPHAN: "delete orphan session", REINDEX: "rewrite index"}
        return f"{what[self.kind]} {self.session_id or self.owner}: {self.reason}"


@dataclass
class UpkeepReport:
    actions: list[SessionAction] = field(default_factory=list)
    owners: int = 0
    sessions: int = 0


async def every_owner(store: Store, root: str) -> AsyncIterator[OwnerSpace]:
    """Every owner with keys in the bucket, found by listing two levels under `{root}/o/`."""
    tenants = await _prefixes(store, owners_prefix(root))
    for tenant in tenants:
        for prefix in await _prefixes(store, tenant):
            space = owner_space_of(root, prefix)
            if space is not None:
                yield space


async def _prefixes(store: Store, prefix: str) -> list[str]:
    found: list[str] = []
    continuation: str | None = None
    while True:
        page = await store.list_page(prefix, delimiter="/", limit=1000, continuation=continuation)
        found += page.prefixes
        if page.continuation is None:
            return found
        continuation = page.continuation


class SessionUpkeep:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        sessions: Sessions,
        index: SessionIndex,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._settings = settings
        self._sessions = sessions
        self._index = index
        self._clock = clock

    async def run(self, *, dry_run: bool) -> UpkeepReport:
        report = UpkeepReport()
        async for space in every_owner(self._store, self._settings.key_root):
            report.owners += 1
            repair = await self._index.compact(space, full=True, dry_run=dry_run)
            if repair.changed:
                report.actions.append(_reindexed(repair))
            view = await self._index.view(space)
            report.sessions += len(view.entries)
            actions = [a for s, _ in view.entries.values() if (a := self._judge(space, s)) is not None]
            report.actions += actions
            if not dry_run:
                await bounded(actions, functools.partial(self._carry_out, space))
        return report

    def _cutoff(self, seconds: int) -> str | None:
        return canonical_time(self._clock() - timedelta(seconds=seconds)) if seconds > 0 else None

    def _judge(self, space: OwnerSpace, summary: SessionSummary) -> SessionAction | None:
        orphan_cutoff = self._cutoff(self._settings.orphan_after_seconds)
        archive_cutoff = self._cutoff(self._settings.archive_after_seconds)
        if orphan_cutoff and summary.file_count == 0 and summary.last_activity_at < orphan_cutoff:
            return SessionAction(
                REMOVE_ORPHAN, space.prefix, summary.id, f"no files and idle since {summary.last_activity_at}"
            )
        if archive_cutoff and summary.state != ARCHIVED and summary.last_activity_at < archive_cutoff:
            return SessionAction(ARCHIVE_SESSION, space.prefix, summary.id, f"idle since {summary.last_activity_at}")
        return None

    async def _carry_out(self, space: OwnerSpace, action: SessionAction) -> None:
        assert action.session_id is not None
        keys = space.session(action.session_id)
        # Judged on the index; acted on only if the truth still agrees (files may have come, activity moved on).
        truth = await self._sessions.summary(keys)
        if truth is None or self._judge(space, truth) is None:
            return
        if action.kind == REMOVE_ORPHAN:
            # A file that arrived after the last count, or a grant or link the session opened to others: not
            # abandoned (and closing a grant needs its owner's claims, which the janitor does not know).
            pages = await asyncio.gather(
                *(
                    self._store.list_page(prefix, delimiter=None, limit=1, continuation=None)
                    for prefix in (keys.files_prefix, keys.grants_prefix, keys.shares_prefix)
                )
            )
            if any(page.objects for page in pages):
                return
        try:
            if action.kind == REMOVE_ORPHAN:
                await self._sessions.delete_at(keys, SYSTEM_JANITOR, purge=False)
            else:
                await self._sessions.archive_idle(keys)
        except NotFound:
            return  # deleted meanwhile


def _reindexed(repair: Repair) -> SessionAction:
    return SessionAction(
        REINDEX, repair.owner, None, f"{len(repair.changed)} session(s) listed wrongly of {repair.sessions}"
    )
