"""Version listings page by page, on both backends: keys whose names hold `%XX`, listings that start after a key,
and a short first page."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gateway.keys import PAST_FOLDER
from gateway.storage.store import Store
from tests.conftest import Gateway

T = TypeVar("T")
# '%20' and '%25' would read as a space and a '%' if decoded once too often; ' ' sorts before '%'.
NAMES = ("a%20b", "a%20b/c", "a b", "a%25", "dossier é/x 😀", "dossier é/y", "dossier é0", "z")


def _on_store(gateway: Gateway, scenario: Callable[[Store], Awaitable[T]]) -> T:
    async def main() -> T:
        async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
            return await scenario(store)

    return asyncio.run(main())


def _written(gateway: Gateway, prefix: str, versions: int = 2) -> dict[str, list[str]]:
    """Each name written `versions` times under `prefix`; the version ids of each key, newest first."""
    client = gateway.backend.client()
    written: dict[str, list[str]] = {}
    for name in NAMES:
        for _ in range(versions):
            response = client.put_object(Bucket=gateway.settings.bucket, Key=prefix + name, Body=b"x")
            written.setdefault(prefix + name, []).insert(0, response["VersionId"])
    return written


def test_pages_of_any_size_list_every_entry_once_in_key_order(gateway: Gateway) -> None:
    prefix = f"{gateway.settings.key_root}/pages/{uuid.uuid4().hex}/"
    written = _written(gateway, prefix)
    expected = [(key, version) for key in sorted(written) for version in written[key]]

    async def scenario(store: Store) -> dict[str, list[tuple[str, str]]]:
        found = {}
        for size, first in ((1, None), (3, None), (1000, None), (5, 1), (2, 3)):
            pages = store.version_pages(prefix, page_size=size, first_page=first)
            found[f"{size}/{first}"] = [(e.key, e.version_id) async for page in pages for e in page]
        return found

    for label, listed in _on_store(gateway, scenario).items():
        assert listed == expected, label


def test_a_listing_starts_after_a_key_or_past_a_folder(gateway: Gateway) -> None:
    prefix = f"{gateway.settings.key_root}/after/{uuid.uuid4().hex}/"
    written = _written(gateway, prefix)
    keys = sorted(written)

    async def scenario(store: Store) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for label, after in (("key", prefix + "a%20b"), ("folder", prefix + "dossier é/" + PAST_FOLDER)):
            for size, first in ((1, None), (1000, 2)):
                pages = store.version_pages(prefix, page_size=size, after=after, first_page=first)
                found[f"{label} {size}"] = [e.key async for page in pages for e in page]
            listed = await store.list_page(prefix, delimiter=None, limit=1000, continuation=None, start_after=after)
            found[f"{label} now"] = [item.key for item in listed.objects]
        return found

    found = _on_store(gateway, scenario)
    after_key = [key for key in keys if key > prefix + "a%20b"]
    after_folder = [prefix + "dossier é0", prefix + "z"]
    assert found["key 1"] == found["key 1000"] == [key for key in after_key for _ in range(2)]
    assert found["key now"] == after_key
    assert found["folder 1"] == found["folder 1000"] == [key for key in after_folder for _ in range(2)]
    assert found["folder now"] == after_folder


def test_a_long_history_is_walked_past_its_first_page(gateway: Gateway) -> None:
    """More entries than one page of the walk that looks for a version (32), under a name with '%20' in it."""
    key = f"{gateway.settings.key_root}/long/{uuid.uuid4().hex}/a%20b é"
    client = gateway.backend.client()
    versions = [client.put_object(Bucket=gateway.settings.bucket, Key=key, Body=b"x")["VersionId"] for _ in range(40)]

    async def scenario(store: Store) -> tuple[bool, int]:
        oldest = await store.is_listed(key, versions[0], under=None)
        entries = [e async for page in store.version_pages(key, page_size=7) for e in page]
        return oldest, len(entries)

    assert _on_store(gateway, scenario) == (True, 40)
