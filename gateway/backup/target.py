"""The backup bucket: the same store adapter and write step as the gateway's own bucket, pointed elsewhere.

The backup settings (`GATEWAY_BACKUP_*`) replace the main bucket's where they are set; what they leave out is the
main bucket's (endpoint, region, credentials from the standard AWS chain). Bytes copied between two endpoints pass
through this process as streams: no S3 copies across endpoints.
"""

from __future__ import annotations

from dataclasses import replace

from gateway.errors import SettingsError
from gateway.policy.tiers import Policy
from gateway.settings import Settings, env_name
from gateway.storage.store import KeyObserver, Store
from gateway.storage.writes import CautiousTraits, VersionWriter

# S3's largest object: a version the source holds must fit whatever the upload limit is today.
MAX_OBJECT_BYTES = 5 * 1024**4


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
    )


def backup_store(settings: Settings, *, observer: KeyObserver | None = None) -> Store:
    """The backup bucket's store (use `async with`)."""
    credentials = None
    if settings.backup_access_key_id and settings.backup_secret_access_key:
        credentials = (settings.backup_access_key_id, settings.backup_secret_access_key)
    return Store(backup_settings(settings), credentials=credentials, observer=observer)


def writer(store: Store, settings: Settings) -> VersionWriter:
    """The one write step, for a bucket whose backend this command does not probe: it assumes the least."""
    return VersionWriter(
        store, traits=CautiousTraits(), max_bytes=MAX_OBJECT_BYTES, threshold=settings.multipart_threshold_bytes
    )


def backed_up_tiers(settings: Settings, policy: Policy) -> frozenset[str]:
    """The tiers `GATEWAY_BACKUP_TIERS` names, each one the policy has."""
    unknown = [name for name in settings.backup_tiers if name not in policy.tiers]
    if unknown:
        raise SettingsError(
            f"{env_name('backup_tiers')}: {', '.join(unknown)} not a tier of {policy.source}; "
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
