"""The backup bucket: the same store adapter and write step as the gateway's own bucket, pointed elsewhere.

The backup settings (`GATEWAY_BACKUP_*`) replace the main bucket's where they are set; what they leave out is the
main bucket's (endpoint, region, credentials from the standard AWS chain). Bytes copied between two endpoints pass
through this process as streams: no S3 copies across endpoints.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from gateway.errors import SettingsError
from gateway.ordered import CONCURRENCY, bounded
from gateway.policy.tiers import Policy
from gateway.settings import Settings, env_name
from gateway.storage.capabilities import LEAST, discover
from gateway.storage.store import KeyObserver, Store
from gateway.storage.writes import Traits, VersionWriter

T = TypeVar("T")
# S3's largest object: a version the source holds must fit whatever the upload limit is today.
MAX_OBJECT_BYTES = 5 * 1024**4
# Versions up to this size are copied 16 at a time; larger ones, each holding up to three upload parts in memory
# while it passes, two at a time: memory stays at a few tens of MiB whatever the sizes.
SMALL_BYTES = 1024 * 1024
LARGE_COPIES = 2


def backup_settings(settings: Settings) -> Settings:
    """`settings` with the backup bucket in place of the main one."""
    if not settings.backup_bucket:
        raise SettingsError(f"{env_name('backup_bucket')}: required; name the versioned bucket backups go to")
    return replace(
        settings,
        bucket=settings.backup_bucket,
        s3_endpoint_url=settings.backup_endpoint_url or settings.s3_endpoint_url,
        s3_public_endpoint_url=None,
        s3_region=settings.backup_region or settings.s3_region,
        # GATEWAY_S3_FLAVOR says what the main bucket's backend does; the backup's may be another.
        s3_flavor=None,
    )


def backup_store(settings: Settings, *, observer: KeyObserver | None = None) -> Store:
    """The backup bucket's store (use `async with`)."""
    credentials = None
    if settings.backup_access_key_id and settings.backup_secret_access_key:
        credentials = (settings.backup_access_key_id, settings.backup_secret_access_key)
    return Store(backup_settings(settings), credentials=credentials, observer=observer)


async def source_traits(store: Store, settings: Settings) -> Traits:
    """What the gateway's bucket's backend honours, learned as the gateway learns it (probed, at most 15 small S3
    calls, unless `GATEWAY_S3_FLAVOR` says): a restore's writes then skip the workarounds it does not need."""
    return await discover(store, settings)


def backup_traits() -> Traits:
    """The backup bucket's backend is not probed: the probe deletes what it wrote, which a bucket under Object Lock
    refuses (and a backup's credentials need not allow). Every write to it is read back, correct everywhere."""
    return LEAST


def writer(store: Store, settings: Settings, traits: Traits) -> VersionWriter:
    """The one write step on `store`, without today's upload limit: every version kept must fit back."""
    return VersionWriter(store, traits=traits, max_bytes=MAX_OBJECT_BYTES, threshold=settings.multipart_threshold_bytes)


def backed_up_tiers(settings: Settings, policy: Policy) -> frozenset[str]:
    """The tiers `GATEWAY_BACKUP_TIERS` names, each one the policy has."""
    unknown = [name for name in settings.backup_tiers if name not in policy.tiers]
    if unknown:
        raise SettingsError(
            f"{env_name('backup_tiers')}: {', '.join(unknown)}: no such tier in {policy.source}; "
            f"valid tiers: {', '.join(policy.names)}"
        )
    return frozenset(settings.backup_tiers)


async def bucket_problem(store: Store) -> str | None:
    """Why the backup bucket cannot take backups, or None. It must keep versions, so that nothing written to it
    is ever lost to a later write, by a bug or by an attacker who got the backup's credentials."""
    state = await store.bucket_state()
    if not state.exists:
        return f"backup bucket {store.bucket!r} does not exist; create it with versioning enabled"
    if state.versioning != "Enabled":
        return f"backup bucket {store.bucket!r} has versioning {state.versioning or 'never enabled'}; enable it"
    return None


async def copy_all(items: Sequence[T], size: Callable[[T], int], copy: Callable[[T], Awaitable[None]]) -> None:
    """`copy` every item, small and large ones side by side, each kind as many at a time as memory allows."""
    small = [item for item in items if size(item) <= SMALL_BYTES]
    large = [item for item in items if size(item) > SMALL_BYTES]
    await asyncio.gather(bounded(small, copy, CONCURRENCY), bounded(large, copy, LARGE_COPIES))
