"""Zip archives for the import tests: honest ones made by `zipfile`, and ones written byte by byte that say what
their makers want them to say (lying sizes, symlinks, damaged data)."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass


def honest_zip(files: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return out.getvalue()


@dataclass
class Raw:
    """One entry as it will be written: `data` as stored (already compressed for method 8), every field chosen."""

    name: bytes
    data: bytes
    method: int = zipfile.ZIP_STORED
    crc: int | None = None  # default: the CRC-32 of `plain`
    plain: bytes | None = None  # the uncompressed bytes (default `data`)
    file_size: int | None = None  # default: len(plain)
    external_attr: int = (stat.S_IFREG | 0o644) << 16
    flags: int = 0x800  # names are UTF-8
    create_system: int = 3  # Unix

    @classmethod
    def deflated(cls, name: str, plain: bytes, **fields: object) -> Raw:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = compressor.compress(plain) + compressor.flush()
        return cls(name.encode(), data, method=zipfile.ZIP_DEFLATED, plain=plain, **fields)  # type: ignore[arg-type]

    @classmethod
    def stored(cls, name: str, data: bytes, **fields: object) -> Raw:
        return cls(name.encode(), data, **fields)  # type: ignore[arg-type]

    @classmethod
    def symlink(cls, name: str, target: str) -> Raw:
        return cls(name.encode(), target.encode(), external_attr=(stat.S_IFLNK | 0o777) << 16)


def raw_zip(entries: list[Raw]) -> bytes:
    """A zip whose directory says exactly what each `Raw` says, true or not."""
    body = bytearray()
    directory = bytearray()
    for entry in entries:
        plain = entry.data if entry.plain is None else entry.plain
        crc = zlib.crc32(plain) if entry.crc is None else entry.crc
        size = len(plain) if entry.file_size is None else entry.file_size
        offset = len(body)
        body += struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, entry.flags, entry.method, 0, 0x21, crc, len(entry.data), size,
            len(entry.name), 0,
        )  # fmt: skip
        body += entry.name + entry.data
        directory += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", (entry.create_system << 8) | 20, 20, entry.flags, entry.method, 0, 0x21,
            crc, len(entry.data), size, len(entry.name), 0, 0, 0, 0, entry.external_attr, offset,
        )  # fmt: skip
        directory += entry.name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), len(body), 0)
    return bytes(body + directory + end)
