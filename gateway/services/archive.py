"""A zip of a snapshot's files, made as it is sent: constant memory, Zip64 only where needed (zipstream-ng).

The zip is produced entry by entry while the snapshot is still being listed, so its first bytes leave after one
listing page and one download, not after the whole session was read. Downloads run ahead of the entry being
written (`FETCH_WIDTH` at once): a small file (up to `SMALL_BYTES`) is read whole ahead of time, a larger one only
opened, and streamed when its turn comes. Memory is therefore about `FETCH_WIDTH` small files plus one redacted
text, whatever the session's size.

Entries are stored, not compressed: session files are mostly compressed already (images, archives, models), and
deflating would make the gateway's CPU, not the network, set the pace. Every entry's SHA-256 is computed from the
bytes written, so the manifest describes exactly what the zip holds.

zipstream-ng writes one entry at a time from an iterable of chunks (`ZipStream.add` and `ZipStream.file`); here
each chunk read from S3 is handed to it as it arrives (`_Feed`), and what it makes of the chunk comes straight
back, so nothing waits for the whole file. Large chunks are hashed (SHA-256 for the manifest, CRC-32 for the zip)
in a worker thread while the event loop receives the next chunk and sends the previous one: on two cores that
is what keeps the zip close to the speed of a plain download.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from zipstream import ZipStream

from gateway.errors import ObjectMissing, StoreError
from gateway.ordered import ordered
from gateway.services.manifest import (
    MANIFEST_NAME,
    NOT_SCANNED_BINARY,
    NOT_SCANNED_TOO_LARGE,
    Manifest,
    Names,
    Request,
    entry_name,
)
from gateway.services.redaction import Redactor, as_text
from gateway.services.snapshot import SnapshotFile
from gateway.storage.store import ObjectStream, Store

# Downloads opened (or, for small files, read) ahead of the entry being written.
FETCH_WIDTH = 8
SMALL_BYTES = 256 * 1024
# Pieces of the zip smaller than this are gathered before they are handed on: a response message per zip header
# would cost more than the header.
OUTPUT_BYTES = 64 * 1024
# Chunks at least this large are hashed in a worker thread, alongside the network work of the event loop.
HASH_THREAD_BYTES = 64 * 1024
# Texts larger than this are redacted in a worker thread, so the event loop keeps serving other requests.
REDACT_INLINE_BYTES = 64 * 1024


@dataclass
class _Fetched:
    file: SnapshotFile
    data: bytes | None = None  # the whole file, read ahead
    stream: ObjectStream | None = None  # opened, to be streamed when its turn comes
    missing: bool = False

    def release(self) -> None:
        if self.stream is not None:
            self.stream.close()


class _Feed:
    """One entry's data, given to zipstream-ng's writer one chunk at a time.

    The writer takes a chunk each time it is resumed and hands back what it made of it before asking for more; if
    it ever asked twice, the zip would be wrong, so that is an error rather than a guess.
    """

    def __init__(self) -> None:
        self._chunk: bytes | None = None
        self._ended = False

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> bytes:
        chunk = self._chunk
        if chunk is not None:
            self._chunk = None
            return chunk
        if self._ended:
            raise StopIteration
        raise RuntimeError("the zip writer asked for data before the last chunk was handed over")

    def give(self, chunk: bytes) -> None:
        self._chunk = chunk

    def end(self) -> None:
        self._ended = True

    @property
    def holding(self) -> bool:
        return self._chunk is not None


class _Output:
    """Gathers small pieces of the zip into larger ones; large pieces pass through without a copy."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self._size = 0
        self.sent = 0

    def add(self, piece: bytes) -> list[bytes]:
        ready: list[bytes] = []
        if len(piece) >= OUTPUT_BYTES:
            ready += self.flush()
            ready.append(piece)
        elif piece:
            self._pieces.append(piece)
            self._size += len(piece)
            if self._size >= OUTPUT_BYTES or not self.sent:  # the first bytes leave at once
                ready += self.flush()
        self.sent += sum(len(part) for part in ready)
        return ready

    def flush(self) -> list[bytes]:
        if not self._pieces:
            return []
        joined = b"".join(self._pieces)
        self._pieces, self._size = [], 0
        return [joined]

    def finish(self) -> list[bytes]:
        ready = self.flush()
        self.sent += sum(len(part) for part in ready)
        return ready


class ArchiveWriter:
    """Zips snapshots: one instance per process, shared by every export."""

    def __init__(
        self,
        store: Store,
        *,
        redactor: Redactor,
        redact_max_bytes: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._redactor = redactor
        self._redact_max_bytes = redact_max_bytes
        self._clock = clock

    @property
    def redaction_kinds(self) -> tuple[str, ...]:
        return tuple(self._redactor.kinds)

    async def zip(
        self, files: AsyncIterator[SnapshotFile], request: Request, *, expected: list[str] | None = None
    ) -> AsyncGenerator[bytes, None]:
        """The zip of `files`, then `manifest.json`. `expected` are paths asked for by name: those not among
        `files` are listed in the manifest as not found."""
        manifest = Manifest(request, self._clock())
        names = Names()
        missing = dict.fromkeys(expected or [])
        stream = ZipStream(sized=False)
        output = _Output()

        # Closed explicitly: `async for` leaves an iterator it stops early to the garbage collector, and this one
        # holds open downloads and a task reading ahead.
        fetching = ordered(files, self._fetch, width=FETCH_WIDTH, discard=_Fetched.release)
        entries = self._entries(fetching, stream, manifest, names, missing, request)
        async with contextlib.aclosing(fetching), contextlib.aclosing(entries):
            async for piece in entries:
                for ready in output.add(piece):
                    yield ready
        stream.add(manifest.render(list(missing)), names.claim(MANIFEST_NAME))
        for piece in stream.file():
            for ready in output.add(piece):
                yield ready
        for piece in stream.footer():
            for ready in output.add(piece):
                yield ready
        for ready in output.finish():
            yield ready

    async def _entries(
        self,
        fetching: AsyncIterator[_Fetched],
        stream: ZipStream,
        manifest: Manifest,
        names: Names,
        missing: dict[str, None],
        request: Request,
    ) -> AsyncGenerator[bytes, None]:
        async for fetched in fetching:
            file = fetched.file
            missing.pop(file.path, None)
            if fetched.missing:
                manifest.skip(file.path, file.version_id, "removed while the export was made")
                continue
            name = entry_name(file.path)
            if name is None:
                fetched.release()
                manifest.skip(file.path, file.version_id, "no safe name in a zip")
                continue
            name = names.claim(name)
            if fetched.stream is not None and fetched.data is None:
                async with contextlib.aclosing(self._streamed(stream, name, fetched.stream, file, manifest)) as body:
                    async for piece in body:
                        yield piece
            else:
                assert fetched.data is not None
                for piece in await self._whole(stream, name, fetched.data, file, manifest, redact=request.redact):
                    yield piece

    async def _fetch(self, file: SnapshotFile) -> _Fetched:
        try:
            opened = await self._store.get(file.key, version_id=file.version_id)
        except ObjectMissing:
            return _Fetched(file, missing=True)
        read_whole = opened.content_length <= SMALL_BYTES
        if not read_whole:
            return _Fetched(file, stream=opened)
        try:
            return _Fetched(file, data=await _read(opened))
        except BaseException:
            opened.close()
            raise

    async def _whole(
        self, stream: ZipStream, name: str, data: bytes, file: SnapshotFile, manifest: Manifest, *, redact: bool
    ) -> list[bytes]:
        original = hashlib.sha256(data).hexdigest()
        written, replaced, not_scanned = data, None, None
        if redact:
            if len(data) > self._redact_max_bytes:
                not_scanned = NOT_SCANNED_TOO_LARGE
            else:
                text = as_text(data)
                if text is None:
                    not_scanned = NOT_SCANNED_BINARY
                else:
                    if len(data) > REDACT_INLINE_BYTES:
                        redacted = await asyncio.to_thread(self._redactor.redact, text)
                    else:
                        redacted = self._redactor.redact(text)
                    replaced = redacted.replaced
                    if replaced:
                        written = redacted.text.encode("utf-8")
        sha256 = original if written is data else hashlib.sha256(written).hexdigest()
        changed = (len(data), original) if written is not data else None
        manifest.add(
            file, name, size=len(written), sha256=sha256, original=changed, replaced=replaced, not_scanned=not_scanned
        )
        stream.add(written, name)
        return list(stream.file())

    async def _streamed(
        self, stream: ZipStream, name: str, body: ObjectStream, file: SnapshotFile, manifest: Manifest
    ) -> AsyncGenerator[bytes, None]:
        """A file too large to read ahead; read whole first if it is to be scanned for secrets."""
        if manifest.request.redact and body.content_length <= self._redact_max_bytes:
            data = await _read(body)
            for piece in await self._whole(stream, name, data, file, manifest, redact=True):
                yield piece
            return
        feed = _Feed()
        stream.add(feed, name, size=body.content_length)
        writer = stream.file()
        digest = hashlib.sha256()
        received = 0

        def step(chunk: bytes) -> list[bytes]:
            # SHA-256 and the zip's CRC-32 of one chunk: hashlib and zlib let go of the GIL for large buffers.
            digest.update(chunk)
            feed.give(chunk)
            pieces = []
            while feed.holding:
                pieces.append(next(writer))
            return pieces

        # A chunk is hashed in a worker thread while the next one arrives from S3 and the last one goes out.
        hashing: asyncio.Future[list[bytes]] | None = None
        try:
            async for chunk in body.body:
                received += len(chunk)
                if hashing is not None:
                    for piece in await hashing:
                        yield piece
                    hashing = None
                if len(chunk) >= HASH_THREAD_BYTES:
                    hashing = asyncio.ensure_future(asyncio.to_thread(step, chunk))
                else:
                    for piece in step(chunk):
                        yield piece
            if hashing is not None:
                for piece in await hashing:
                    yield piece
                hashing = None
            if received != body.content_length:
                raise StoreError(f"the storage backend sent {received} of the {body.content_length} bytes of a file")
            feed.end()
            for piece in writer:
                yield piece
        finally:
            if hashing is not None:  # the thread must be done with the writer before it is closed
                await asyncio.gather(hashing, return_exceptions=True)
            writer.close()
            body.close()
        not_scanned = NOT_SCANNED_TOO_LARGE if manifest.request.redact else None
        manifest.add(file, name, size=received, sha256=digest.hexdigest(), not_scanned=not_scanned)


async def _read(opened: ObjectStream) -> bytes:
    pieces = [chunk async for chunk in opened.body]
    data = b"".join(pieces)
    if len(data) != opened.content_length:
        raise StoreError(f"the storage backend sent {len(data)} of the {opened.content_length} bytes of a file")
    return data
