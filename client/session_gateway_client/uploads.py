"""What an upload's bytes may come from, turned into what httpx streams: never read into memory as a whole.

`bytes` are sent as they are; a binary file object (anything with `read`) is read a chunk at a time, with a
Content-Length when it can seek (what is left from its current position); an iterable of byte chunks is sent with
chunked transfer encoding. The async client also takes async iterables, and reads file objects in a thread so the
event loop never waits on a disk.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Protocol, runtime_checkable

CHUNK_BYTES = 1 << 20


@runtime_checkable
class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


Body = bytes | bytearray | memoryview | Readable | Iterable[bytes] | AsyncIterable[bytes]
Headers = dict[str, str]


def _checked(chunk: object) -> bytes:
    if not isinstance(chunk, bytes | bytearray | memoryview):
        raise TypeError(f"upload chunks must be bytes, not {type(chunk).__name__} (open files in binary mode)")
    return bytes(chunk)


def _remaining(reader: Readable) -> int | None:
    """Bytes left from the reader's position, when it can tell without reading; else None (sent chunked)."""
    seekable = getattr(reader, "seekable", None)
    tell, seek = getattr(reader, "tell", None), getattr(reader, "seek", None)
    if not callable(seekable) or not callable(tell) or not callable(seek) or not seekable():
        return None
    here = int(tell())
    end = int(seek(0, 2))
    seek(here)
    return max(end - here, 0)


def _length_header(length: int | None) -> Headers:
    return {} if length is None else {"Content-Length": str(length)}


def _read_chunks(reader: Readable) -> Iterator[bytes]:
    while chunk := _checked(reader.read(CHUNK_BYTES)):
        yield chunk


def sync_content(body: Body) -> tuple[Headers, bytes | Iterator[bytes]]:
    if isinstance(body, bytes | bytearray | memoryview):
        return {}, bytes(body)
    if isinstance(body, Readable):
        return _length_header(_remaining(body)), _read_chunks(body)
    if isinstance(body, AsyncIterable):
        raise TypeError("an async iterable needs the AsyncClient")
    return {}, (_checked(chunk) for chunk in body)


async def _read_chunks_in_thread(reader: Readable) -> AsyncIterator[bytes]:
    while chunk := _checked(await asyncio.to_thread(reader.read, CHUNK_BYTES)):
        yield chunk


async def _async_chunks(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield _checked(chunk)


async def _sync_chunks(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield _checked(chunk)


def async_content(body: Body) -> tuple[Headers, bytes | AsyncIterator[bytes]]:
    if isinstance(body, bytes | bytearray | memoryview):
        return {}, bytes(body)
    if isinstance(body, Readable):
        return _length_header(_remaining(body)), _read_chunks_in_thread(body)
    if isinstance(body, AsyncIterable):
        return {}, _async_chunks(body)
    return {}, _sync_chunks(body)
