"""The event feed: the committed changes of a caller's own sessions (and projects), resumable from a cursor.

Read from the owner's audit stream (`gateway.audit.log`), in the order of positions (per replica the order the
change hook announced them in; across replicas the order of their clocks). The guarantee is at-least-once with no
gaps: a cursor never moves past a record that is not yet in the bucket. That holds because the feed serves only
records positioned at least `settle` before now, and every owner batch is in the bucket within `flush +
write_timeout` of its stamp or written again under a fresh one; `settle` is longer than that by the clock skew
allowed between replicas. A record can come twice (a batch written again after a slow write): its `id` is the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.audit.reading import position_of, position_state
from gateway.audit.records import CHANGE, Position, Record, ms_of
from gateway.audit.stream import lookback_ms, read_page
from gateway.auth.cursors import CursorSealer
from gateway.keys import OwnerSpace, owner_audit_prefix, owner_audit_start
from gateway.storage.store import Store


@dataclass(frozen=True)
class EventPage:
    events: list[Record]
    # Always given: the feed has no end, and this is where to ask again.
    next_cursor: str
    # Every change logged up to this moment is at or before the cursor.
    settled_until: datetime


class EventFeed:
    def __init__(
        self,
        store: Store,
        *,
        root: str,
        cursors: CursorSealer,
        flush_ms: int,
        settle_ms: int,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._root = root
        self._cursors = cursors
        self._lookback = lookback_ms(flush_ms)
        self.settle_ms = settle_ms
        self._clock = clock

    async def page(
        self,
        space: OwnerSpace,
        *,
        session_id: str | None,
        since: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> EventPage:
        """Changes after the cursor (or from `since`, or from the start), at most `limit`."""
        prefix = owner_audit_prefix(self._root, space)
        binding = ["events", prefix, session_id or ""]
        if cursor is not None:
            after = position_of(self._cursors.open(cursor, binding, expect=("pos", "id")))
        else:
            after = Position.before(ms_of(since) if since is not None else 0)
        horizon = ms_of(self._clock()) - self.settle_ms
        found = await read_page(
            self._store,
            prefix=prefix,
            start_after=owner_audit_start(self._root, space, after.pos - self._lookback),
            after=after,
            horizon=horizon,
            limit=limit,
            keep=lambda record: record.kind == CHANGE and (session_id is None or record.session == session_id),
        )
        settled = datetime.fromtimestamp(max(horizon, 0) / 1000, UTC)
        return EventPage(found.records, self._cursors.seal(position_state(found.position), binding), settled)
