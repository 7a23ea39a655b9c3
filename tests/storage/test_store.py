"""The store adapter against real S3 servers: error mapping, bulk deletes, copies, version order."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from gateway import errors
from gateway.settings import MiB
from gateway.storage.store import Store
from tests.conftest import Backend, gateway_settings


def _run(backend: Backend, scenario: Any, **store_args: Any) -> Any:
    settings = gateway_settings(backend, backend.new_bucket())

    async def main() -> Any:
        async with Store(settings, credentials=backend.credentials, **store_args) as store:
            return await scenario(store)

    return asyncio.run(main())


def test_missing_objects_and_versions_map_to_not_found(backend: Backend) -> None:
    async def scenario(store: Store) -> None:
        with pytest.raises(errors.ObjectMissing):
            await store.head("nothing")
        with pytest.raises(errors.ObjectMissing):
            await store.get("nothing")
        await store.put("k", b"x", content_type="text/plain", metadata={})
        await store.delete("k")
        with pytest.raises(errors.ObjectMissing):
            await store.get("k")
        marker = await store.latest_entry("k")
        assert marker is not None and marker.is_delete_marker
        with pytest.raises(errors.ObjectMissing):
            await store.get("k", version_id=marker.version_id)

    _run(backend, scenario)


def test_bucket_state(backend: Backend) -> None:
    async def scenario(store: Store) -> None:
        state = await store.bucket_state()
        assert state.exists and state.versioning == "Enabled"

    _run(backend, scenario)
    settings = gateway_settings(backend, "no-such-bucket-" + os.urandom(4).hex())

    async def missing() -> None:
        async with Store(settings, credentials=backend.credentials) as store:
            assert not (await store.bucket_state()).exists

    asyncio.run(missing())


def test_entry_order_interleaves_delete_markers(backend: Backend) -> None:
    """Writes and deletes in the same second: the one-entry walk still gives the order they happened in."""

    async def scenario(store: Store) -> None:
        written = []
        for body in (b"1", b"2"):
            written.append((False, (await store.put("k", body, content_type="text/plain", metadata={})).version_id))
            await store.delete("k")
            latest = await store.latest_entry("k")
            assert latest is not None
            written.append((True, latest.version_id))
        walked = []
        entry = await store.latest_entry("k")
        while entry is not None:
            walked.append((entry.is_delete_marker, entry.version_id))
            entry = await store.entry_below("k", entry.version_id)
        await store.put("k.other", b"x", content_type="text/plain", metadata={})
        assert await store.entry_below("k", walked[-1][1]) is None
        assert walked == list(reversed(written))
        assert [marker for marker, _ in walked] == [True, False, True, False]

    _run(backend, scenario)


def test_is_listed_finds_versions_under_many_newer_ones_and_not_removed_ones(backend: Backend) -> None:
    async def scenario(store: Store) -> None:
        first = (await store.put("k", b"0", content_type="text/plain", metadata={})).version_id
        assert first is not None
        assert await store.is_listed("k", first, under=None)
        versions = [
            (await store.put("k", str(i).encode(), content_type="text/plain", metadata={})).version_id
            for i in range(40)
        ]
        await store.delete("k")
        await store.put("k.longer", b"x", content_type="text/plain", metadata={})
        # More entries on top than one page holds: the scan pages down to it.
        assert await store.is_listed("k", first, under=None)
        second = versions[0]
        assert second is not None
        assert await store.is_listed("k", second, under=first)
        await store.delete_version("k", second)
        assert not await store.is_listed("k", second, under=first)
        assert not await store.is_listed("k", second, under=None)  # stops at the end of this key's history
        assert not await store.is_listed("k.other", first, under=None)

    _run(backend, scenario)


def test_bulk_delete_and_purge(backend: Backend) -> None:
    async def scenario(store: Store) -> None:
        for i in range(30):
            await store.put(f"p/{i:02d}", b"x", content_type="text/plain", metadata={})
        await store.put("q/keep", b"x", content_type="text/plain", metadata={})
        assert len(await store.delete_all_current("p/")) == 30
        assert await store.delete_all_current("p/") == []
        assert await store.purge("p/") == 60  # 30 versions and 30 delete markers
        assert await store.latest_entry("p/00") is None
        assert (await store.head("q/keep")).size == 1

    _run(backend, scenario)


def test_large_copies_use_multipart_copy(backend: Backend) -> None:
    payload = os.urandom(11 * MiB)

    async def scenario(store: Store) -> None:
        first = (await store.put("big", payload, content_type="application/x-test", metadata={"a": "1"})).version_id
        await store.put("big", b"small", content_type="text/plain", metadata={})
        source = await store.head("big", first)
        await store.copy_version("big", source, metadata={"a": "1"})
        copied = await store.head("big")
        assert copied.size == len(payload)
        assert copied.content_type == "application/x-test"
        assert copied.metadata == {"a": "1"}
        data, _ = await store.read_bytes("big")
        assert data == payload

    _run(backend, scenario, max_copy_bytes=5 * MiB, copy_part_bytes=5 * MiB)


def test_pages_hand_back_raw_continuation_state(backend: Backend) -> None:
    """Listings return S3's own continuation state; sealing it for clients is the services' job."""

    async def scenario(store: Store) -> None:
        names = ["p/a", "p/b%", "p/e\u0301", "p/\U0001f600"]
        for name in names:
            await store.put(name, b"x", content_type="text/plain", metadata={})
        first = await store.list_page("p/", delimiter=None, limit=2, continuation=None)
        assert [item.key for item in first.objects] == names[:2]
        assert first.continuation is not None
        second = await store.list_page("p/", delimiter=None, limit=2, continuation=first.continuation)
        assert [item.key for item in second.objects] == names[2:]
        assert second.continuation is None

        written = [
            (await store.put("h", str(i).encode(), content_type="text/plain", metadata={})).version_id for i in range(3)
        ]
        await store.put("h.bak", b"shares the prefix", content_type="text/plain", metadata={})
        top = await store.versions_page("h", limit=2, after=None)
        assert [entry.version_id for entry in top.entries] == [written[2], written[1]]
        assert top.next_after == written[1]
        rest = await store.versions_page("h", limit=2, after=top.next_after)
        assert [entry.version_id for entry in rest.entries] == [written[0]]
        assert rest.next_after is None

    _run(backend, scenario)


def test_removing_the_newest_version_never_makes_the_key_look_missing(backend: Backend) -> None:
    # Ceph RGW answers 404 for a key for a moment while its newest version is removed; readers of the current
    # version must see the older version that becomes current (or the newer one), never nothing.
    rounds = 25

    async def scenario(store: Store) -> tuple[set[bytes], int]:
        await store.put("k", b"base", content_type="text/plain", metadata={})
        seen: set[bytes] = set()
        missing = 0
        done = asyncio.Event()

        async def churn() -> None:
            for i in range(rounds):
                written = await store.put("k", f"top-{i}".encode(), content_type="text/plain", metadata={})
                assert written.version_id is not None
                await store.delete_version("k", written.version_id)
            done.set()

        async def read() -> None:
            nonlocal missing
            while not done.is_set():
                try:
                    data, _ = await store.read_bytes("k")
                    seen.add(data)
                    await store.head("k")
                except errors.ObjectMissing:
                    missing += 1

        await asyncio.gather(churn(), *(read() for _ in range(4)))
        return seen, missing

    seen, missing = _run(backend, scenario)
    assert missing == 0
    assert b"base" in seen and all(data == b"base" or data.startswith(b"top-") for data in seen)
