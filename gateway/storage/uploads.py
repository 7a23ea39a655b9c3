"""Streaming a request body into one S3 object without buffering it whole.

Bodies up to the multipart threshold become one PUT. Larger ones become a multipart upload whose parts are sent
while the next part is read, so memory stays at a few parts whatever the file size. Any failure (a body over
the limit, a client that hangs up, a store error) aborts the multipart upload: S3 only makes an object visible
on completion, so nothing partial ever appears.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Any

from gateway.errors import BadRequest, PayloadTooLarge
from gateway.storage.store import Store

log = logging.getLogger(__name__)
MAX_PARTS = 10_000
# Parts sent while the next one is read: enough to keep the link to S3 busy, few enough that memory stays at a
# handful of parts whatever the file size.
PARTS_IN_FLIGHT = 2


def part_size_for(expected_bytes: int, threshold: int) -> int:
    """Parts of at least the threshold, and large enough that `expected_bytes` fits in S3's 10,000 parts."""
    return max(threshold, math.ceil(expected_bytes / MAX_PARTS))


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the file is larger than the {limit}-byte upload limit", extra={"limit_bytes": limit})


async def stream_upload(
    store: Store,
    key: str,
    chunks: AsyncIterator[bytes],
    *,
    content_type: str,
    metadata: Mapping[str, str],
    tags: Mapping[str, str] | None = None,
    declared_length: int | None,
    max_bytes: int,
    threshold: int,
) -> tuple[str | None, int]:
    """Write `chunks` to `key`; returns (version id, size)."""
    if declared_length is not None and declared_length > max_bytes:
        raise _too_large(max_bytes)
    part_size = part_size_for(declared_length if declared_length is not None else max_bytes, threshold)
    buffer = bytearray()
    total = 0
    upload_id: str | None = None
    parts: list[dict[str, Any]] = []
    pending: deque[asyncio.Task[dict[str, Any]]] = deque()
    try:
        async for chunk in chunks:
            total += len(chunk)
            if total > max_bytes:
                raise _too_large(max_bytes)
            buffer += chunk
            while len(buffer) >= part_size:
                if upload_id is None:
                    upload_id = await store.start_multipart(
                        key, content_type=content_type, metadata=metadata, tags=tags
                    )
                data = bytes(buffer[:part_size])
                del buffer[:part_size]
                if len(pending) >= PARTS_IN_FLIGHT:
                    parts.append(await pending.popleft())
                number = len(parts) + len(pending) + 1
                pending.append(asyncio.create_task(store.upload_part(key, upload_id, number, data)))
        if declared_length is not None and total != declared_length:
            raise BadRequest(f"the body ended after {total} of the {declared_length} bytes announced")
        if upload_id is None:
            version = await store.put(key, bytes(buffer), content_type=content_type, metadata=metadata, tags=tags)
            return version, total
        while pending:
            parts.append(await pending.popleft())
        if buffer:
            parts.append(await store.upload_part(key, upload_id, len(parts) + 1, bytes(buffer)))
        version = await store.complete_multipart(key, upload_id, parts)
        upload_id = None
        if tags:
            # Ceph RGW 16 drops tags given when a multipart upload starts: set them on the finished version.
            await store.put_tags(key, tags, version)
        return version, total
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if upload_id is not None:
            try:
                await store.abort_multipart(key, upload_id)
            except Exception:
                # The original failure matters more; the bucket's abort-incomplete-uploads rule cleans up later.
                log.exception("could not abort multipart upload %s of %s", upload_id, key)
