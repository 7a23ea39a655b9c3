"""The deployment's keys: the server secret (`GATEWAY_SERVER_SECRET` when set, otherwise a random key kept in the
bucket) and the owner key (always in the bucket: the key layout depends on it, see `gateway.keys`).

Replicas must agree on them without talking to each other. The bucket is the only state they share, so the first
replica to start writes a random key to `{root}/_gateway/server-key`, and every replica uses the bytes of that
object's OLDEST version. When several replicas start on an empty bucket at once, each may write a key; each then
lists the versions after its own write and picks the oldest, the same one for all, because S3 lists versions in
the order they were written. A delete marker or a newer version changes nothing; only removing every version of
the object makes a new key. For the server secret that invalidates the cursors handed out before. For the owner
key it would hide every session (their keys no longer match), so the gateway refuses to make a new owner key while
any session exists under `{root}/o/`: the key must be restored from the bucket's history or a backup.
"""

from __future__ import annotations

import os

from gateway import errors
from gateway.auth.cursors import MIN_SECRET_BYTES
from gateway.keys import OWNERS_DIR, owner_key_name, server_key_name
from gateway.settings import Settings, env_name
from gateway.storage.store import Store

KEY_BYTES = 32
KEY_CONTENT_TYPE = "application/octet-stream"


async def load_server_secret(store: Store, settings: Settings) -> bytes:
    """The secret every replica of this deployment uses; creates the bucket's key on first start."""
    if settings.server_secret:
        return settings.server_secret.encode("utf-8")
    return await _bucket_key(store, server_key_name(settings.key_root))


async def load_owner_key(store: Store, settings: Settings) -> bytes:
    """The key that makes owner segments opaque; made on first start, never replaced while sessions exist."""
    name = owner_key_name(settings.key_root)
    found = await _oldest_version(store, name)
    if found is not None:
        return found
    owners = f"{settings.key_root}/{OWNERS_DIR}" if settings.key_root else OWNERS_DIR
    if await _holds_anything(store, owners):
        raise errors.StoreError(
            f"{name!r} is missing but sessions exist under {owners!r}: without that key none of them can be found. "
            "Restore it (a version of it in the bucket's history, or a backup) before starting the gateway"
        )
    return await _bucket_key(store, name)


async def find_owner_key(store: Store, settings: Settings) -> bytes | None:
    """The owner key when the bucket has one, without making it: for commands that must write nothing (dry runs).
    None means no session was ever made in this bucket."""
    return await _oldest_version(store, owner_key_name(settings.key_root))


async def restore_owner_key(store: Store, settings: Settings, saved: bytes) -> bytes:
    """Put a backed-up owner key back when the bucket lost its own; returns the key the bucket now has, which every
    replica uses (the saved one, unless a replica that started meanwhile made one first: its sessions then need
    the keys made with it, and the restored ones are written under it)."""
    name = owner_key_name(settings.key_root)
    found = await _oldest_version(store, name)
    if found is not None:
        return found
    if len(saved) < MIN_SECRET_BYTES:
        raise errors.StoreError(f"the saved owner key holds {len(saved)} bytes, fewer than {MIN_SECRET_BYTES}")
    await store.put(name, saved, content_type=KEY_CONTENT_TYPE, metadata={})
    found = await _oldest_version(store, name)
    if found is None:
        raise errors.StoreError(f"the bucket does not list {name!r} right after it was written")
    return found


async def _holds_anything(store: Store, prefix: str) -> bool:
    # Versions, not just current objects: deleted sessions are kept in the history and need the key as much.
    async for entries in store.version_pages(prefix):
        if entries:
            return True
    return False


async def _bucket_key(store: Store, name: str) -> bytes:
    secret = await _oldest_version(store, name)
    if secret is None:
        await store.put(name, os.urandom(KEY_BYTES), content_type=KEY_CONTENT_TYPE, metadata={})
        secret = await _oldest_version(store, name)
    if secret is None:
        raise errors.StoreError(f"the bucket does not list {name!r} right after it was written")
    return secret


async def _oldest_version(store: Store, name: str) -> bytes | None:
    oldest = None
    async for entries in store.version_pages(name):
        for entry in entries:
            # Newest first: the last version of exactly this key is the oldest one.
            if entry.key == name and not entry.is_delete_marker:
                oldest = entry
    if oldest is None:
        return None
    stream = await store.get(name, version_id=oldest.version_id)
    data = b"".join([chunk async for chunk in stream.body])
    if len(data) < MIN_SECRET_BYTES:
        raise errors.StoreError(
            f"{name!r} holds {len(data)} bytes, fewer than {MIN_SECRET_BYTES}: remove every version of it, or set "
            f"{env_name('server_secret')}"
        )
    return data
