"""The async client does what the sync one does, through the same operations."""

from __future__ import annotations

import asyncio
import io
import unicodedata
from collections.abc import AsyncIterator

import pytest
from session_gateway_client import AsyncClient, BadRequest, Client, NotFound, PreconditionFailed

from tests.client.conftest import NAMES
from tests.conftest import Gateway


async def _chunks() -> AsyncIterator[bytes]:
    for chunk in (b"async ", b"chunks"):
        await asyncio.sleep(0)
        yield chunk


async def _round_trip(gateway: Gateway, user: str) -> None:
    async with AsyncClient(gateway.url, gateway.token(user)) as sgw:
        session = await sgw.create_session("async été", tags=["async"])
        sid = session.id
        assert (await sgw.get_session(sid)).name == "async été"
        for index, name in enumerate(NAMES):
            written = await sgw.upload(sid, name, f"{index}".encode(), content_type="text/plain")
            assert written.path == unicodedata.normalize("NFC", name)
            assert await sgw.download(sid, name) == f"{index}".encode()
        from_file = await sgw.upload(sid, "from/file.bin", io.BytesIO(b"y" * 100_000))
        assert from_file.size == 100_000
        await sgw.upload(sid, "from/chunks.txt", _chunks())
        async with sgw.stream_file(sid, "from/chunks.txt") as download:
            assert download.info.size == len(b"async chunks")
            assert b"".join([chunk async for chunk in download.aiter_bytes()]) == b"async chunks"
        assert await sgw.read_range(sid, "from/chunks.txt", 6) == b"chunks"
        paths = [entry.path async for entry in sgw.list_files(sid, limit=3)]
        assert paths == sorted([unicodedata.normalize("NFC", n) for n in NAMES] + ["from/chunks.txt", "from/file.bin"])
        assert [s.id async for s in sgw.list_sessions(tags=["async"], limit=1)] == [sid]
        info = await sgw.file_info(sid, NAMES[3])
        with pytest.raises(PreconditionFailed) as stale:
            await sgw.upload(sid, NAMES[3], b"x", if_match='"0123"')
        assert stale.value.status == 412
        assert (await sgw.upload(sid, NAMES[3], b"x", if_match=info.etag)).size == 1
        with pytest.raises(BadRequest) as refused:
            await sgw.update_session(sid, tags=[""])
        assert refused.value.field == "tags.0"
        await sgw.delete_file(sid, NAMES[0])
        with pytest.raises(NotFound):
            await sgw.file_info(sid, NAMES[0])
        await sgw.delete_session(sid)
        with pytest.raises(NotFound):
            await sgw.get_session(sid)


def test_async_client_round_trips(gateway: Gateway, user: str) -> None:
    asyncio.run(_round_trip(gateway, user))


def test_both_clients_have_the_same_operations() -> None:
    def operations(cls: type) -> set[str]:
        return {name for name in vars(cls) if not name.startswith("_")} - {"close", "aclose"}

    assert operations(Client) == operations(AsyncClient)
