"""Small JSON records the gateway keeps in the bucket (session records, share links) and the one way to change them.

A record is changed by reading it, applying a pure change and writing the result on condition that the record
is still the version read (`If-Match` through the one write step, which holds across replicas). A writer that
lost the race backs off a little and applies its change again to the version that won, so concurrent changes
from several replicas are all kept, none overwritten.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gateway.errors import Conflict, PreconditionFailed
from gateway.storage import preconditions
from gateway.storage.writes import VersionWriter

R = TypeVar("R")

UPDATE_ATTEMPTS = 30
# Backoff between attempts: random up to min(cap, base * 2**attempt), so writers that collided spread out.
BACKOFF_BASE_SECONDS = 0.005
BACKOFF_CAP_SECONDS = 0.25
RECORD_CONTENT_TYPE = "application/json"


async def modify(
    writer: VersionWriter,
    key: str,
    read: Callable[[], Awaitable[tuple[R, str]]],
    change: Callable[[R], R],
    encode: Callable[[R], bytes],
) -> R:
    """Apply `change` to the record at `key` until it lands on the version it was computed from.

    `read` gives the record and its ETag; an unchanged record is not written again. Raises 409 `Conflict` when the
    change kept losing races for every attempt; then it changed nothing.
    """
    for attempt in range(UPDATE_ATTEMPTS):
        record, etag = await read()
        updated = change(record)
        if updated == record:
            return record
        precondition = preconditions.Precondition(if_match=frozenset({preconditions.normalise_etag(etag)}))
        try:
            await writer.write(key, encode(updated), precondition=precondition, content_type=RECORD_CONTENT_TYPE)
        except PreconditionFailed:
            ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
            await asyncio.sleep(random.uniform(0, ceiling))  # noqa: S311 (jitter, not secrets)
            continue
        return updated
    raise Conflict("this record is being changed by others right now; retry")
