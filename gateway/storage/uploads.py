"""Streaming a request body into one S3 object without buffering it whole.

Bodies up to the multipart threshold become one PUT. Larger ones become a multipart upload whose parts are sent
while the next part is read, so memory stays at a few parts whatever the file size. Any failure (a body over
the limit, a client that hangs up, a digest that does not match, a store error) aborts the multipart upload: S3
only makes an object visible on completion, so nothing partial ever appears.

The body's SHA-256 and each part's own digest are computed as the bytes pass, a whole part at a time in a worker
thread (hashlib releases the GIL), so the event loop reads the next part while the previous one is hashed and the
one before is sent. The SHA-256 goes into the object's metadata when it is known before the object is created (a
single PUT, or a digest the client announced), and always into its tags, which can be set after a multipart
upload completes. S3 refuses bytes damaged on the way: every single PUT carries `Content-MD5`, and every part
either its MD5 or, where the request signature covers the bytes (plain HTTP), its SHA-256. Parts are cut from
the received chunks with one copy each.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import BadRequest, PayloadTooLarge
from gateway.storage.digests import Expected, Hashing, PartDigest, multipart_etag, single_etag
from gateway.storage.store import ObjectInfo, Store

log = logging.getLogger(__name__)
MAX_PARTS = 10_000
# Parts sent while the next one is read: enough to keep the link to S3 busy, few enough that memory stays at a
# handful of parts whatever the file size.
PARTS_IN_FLIGHT = 2
# Parts smaller than this are hashed on the event loop: a thread hop would cost more.
HASH_INLINE_BYTES = 256 * 1024
SHA256_METADATA = "gateway-sha256"
SHA256_TAG = "sha256"

# Decides, once the whole body has been read and hashed, that nothing should be stored (dedup).
SkipWhen = Callable[[str], Awaitable[bool]]


@dataclass(frozen=True)
class Uploaded:
    """What one streamed upload stored, or (`skipped`) why nothing was."""

    version_id: str | None
    size: int
    sha256: str
    # What S3 reported: the whole `ObjectInfo` for a single PUT; None after a multipart upload (the caller HEADs).
    reported: ObjectInfo | None
    # The ETag S3 makes from these bytes when it stores them as they are (not under SSE-KMS); None when the parts
    # carried no MD5 because S3 checked each one against its signed SHA-256 instead.
    expected_etag: str | None
    skipped: bool = False


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
    tags: Mapping[str, str],
    declared_length: int | None,
    max_bytes: int,
    threshold: int,
    expected: Expected | None = None,
    skip_when: SkipWhen | None = None,
) -> Uploaded:
    """Write `chunks` to `key`, checking them against `expected` before anything becomes visible."""
    expected = expected or Expected()
    if declared_length is not None and declared_length > max_bytes:
        raise _too_large(max_bytes)
    part_size = part_size_for(declared_length if declared_length is not None else max_bytes, threshold)
    hashing = Hashing(check_md5=expected.md5 is not None)
    received: deque[bytes | memoryview] = deque()
    size = buffered = 0
    upload_id: str | None = None
    parts: list[dict[str, Any]] = []
    pending: deque[asyncio.Task[dict[str, Any]]] = deque()
    # The last part's hashing: the next part's waits for it, since the whole-body digests take parts in order.
    hashed: asyncio.Task[PartDigest] | None = None
    announced = {SHA256_METADATA: expected.sha256.hex()} if expected.sha256 is not None else {}

    async def digest(data: bytes, after: asyncio.Task[PartDigest] | None, *, signed: bool) -> PartDigest:
        if after is not None:
            await after
        if len(data) < HASH_INLINE_BYTES:
            return hashing.add_part(data, signed=signed)
        return await asyncio.to_thread(hashing.add_part, data, signed=signed)

    async def upload(number: int, data: bytes, hashing_done: asyncio.Task[PartDigest]) -> dict[str, Any]:
        assert upload_id is not None
        part = await hashing_done
        return await store.upload_part(key, upload_id, number, data, content_md5=part.md5, sha256_hex=part.sha256_hex)

    async def send_part(data: bytes) -> None:
        nonlocal upload_id, hashed
        if upload_id is None:
            upload_id = await store.start_multipart(
                key, content_type=content_type, metadata={**metadata, **announced}, tags=tags
            )
        if len(pending) >= PARTS_IN_FLIGHT:
            parts.append(await pending.popleft())
        number = len(parts) + len(pending) + 1
        hashed = asyncio.create_task(digest(data, hashed, signed=store.signs_payloads))
        pending.append(asyncio.create_task(upload(number, data, hashed)))

    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(max_bytes)
            received.append(chunk)
            buffered += len(chunk)
            while buffered >= part_size:
                buffered -= part_size
                await send_part(take(received, part_size))
        if declared_length is not None and size != declared_length:
            raise BadRequest(f"the body ended after {size} of the {declared_length} bytes announced")
        tail = take(received, buffered)
        whole: PartDigest | None = None
        if upload_id is None:
            # A single PUT always carries its MD5: it is the ETag S3 will report, checked by the write step.
            whole = await digest(tail, None, signed=False)
        else:
            if tail:
                await send_part(tail)
            assert hashed is not None
            await hashed
        hashing.check(expected)
        sha256 = hashing.sha256.hexdigest()
        if skip_when is not None and await skip_when(sha256):
            return Uploaded(None, size, sha256, None, "", skipped=True)
        all_tags = {**tags, SHA256_TAG: sha256}
        if whole is not None:
            assert whole.md5 is not None
            reported = await store.put(
                key,
                tail,
                content_type=content_type,
                metadata={**metadata, SHA256_METADATA: sha256},
                tags=all_tags,
                content_md5=whole.md5,
                sha256_hex=sha256,  # a single PUT's payload is the whole body
            )
            return Uploaded(reported.version_id, size, sha256, reported, single_etag(whole.md5))
        while pending:
            parts.append(await pending.popleft())
        assert upload_id is not None
        version = await store.complete_multipart(key, upload_id, parts)
        upload_id = None
        # The SHA-256 is known only now, and Ceph RGW 16 drops tags given when a multipart upload starts.
        await store.put_tags(key, all_tags, version)
        expected_etag = multipart_etag(hashing.part_md5s) if hashing.part_md5s is not None else None
        return Uploaded(version, size, sha256, None, expected_etag)
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, *([hashed] if hashed else []), return_exceptions=True)
        if upload_id is not None:
            try:
                await store.abort_multipart(key, upload_id)
            except Exception:
                # The original failure matters more; the bucket's abort-incomplete-uploads rule cleans up later.
                log.exception("could not abort multipart upload %s of %s", upload_id, key)


def take(received: deque[bytes | memoryview], size: int) -> bytes:
    """The first `size` bytes of `received` as one object (the only copy), leaving the rest in `received`."""
    taken: list[bytes | memoryview] = []
    count = 0
    while count < size:
        piece = received.popleft()
        room = size - count
        if len(piece) > room:
            view = memoryview(piece)
            received.appendleft(view[room:])
            piece = view[:room]
        taken.append(piece)
        count += len(piece)
    if len(taken) == 1 and isinstance(taken[0], bytes):
        return taken[0]
    return b"".join(taken)
