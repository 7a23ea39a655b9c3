"""What the audit log shows: a session's records to its owner, and every record of a time range to operators.

A session's audit is read from its owner's stream (`{root}/_audit/owners/{tenant}/{user}/`), which also holds the
owner's other sessions and projects: a page reads a bounded number of batches and may come back with fewer
records than asked for, and a cursor. The range is fixed on the first page (`until`, or the moment it was asked),
so following the cursors walks one range to its end. Records reach the bucket once per flush interval, so the
last second or so may not be there yet when a page is read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from gateway.audit.records import CHANGE, Position, Record, ms_of
from gateway.audit.stream import StreamPage, lookback_ms, read_page
from gateway.auth.cursors import CursorSealer
from gateway.keys import (
    OwnerSpace,
    audit_log_prefix,
    audit_log_start,
    owner_audit_prefix,
    owner_audit_start,
    session_id_ms,
)
from gateway.storage.store import Store

CLOCK_ALLOWANCE_MS = 60_000


@dataclass(frozen=True)
class RecordPage:
    records: list[Record]
    next_cursor: str | None


def position_state(position: Position) -> dict[str, str]:
    return {"pos": str(position.pos), "id": position.id}


def position_of(state: dict[str, str]) -> Position:
    return Position(int(state["pos"]), state["id"])


class SessionAudit:
    def __init__(
        self, store: Store, *, root: str, cursors: CursorSealer, flush_ms: int, clock: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._root = root
        self._cursors = cursors
        self._lookback = lookback_ms(flush_ms)
        self._clock = clock

    async def page(
        self,
        space: OwnerSpace,
        session_id: str,
        *,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> RecordPage:
        """The session's records logged from `since` to `until` (both included), oldest first."""
        prefix = owner_audit_prefix(self._root, space)
        bounds = ["" if moment is None else str(ms_of(moment)) for moment in (since, until)]
        binding = ["audit.session", prefix, session_id, *bounds]
        if cursor is not None:
            state = self._cursors.open(cursor, binding, expect=("pos", "id", "horizon"))
            after, horizon = position_of(state), int(state["horizon"])
        else:
            # Nothing of a session is logged before it was made (a minute allowed for replicas' clocks): its audit
            # need not walk the owner's older history.
            made = session_id_ms(session_id) - CLOCK_ALLOWANCE_MS
            after = Position.before(max(ms_of(since), made) if since is not None else made)
            horizon = ms_of(until) if until is not None else ms_of(self._clock())
        found = await read_page(
            self._store,
            prefix=prefix,
            start_after=owner_audit_start(self._root, space, after.pos - self._lookback),
            after=after,
            horizon=horizon,
            limit=limit,
            keep=lambda record: record.kind == CHANGE and record.session == session_id,
        )
        following = None
        if not found.complete:
            following = self._cursors.seal({**position_state(found.position), "horizon": str(horizon)}, binding)
        return RecordPage(found.records, following)


async def log_records(
    store: Store,
    *,
    root: str,
    flush_ms: int,
    since: datetime,
    until: datetime,
    keep: Callable[[Record], bool],
    limit: int = 1000,
) -> AsyncIterator[Record]:
    """Every record of the operators' stream logged from `since` to `until` that `keep` takes, oldest first."""
    after, horizon = Position.before(ms_of(since)), ms_of(until)
    lookback = lookback_ms(flush_ms)
    while True:
        page: StreamPage = await read_page(
            store,
            prefix=audit_log_prefix(root),
            start_after=audit_log_start(root, after.pos - lookback),
            after=after,
            horizon=horizon,
            limit=limit,
            keep=keep,
        )
        for record in page.records:
            yield record
        if page.complete:
            return
        after = page.position
