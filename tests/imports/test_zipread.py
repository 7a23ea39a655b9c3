"""The zip reader on its own: what it judges from an archive's end records, before the directory is parsed."""

from __future__ import annotations

import asyncio
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from gateway.errors import ArchiveLimit, InvalidArchive
from gateway.imports.spool import Spooled
from gateway.imports.zipread import Archive, Budget, Limits, entry_chunks, read_archive
from tests.imports.zips import honest_zip

LIMITS = Limits(entries=100, total_bytes=1 << 20, ratio=50, entry_bytes=1 << 20)


@contextmanager
def spooled(data: bytes) -> Iterator[Spooled]:
    with tempfile.TemporaryFile() as file:
        file.write(data)
        file.flush()
        yield Spooled(file, len(data))


def _read(data: bytes, limits: Limits = LIMITS) -> Archive:
    with spooled(data) as body:
        return asyncio.run(read_archive(body, limits))


def _zip64(data: bytes) -> bytes:
    """The same archive with its end record moved into zip64 records, the plain one saying "see zip64"."""
    end_at = data.rindex(b"PK\x05\x06")
    _sig, _disk, _cd_disk, _here, count, size, offset, _comment = struct.unpack_from("<4s4H2LH", data, end_at)
    zip64_end = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, end_at, 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return data[:end_at] + zip64_end + locator + end


def test_zip64_end_records_are_read() -> None:
    files = {f"n/{n}.txt": b"x%d" % n for n in range(5)}
    archive = _read(_zip64(honest_zip(files)))
    assert [entry.name for entry in archive.entries] == list(files)


@pytest.mark.parametrize("zip64", [False, True])
def test_a_directory_claiming_too_many_entries_is_refused_before_it_is_parsed(zip64: bool) -> None:
    data = honest_zip({"a.txt": b"a"})
    end_at = data.rindex(b"PK\x05\x06")
    if zip64:
        data = _zip64(data)
        at = data.rindex(b"PK\x06\x06")
        patched = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, 10**9, 10**9, 1, 0)
        data = data[:at] + patched + data[at + len(patched) :]
    else:
        count, size = 0xFFFE, 100
        data = data[:end_at] + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, size, 0, 0)
    with pytest.raises(ArchiveLimit) as refused:
        _read(data)
    assert refused.value.extra["limit"] == "entries" and refused.value.extra["limit_value"] == 100


def test_a_directory_larger_than_the_entry_limit_can_need_is_refused() -> None:
    data = honest_zip({"a.txt": b"a"})
    end_at = data.rindex(b"PK\x05\x06")
    huge = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, 100 * 2048 + 1, 0, 0)
    with pytest.raises(ArchiveLimit):
        _read(data[:end_at] + huge)


def test_the_end_record_checked_is_the_one_the_directory_is_parsed_from() -> None:
    # A second end record hidden in the comment: `zipfile` takes the last one, so the check must judge that one.
    data = honest_zip({"a.txt": b"a"})
    fake = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 60000, 60000, 1, 0, 0)
    with pytest.raises(ArchiveLimit):
        _read(data[:-2] + struct.pack("<H", len(fake)) + fake)
    harmless = data[:-2] + struct.pack("<H", 7) + b"comment"
    assert [entry.name for entry in _read(harmless).entries] == ["a.txt"]


def test_names_are_utf8_when_flagged_or_valid_and_cp437_otherwise() -> None:
    data = honest_zip({"é.txt": b"1"})  # zipfile flags non-ASCII names as UTF-8
    assert [entry.name for entry in _read(data).entries] == ["é.txt"]
    unflagged = data.replace(b"\x00\x08", b"\x00\x00")  # clear the flag in both headers (general purpose bits)
    assert [entry.name for entry in _read(unflagged).entries] == ["é.txt"]
    latin = unflagged.replace("é".encode(), b"\x82\x82")  # not UTF-8: code page 437, where 0x82 is é
    assert [entry.name for entry in _read(latin).entries] == ["éé.txt"]


def test_entries_are_counted_as_they_are_decompressed() -> None:
    data = honest_zip({"z.bin": bytes(2 << 20)}, compression=zipfile.ZIP_DEFLATED)
    generous = Limits(entries=10, total_bytes=10 << 20, ratio=10_000, entry_bytes=10 << 20)
    with spooled(data) as body:
        archive = asyncio.run(read_archive(body, generous))
        budget = Budget(Limits(entries=10, total_bytes=1 << 20, ratio=10_000, entry_bytes=10 << 20))

        async def drain() -> int:
            return sum([len(chunk) async for chunk in entry_chunks(archive, archive.entries[0], budget)])

        with pytest.raises(ArchiveLimit) as refused:
            asyncio.run(drain())
    assert refused.value.extra["limit"] == "total-bytes"
    assert budget.total <= (1 << 20) + (1 << 20)  # stopped within one chunk of the limit


def test_not_a_zip() -> None:
    for data in (b"", b"PK", b"hello world" * 10):
        with pytest.raises(InvalidArchive):
            _read(data)
