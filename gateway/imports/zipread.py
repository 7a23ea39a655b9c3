"""Reading a spooled zip archive without trusting it.

An archive describes itself twice, in its central directory (at the end) and in a local header before each entry's
data, and any of it may lie. So:

1. Before the directory is parsed, its size and entry count are read from the end record (the one `zipfile` will
   use) and checked against the entry limit: a directory of millions of entries is refused without being read
   into memory.
2. The directory is parsed (`zipfile`), and every entry's declared sizes are checked against the limits: too many
   entries, a file over the upload limit, a total over `GATEWAY_IMPORT_MAX_BYTES`, an entry over 1 MiB that would
   grow more than `GATEWAY_IMPORT_MAX_RATIO` times. Each is a 413 naming the limit, before anything is written.
3. Each entry's local header must name the same file as the directory, and no two entries' data may overlap
   (overlapping entries are how a small archive makes many large files out of the same bytes).
4. Entries are decompressed here, not by `zipfile`, so that what they really hold is counted as it comes out:
   the same limits are enforced on the bytes produced (`Budget`), whatever the headers said. Only stored and
   deflated entries are read; deflate output is drawn at most 1 MiB at a time. Once an entry ends, its size and
   CRC-32 must match the directory, or the archive is damaged (400).

Reads are positional (`os.pread`), so several entries can be read at once from worker threads.
"""

from __future__ import annotations

import asyncio
import stat
import struct
import zipfile
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from gateway.errors import ArchiveLimit, InvalidArchive
from gateway.imports.spool import Spooled, read_at
from gateway.settings import MiB, Settings

STORED, DEFLATED = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
_LOCAL = struct.Struct("<4s5H3L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_UTF8_NAMES = 0x800
_ENCRYPTED = 0x1
# The most room one entry may take in the central directory: 46 fixed bytes, a name of up to a key's 1,024 bytes,
# and generous extra fields. A directory larger than the entry limit can need is refused before it is parsed.
DIRECTORY_BYTES_PER_ENTRY = 2048
# Entries smaller than this are not judged by their compression ratio: they cannot fill anything, and small files
# of repeated bytes legitimately compress hundreds of times.
RATIO_GRACE_BYTES = MiB
OUTPUT_CHUNK = MiB
INPUT_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Limits:
    entries: int
    total_bytes: int
    ratio: int
    entry_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            entries=settings.import_max_entries,
            total_bytes=settings.import_max_bytes,
            ratio=settings.import_max_ratio,
            entry_bytes=settings.max_upload_bytes,
        )


@dataclass(frozen=True)
class Entry:
    """One entry of the central directory, with where its data starts (checked against its local header)."""

    name: str  # decoded as `decode_name` says
    method: int
    flags: int
    external_attr: int
    create_system: int
    crc: int
    compress_size: int
    file_size: int
    header_offset: int
    data_offset: int

    @property
    def mode(self) -> int:
        return self.external_attr >> 16

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)

    @property
    def is_directory(self) -> bool:
        return self.name.endswith("/")

    @property
    def is_special(self) -> bool:
        """A device, pipe or socket, or a folder by its mode that is named like a file: nothing a file is made of."""
        kind = stat.S_IFMT(self.mode)
        return kind not in (0, stat.S_IFREG, stat.S_IFLNK) and not (kind == stat.S_IFDIR and self.is_directory)

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & _ENCRYPTED)


@dataclass(frozen=True)
class Archive:
    spooled: Spooled
    entries: list[Entry]


def decode_name(info: zipfile.ZipInfo) -> str:
    """The entry's name: UTF-8 when flagged so; otherwise UTF-8 when its bytes are valid UTF-8 (many tools write
    UTF-8 without the flag), else code page 437 as the format says."""
    if info.flag_bits & _UTF8_NAMES:
        return info.orig_filename
    raw = info.orig_filename.encode("cp437")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return info.orig_filename


def _raw_name(info: zipfile.ZipInfo) -> bytes:
    return info.orig_filename.encode("utf-8" if info.flag_bits & _UTF8_NAMES else "cp437")


async def read_archive(spooled: Spooled, limits: Limits) -> Archive:
    """The archive's entries, in directory order, once its directory and declared sizes passed every check."""
    return await asyncio.to_thread(_read, spooled, limits)


def _read(spooled: Spooled, limits: Limits) -> Archive:
    count, directory_size = _directory_extent(spooled)
    if count > limits.entries or directory_size > limits.entries * DIRECTORY_BYTES_PER_ENTRY:
        raise _entries_limit(limits)
    try:
        spooled.file.seek(0)
        with zipfile.ZipFile(spooled.file) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, struct.error, EOFError, OverflowError, NotImplementedError) as exc:
        raise InvalidArchive(f"the body is not a zip archive this gateway can read ({exc})") from exc
    if len(infos) > limits.entries:
        raise _entries_limit(limits)
    _check_declared(infos, limits)
    entries = [_entry(spooled, info) for info in infos]
    _check_overlaps(entries, spooled.size)
    return Archive(spooled, entries)


def _entries_limit(limits: Limits) -> ArchiveLimit:
    return ArchiveLimit("entries", limits.entries, f"the archive holds more than {limits.entries} entries")


def _directory_extent(spooled: Spooled) -> tuple[int, int]:
    """(entry count, directory size) from the end records, before anything larger is read.

    They must be the very records `zipfile` will parse the directory from: an archive may hold several records (one
    inside a comment, a zip64 one beside a plain one), and a check made on another record than the parsed one would
    check nothing. So `zipfile`'s own finder is asked (a private function, unchanged in form since Python 3.0).
    """
    spooled.file.seek(0)
    try:
        found = zipfile._EndRecData(spooled.file)  # type: ignore[attr-defined]
    except (OSError, struct.error, zipfile.BadZipFile) as exc:
        raise InvalidArchive(f"the body is not a zip archive ({exc})") from exc
    if not found:
        raise InvalidArchive("the body is not a zip archive (no end of central directory record)")
    return int(found[zipfile._ECD_ENTRIES_TOTAL]), int(found[zipfile._ECD_SIZE])  # type: ignore[attr-defined]


def _check_declared(infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    total = 0
    for info in infos:
        if info.is_dir():
            continue
        name = decode_name(info)
        if info.file_size > limits.entry_bytes:
            raise ArchiveLimit(
                "entry-bytes",
                limits.entry_bytes,
                f"{name!r} says it holds {info.file_size} bytes; files are limited to {limits.entry_bytes} bytes",
                entry=name,
            )
        total += info.file_size
        if total > limits.total_bytes:
            raise ArchiveLimit(
                "total-bytes",
                limits.total_bytes,
                f"the archive's files hold more than {limits.total_bytes} bytes once decompressed",
            )
        if info.file_size > RATIO_GRACE_BYTES and info.file_size > limits.ratio * max(info.compress_size, 1):
            raise _ratio_limit(name, limits)


def _ratio_limit(name: str, limits: Limits) -> ArchiveLimit:
    return ArchiveLimit(
        "ratio",
        limits.ratio,
        f"{name!r} grows more than {limits.ratio} times when decompressed, past the first {RATIO_GRACE_BYTES} bytes",
        entry=name,
    )


def _damaged(name: str, why: str) -> InvalidArchive:
    return InvalidArchive(f"the archive is damaged: {name!r} {why}; nothing was imported", extra={"entry": name})


def _entry(spooled: Spooled, info: zipfile.ZipInfo) -> Entry:
    name = decode_name(info)
    raw_name = _raw_name(info)
    header = read_at(spooled.fd, _LOCAL.size + len(raw_name), info.header_offset)
    if len(header) < _LOCAL.size + len(raw_name) or header[:4] != _LOCAL_SIGNATURE:
        raise _damaged(name, "has no local header where the directory says")
    fields = _LOCAL.unpack_from(header)
    name_length, extra_length = fields[9], fields[10]
    if header[_LOCAL.size :] != raw_name or name_length != len(raw_name):
        raise _damaged(name, "is named differently in its local header")
    return Entry(
        name=name,
        method=info.compress_type,
        flags=info.flag_bits,
        external_attr=info.external_attr,
        create_system=info.create_system,
        crc=info.CRC,
        compress_size=info.compress_size,
        file_size=info.file_size,
        header_offset=info.header_offset,
        data_offset=info.header_offset + _LOCAL.size + name_length + extra_length,
    )


def _check_overlaps(entries: list[Entry], archive_size: int) -> None:
    ordered = sorted(entries, key=lambda entry: entry.header_offset)
    for at, entry in enumerate(ordered):
        following = ordered[at + 1] if at + 1 < len(ordered) else None
        end = entry.data_offset + entry.compress_size
        if end > archive_size:
            raise _damaged(entry.name, "runs past the end of the archive")
        if following is not None and end > following.header_offset:
            raise InvalidArchive(
                f"the data of {entry.name!r} overlaps {following.name!r}: entries may not share bytes; nothing was "
                "imported",
                extra={"entry": entry.name},
            )


class Budget:
    """The bytes produced so far, against the limits. Counted as they come out, since declared sizes may lie."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0

    def take(self, entry: Entry, produced: int, size: int) -> None:
        limits = self.limits
        self.total += size
        if self.total > limits.total_bytes:
            raise ArchiveLimit(
                "total-bytes",
                limits.total_bytes,
                f"the archive's files hold more than {limits.total_bytes} bytes once decompressed (counted while "
                "decompressing: the archive understates its sizes)",
            )
        if produced > limits.entry_bytes:
            raise ArchiveLimit(
                "entry-bytes",
                limits.entry_bytes,
                f"{entry.name!r} holds more than {limits.entry_bytes} bytes (counted while decompressing)",
                entry=entry.name,
            )
        if produced > RATIO_GRACE_BYTES and produced > limits.ratio * max(entry.compress_size, 1):
            raise _ratio_limit(entry.name, limits)


class EntryData:
    """An entry's bytes, decompressed a chunk at a time (blocking: call `next_chunk` from a worker thread)."""

    def __init__(self, spooled: Spooled, entry: Entry) -> None:
        if entry.method not in (STORED, DEFLATED):
            raise ValueError("only stored and deflated entries are read")
        self._fd = spooled.fd
        self._entry = entry
        self._at = entry.data_offset
        self._left = entry.compress_size
        self._inflate = zlib.decompressobj(-zlib.MAX_WBITS) if entry.method == DEFLATED else None
        self._crc = 0
        self.produced = 0
        self.done = entry.compress_size == 0 and entry.method == STORED

    def next_chunk(self) -> bytes:
        """Up to `OUTPUT_CHUNK` bytes; sets `done` once the entry's data has ended."""
        data = self._stored() if self._inflate is None else self._inflated(self._inflate)
        self._crc = zlib.crc32(data, self._crc)
        self.produced += len(data)
        return data

    def finish(self) -> None:
        """After the last chunk: the bytes must be what the directory recorded."""
        if self.produced != self._entry.file_size:
            raise _damaged(self._entry.name, f"holds {self.produced} bytes, not the {self._entry.file_size} recorded")
        if self._crc != self._entry.crc:
            raise _damaged(self._entry.name, "does not match its CRC-32")

    def _raw(self, size: int) -> bytes:
        data = read_at(self._fd, size, self._at)
        if len(data) != size:
            raise _damaged(self._entry.name, "runs past the end of the archive")
        self._at += size
        self._left -= size
        return data

    def _stored(self) -> bytes:
        data = self._raw(min(OUTPUT_CHUNK, self._left))
        self.done = self._left == 0
        return data

    def _inflated(self, inflate: zlib._Decompress) -> bytes:
        while True:
            if inflate.unconsumed_tail:
                source = inflate.unconsumed_tail
            elif self._left:
                source = self._raw(min(INPUT_CHUNK, self._left))
            else:
                raise _damaged(self._entry.name, "ends before its compressed data does")
            try:
                data = inflate.decompress(source, OUTPUT_CHUNK)
            except zlib.error as exc:
                raise _damaged(self._entry.name, f"holds corrupt compressed data ({exc})") from exc
            if inflate.eof:
                if inflate.unused_data or self._left:
                    raise _damaged(self._entry.name, "has more compressed bytes than its data uses")
                self.done = True
                return data
            if data:
                return data


class Stopped(Exception):
    """Reading stopped because another part of the same import failed."""


async def entry_chunks(
    archive: Archive, entry: Entry, budget: Budget, *, stopped: Callable[[], bool] = lambda: False
) -> AsyncIterator[bytes]:
    """An entry's bytes as they are decompressed, within the budget, checked against the directory at the end."""
    data = EntryData(archive.spooled, entry)
    while not data.done:
        if stopped():
            raise Stopped
        chunk = await asyncio.to_thread(data.next_chunk)
        budget.take(entry, data.produced, len(chunk))
        if chunk:
            yield chunk
    data.finish()


async def read_small(archive: Archive, entry: Entry, budget: Budget, *, limit: int, what: str) -> bytes:
    """A whole entry of at most `limit` bytes (the manifest), read through the same checks."""
    if entry.file_size > limit:
        raise ArchiveLimit(f"{what}-bytes", limit, f"{entry.name!r} is larger than {limit} bytes", entry=entry.name)
    parts: list[bytes] = []
    size = 0
    async for chunk in entry_chunks(archive, entry, budget):
        size += len(chunk)
        if size > limit:
            raise ArchiveLimit(f"{what}-bytes", limit, f"{entry.name!r} is larger than {limit} bytes", entry=entry.name)
        parts.append(chunk)
    return b"".join(parts)
