"""A request body spooled to an anonymous temporary file, never held in memory.

A zip archive's central directory, the list of what it holds, is at its end, so nothing can be judged before the
whole body has arrived. The body is written to a file that has no name (`tempfile.TemporaryFile`: removed by the
system when closed, or when the process dies), in the directory `TMPDIR` names, and is bounded by
`GATEWAY_MAX_UPLOAD_BYTES` as it arrives. Writes go through a worker thread a batch at a time, so the event loop
never waits on the disk.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import BinaryIO

from gateway.errors import BadRequest, PayloadTooLarge

# Bytes gathered before one write to disk: few thread hops, little memory.
WRITE_BATCH = 1024 * 1024


@dataclass(frozen=True)
class Spooled:
    """A spooled body: its file (read it with `os.pread` on `fd`, safe from several threads) and its size."""

    file: BinaryIO
    size: int

    @property
    def fd(self) -> int:
        return self.file.fileno()


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the archive is larger than the {limit}-byte upload limit", extra={"limit_bytes": limit})


@asynccontextmanager
async def spooled(chunks: AsyncIterator[bytes], *, limit: int, declared_length: int | None) -> AsyncIterator[Spooled]:
    """Write `chunks` to a temporary file, at most `limit` bytes; the file is gone when the block ends."""
    if declared_length is not None and declared_length > limit:
        raise _too_large(limit)
    file = await asyncio.to_thread(_anonymous_file)
    try:
        size = 0
        batch: list[bytes] = []
        batched = 0
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            batch.append(chunk)
            batched += len(chunk)
            if batched >= WRITE_BATCH:
                await asyncio.to_thread(file.write, b"".join(batch))
                batch, batched = [], 0
        if batch:
            await asyncio.to_thread(file.write, b"".join(batch))
        if declared_length is not None and size != declared_length:
            raise BadRequest(f"the body ended after {size} of the {declared_length} bytes announced")
        await asyncio.to_thread(file.flush)
        yield Spooled(file, size)
    finally:
        await asyncio.to_thread(file.close)


def _anonymous_file() -> BinaryIO:
    return tempfile.TemporaryFile(mode="w+b", prefix="gateway-import-")


def read_at(fd: int, size: int, offset: int) -> bytes:
    """Exactly `size` bytes at `offset`, or fewer where the file ends (callers treat that as a damaged archive)."""
    return os.pread(fd, size, offset)
