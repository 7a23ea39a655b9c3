"""A request's bytes cut into parts of one size and sent to the upload's S3 multipart upload as they arrive.

S3 wants every part but the last to be at least 5 MiB, while tus clients send chunks of any size: bytes are
gathered until a whole part is there, which is sent while the next one is read (at most two in flight, so memory
stays at a few parts whatever the file size). What is left at the end of a request that does not finish the file
(less than a part) is the caller's to keep as a tail. Each part carries its MD5 (and, where the request signature
covers the bytes, its SHA-256), so S3 refuses bytes damaged on the way; the MD5s also make the multipart ETag the
completion checks.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque

from gateway.resumable.state import Part
from gateway.storage.store import Store
from gateway.storage.uploads import HASH_INLINE_BYTES, PARTS_IN_FLIGHT, take


class Parts:
    """Bytes of one request, sent as parts numbered on from `first`."""

    def __init__(self, store: Store, key: str, upload_id: str, part_size: int, first: int) -> None:
        self._store = store
        self._key = key
        self._upload_id = upload_id
        self._part_size = part_size
        self._next = first
        self._received: deque[bytes | memoryview] = deque()
        self._buffered = 0
        self._pending: deque[asyncio.Task[Part]] = deque()
        self._sent: list[Part] = []

    async def add(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._received.append(chunk)
        self._buffered += len(chunk)
        while self._buffered >= self._part_size:
            self._buffered -= self._part_size
            await self._send(take(self._received, self._part_size))

    def rest(self) -> bytes:
        """What is left after the last whole part (less than a part), taken out."""
        data = take(self._received, self._buffered)
        self._buffered = 0
        return data

    async def send_rest(self) -> None:
        """Send what is left as the upload's last part (S3 takes a last part of any size)."""
        data = self.rest()
        if data:
            await self._send(data)

    async def finish(self) -> list[Part]:
        """Every part sent, in order, once S3 has them all."""
        while self._pending:
            self._sent.append(await self._pending.popleft())
        return self._sent

    async def cancel(self) -> None:
        for task in self._pending:
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        self._pending.clear()

    async def _send(self, data: bytes) -> None:
        number, self._next = self._next, self._next + 1
        if len(self._pending) >= PARTS_IN_FLIGHT:
            self._sent.append(await self._pending.popleft())
        self._pending.append(asyncio.create_task(self._upload(number, data)))

    async def _upload(self, number: int, data: bytes) -> Part:
        signed = self._store.signs_payloads
        if len(data) < HASH_INLINE_BYTES:
            md5, sha256 = _digests(data, signed)
        else:
            md5, sha256 = await asyncio.to_thread(_digests, data, signed)
        sent = await self._store.upload_part(
            self._key, self._upload_id, number, data, content_md5=md5, sha256_hex=sha256
        )
        return Part(number, str(sent["ETag"]), len(data), md5.hex())


def _digests(data: bytes, signed: bool) -> tuple[bytes, str | None]:
    md5 = hashlib.md5(data, usedforsecurity=False).digest()
    return md5, hashlib.sha256(data).hexdigest() if signed else None
