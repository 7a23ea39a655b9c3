"""Object tags as the carrier of a file's tier: reading many at once, and re-tagging without rewriting data."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence

from gateway.errors import ObjectMissing
from gateway.policy.tiers import TIER_TAG
from gateway.storage.store import Store

CONCURRENCY = 16


def tier_tags(tier: str) -> dict[str, str]:
    return {TIER_TAG: tier}


async def tags_of(store: Store, versions: Sequence[tuple[str, str | None]]) -> list[Mapping[str, str]]:
    """Tags of each (key, version id); a version deleted meanwhile has none."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(key: str, version_id: str | None) -> Mapping[str, str]:
        async with gate:
            try:
                return await store.get_tags(key, version_id)
            except ObjectMissing:
                return {}

    return list(await asyncio.gather(*(one(key, version) for key, version in versions)))


async def current_tags(store: Store, keys: Sequence[str]) -> list[tuple[Mapping[str, str], str | None]]:
    """Tags and version id of the current version of each key (for listings, which carry neither)."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(key: str) -> tuple[Mapping[str, str], str | None]:
        async with gate:
            try:
                tags, version_id = await store.get_tags_and_version(key)
                if version_id is None:
                    version_id = (await store.head(key)).version_id
                return tags, version_id
            except ObjectMissing:
                return {}, None

    return list(await asyncio.gather(*(one(key) for key in keys)))


async def retag(store: Store, prefix: str, tier: str, *, exact_key: bool) -> list[str]:
    """Tag every version under `prefix` (or of exactly that key) with `tier`, keeping its other tags (its SHA-256);
    returns the keys of the files that changed.

    Old versions follow the file: their noncurrent retention is the file's tier's, as the user asked.
    """
    gate = asyncio.Semaphore(CONCURRENCY)
    files: list[str] = []

    async def one(key: str, version_id: str) -> None:
        # A version removed meanwhile has nothing left to tag.
        async with gate:
            with contextlib.suppress(ObjectMissing):
                tags = await store.get_tags(key, version_id)
                if tags.get(TIER_TAG) != tier:
                    await store.put_tags(key, {**tags, **tier_tags(tier)}, version_id)

    async for page in store.version_pages(prefix):
        targets = [e for e in page if not e.is_delete_marker and (not exact_key or e.key == prefix)]
        files += [e.key for e in targets if e.is_latest]
        await asyncio.gather(*(one(e.key, e.version_id) for e in targets))
    return files
