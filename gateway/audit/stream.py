"""Reading a stream of batches (an owner's, or the operators') in the order of its records' positions.

Batches of several replicas overlap in time, so records are merged, not concatenated: every record of a batch
stands within the flush interval of the batch's stamp (`gateway.audit.log`), hence once every batch with a stamp up
to `s` has been read, every record positioned before `s` is known. A page reads batches in the order of their names
(by stamp), a few at a time, until it knows `limit` records in order, and says where it stopped: the position of
the last record it gives, or, when it gave all it knew, the position below the next batch's stamp (or the horizon).
Nothing at or before that position is ever given again, so a reader must not be given a horizon later than every
batch up to it can be in the bucket (the event feed's settle window).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from gateway.audit.records import Position, Record, decode_batch
from gateway.errors import ObjectMissing
from gateway.keys import BatchName, batch_name_of
from gateway.ordered import CONCURRENCY, bounded
from gateway.storage.store import Store

log = logging.getLogger(__name__)
# Batches read for one page at most; a page that filters most records out may come back short, with a cursor.
MAX_BATCHES = 128
LIST_PAGE = 1000
# How far before a position a batch holding records after it may begin: its records are within the flush
# interval of its stamp. At least 30 s, so that a flush interval lowered since the batch was written is covered.
MIN_LOOKBACK_MS = 30_000


def lookback_ms(flush_ms: int) -> int:
    return max(flush_ms, MIN_LOOKBACK_MS) + 1000


@dataclass(frozen=True)
class StreamPage:
    records: list[Record]
    # Every record at or before this has been given or left out by the filter.
    position: Position
    # Nothing is left up to the horizon.
    complete: bool


Filter = Callable[[Record], bool]


async def read_page(
    store: Store,
    *,
    prefix: str,
    start_after: str,
    after: Position,
    horizon: int,
    limit: int,
    keep: Filter,
    max_batches: int = MAX_BATCHES,
) -> StreamPage:
    """Records after `after` and positioned at or before `horizon` (ms) that `keep` takes, in position order.

    `start_after` is a key before every batch that may hold records after `after` (one `lookback_ms` earlier).
    """
    candidates = await _candidates(store, prefix, start_after, after, horizon, max_batches)
    chosen = candidates[:max_batches]
    final_bound = candidates[max_batches][0].stamp if len(candidates) > max_batches else horizon + 1
    collected: dict[tuple[int, str], Record] = {}
    known_below = final_bound
    for start in range(0, len(chosen), CONCURRENCY):
        chunk = chosen[start : start + CONCURRENCY]
        for records in await bounded(chunk, lambda item: _read(store, item[1])):
            for record in records:
                if after < record.position and record.pos <= horizon and keep(record):
                    collected.setdefault((record.pos, record.id), record)
        following = start + CONCURRENCY
        known_below = chosen[following][0].stamp if following < len(chosen) else final_bound
        if sum(1 for record in collected.values() if record.pos < known_below) > limit:
            break
    ordered = sorted((r for r in collected.values() if r.pos < known_below), key=lambda r: r.position)
    given: list[Record] = []
    ids: set[str] = set()
    for record in ordered:
        if record.id not in ids:  # a batch written twice: the first copy in order stands
            ids.add(record.id)
            given.append(record)
    if len(given) > limit:
        return StreamPage(given[:limit], given[limit - 1].position, complete=False)
    reached = Position.through(min(known_below - 1, horizon))
    return StreamPage(given, max(reached, after), complete=known_below > horizon)


async def _candidates(
    store: Store, prefix: str, start_after: str, after: Position, horizon: int, max_batches: int
) -> list[tuple[BatchName, str]]:
    """Batches that may hold records after `after` up to `horizon`, in name order: all of them, or more than
    `max_batches` (the first one past them bounds what the page can know)."""
    found: list[tuple[BatchName, str]] = []
    continuation: str | None = None
    while True:
        page = await store.list_page(
            prefix, delimiter=None, limit=LIST_PAGE, continuation=continuation, start_after=start_after
        )
        for item in page.objects:
            name = batch_name_of(item.key)
            if name is None:
                continue
            if name.stamp > horizon:
                return found
            if name.last >= after.pos:
                found.append((name, item.key))
        if page.continuation is None:
            return found
        if len(found) > max_batches:
            return found
        continuation = page.continuation


async def _read(store: Store, key: str) -> list[Record]:
    try:
        data, _info = await store.read_bytes(key, believe_missing=True)
    except ObjectMissing:
        log.warning("audit batch %s was listed but is gone (removed by a lifecycle rule?)", key)
        return []
    return list(decode_batch(data, key))
