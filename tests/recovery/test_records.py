"""A snapshot's record and manifest read back exactly as written, whatever the chunks the bytes arrive in; a damaged
one is a `DamagedRecord`, never a crash."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.errors import DamagedRecord, InvalidBody
from gateway.recovery.records import (
    READY,
    PendingRestore,
    SavedFile,
    SnapshotRecord,
    check_name,
    decode,
    encode,
    manifest_lines,
)

FILES = [
    SavedFile(
        path=path,
        version_id=f"v{index}",
        size=index * 10,
        etag='"abc"',
        last_modified="2026-11-21T10:00:00Z",
        sha256="0" * 64 if index % 2 else None,
        tier="standard",
        content_type="text/plain; charset=utf-8",
        copy=index,
        copy_version=None,
        tags={"tier": "standard"},
    )
    for index, path in enumerate(["e\u0301te\u0301.txt", "数据/报告.md", "emoji/🎉 party.txt", "100%.txt", "a\nb"])
]


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _read(data: bytes, size: int) -> list[SavedFile]:
    return [saved async for saved in manifest_lines(_chunks(data, size))]


@pytest.mark.parametrize("size", [1, 3, 7, 64, 10_000])
def test_a_manifest_reads_back_whatever_the_chunks(size: int) -> None:
    data = b"".join(saved.to_line() for saved in FILES)
    assert asyncio.run(_read(data, size)) == FILES
    assert asyncio.run(_read(data.rstrip(b"\n"), size)) == FILES  # a last line without its newline


def test_a_damaged_manifest_line_is_a_damaged_record() -> None:
    data = FILES[0].to_line() + b'{"path": 1}\n'
    with pytest.raises(DamagedRecord):
        asyncio.run(_read(data, 5))
    with pytest.raises(DamagedRecord):
        asyncio.run(_read(b'{"path": "x", "size": NaN}\n', 5))


def test_a_record_round_trips_and_refuses_damage() -> None:
    record = SnapshotRecord(
        name="auto-20261121T100000000000Z-restore-abcdef",
        created_at="2026-11-21T10:00:00Z",
        state=READY,
        prefix="dossier/",
        reason="before-restore",
        paths=("dossier/a é.txt",),
        expires_at="2026-11-28T10:00:00Z",
        file_count=3,
        bytes=42,
        record_version="v1",
        restore=PendingRestore(at="2026-11-20T10:00:00Z", snapshot=None, prefix="dossier/"),
    )
    assert decode("k", encode(record)) == record
    for damaged in [b"[]", b'{"name": 1}', b"not json", encode(record).replace(b'"bytes":42', b'"bytes":-1')]:
        with pytest.raises(DamagedRecord):
            decode("k", damaged)


@pytest.mark.parametrize("name", ["a", "v2.0_final-1", "A" * 64])
def test_names_that_are_accepted(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", ".a", "é", "e\u0301", "🎉", "a%b", "a b", "a/b", "A" * 65, "auto-x"])
def test_names_that_are_refused(name: str) -> None:
    with pytest.raises(InvalidBody):
        check_name(name)
