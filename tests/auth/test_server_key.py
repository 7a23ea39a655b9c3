"""The server secret on both backends: made once, shared by every replica, stable when replicas race."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway import errors
from gateway.auth.cursors import CursorSealer
from gateway.auth.server_key import load_owner_key, load_server_secret
from gateway.keys import Owner, owner_key_name, server_key_name
from gateway.settings import Settings
from gateway.storage.store import Store
from tests.conftest import KEY_ROOT, Backend, gateway_settings

NAME = server_key_name(KEY_ROOT)


async def _load(backend: Backend, settings: Settings) -> bytes:
    async with Store(settings, credentials=backend.credentials) as store:
        return await load_server_secret(store, settings)


def _versions(backend: Backend, bucket: str) -> list[dict[str, Any]]:
    listing = backend.client().list_object_versions(Bucket=bucket, Prefix=NAME)
    return [item for item in listing.get("Versions", []) if item["Key"] == NAME]


def _oldest_bytes(backend: Backend, bucket: str) -> bytes:
    oldest = _versions(backend, bucket)[-1]  # S3 lists a key's versions newest first
    body: bytes = backend.client().get_object(Bucket=bucket, Key=NAME, VersionId=oldest["VersionId"])["Body"].read()
    return body


def test_first_start_writes_a_random_key_and_later_starts_read_it(backend: Backend) -> None:
    settings = gateway_settings(backend, backend.new_bucket())
    first = asyncio.run(_load(backend, settings))
    assert len(first) == 32
    assert asyncio.run(_load(backend, settings)) == first
    assert len(_versions(backend, settings.bucket)) == 1
    assert _oldest_bytes(backend, settings.bucket) == first
    other_bucket = gateway_settings(backend, backend.new_bucket())
    assert asyncio.run(_load(backend, other_bucket)) != first


def test_racing_replicas_agree_on_the_oldest_version(backend: Backend) -> None:
    settings = gateway_settings(backend, backend.new_bucket())

    # Six replicas starting at once on an empty bucket: in practice most of them find nothing and write a key.
    async def replicas() -> list[bytes]:
        return list(await asyncio.gather(*(_load(backend, settings) for _ in range(6))))

    secrets = asyncio.run(replicas())
    assert len(set(secrets)) == 1
    assert secrets[0] == _oldest_bytes(backend, settings.bucket)
    assert asyncio.run(_load(backend, settings)) == secrets[0]
    # A cursor sealed by one replica opens on any other.
    cursor = CursorSealer(secrets[0]).seal({"token": "t"}, ("files.list",))
    assert CursorSealer(asyncio.run(_load(backend, settings))).open(cursor, ("files.list",)) == {"token": "t"}


def test_newer_versions_and_delete_markers_change_nothing(backend: Backend) -> None:
    settings = gateway_settings(backend, backend.new_bucket())
    s3 = backend.client()
    s3.put_object(Bucket=settings.bucket, Key=NAME, Body=b"a" * 32)  # the replica that wrote first
    s3.put_object(Bucket=settings.bucket, Key=NAME, Body=b"b" * 32)  # one that lost the race
    assert asyncio.run(_load(backend, settings)) == b"a" * 32
    s3.delete_object(Bucket=settings.bucket, Key=NAME)
    assert asyncio.run(_load(backend, settings)) == b"a" * 32
    assert len(_versions(backend, settings.bucket)) == 2


def test_a_configured_secret_wins_and_leaves_the_bucket_alone(backend: Backend) -> None:
    secret = "configured-secret-of-at-least-32-bytes-é"
    settings = gateway_settings(backend, backend.new_bucket(), GATEWAY_SERVER_SECRET=secret)
    assert asyncio.run(_load(backend, settings)) == secret.encode()
    assert _versions(backend, settings.bucket) == []


def test_a_short_stored_key_stops_start_up(backend: Backend) -> None:
    settings = gateway_settings(backend, backend.new_bucket())
    backend.client().put_object(Bucket=settings.bucket, Key=NAME, Body=b"short")
    with pytest.raises(errors.StoreError, match="GATEWAY_SERVER_SECRET"):
        asyncio.run(_load(backend, settings))


async def _load_owner_key(backend: Backend, settings: Settings) -> bytes:
    async with Store(settings, credentials=backend.credentials) as store:
        return await load_owner_key(store, settings)


def test_racing_replicas_agree_on_one_owner_key_apart_from_the_server_secret(backend: Backend) -> None:
    secret = "configured-secret-of-at-least-32-bytes-é"
    settings = gateway_settings(backend, backend.new_bucket(), GATEWAY_SERVER_SECRET=secret)

    async def replicas() -> list[bytes]:
        return list(await asyncio.gather(*(_load_owner_key(backend, settings) for _ in range(6))))

    keys = asyncio.run(replicas())
    assert len(set(keys)) == 1 and len(keys[0]) == 32
    # The owner key is kept in the bucket even when the server secret is configured: the layout depends on it.
    assert keys[0] != secret.encode()
    assert asyncio.run(_load_owner_key(backend, settings)) == keys[0]


def test_a_lost_owner_key_is_never_replaced_while_sessions_exist(backend: Backend, user: str) -> None:
    settings = gateway_settings(backend, backend.new_bucket())
    key = asyncio.run(_load_owner_key(backend, settings))
    file_key = Owner(settings.key_root, "acme", user, key).session("01ARZ3NDEKTSV4RRFFQ69G5FAV").file("é 😀 100%.txt")
    s3 = backend.client()
    s3.put_object(Bucket=settings.bucket, Key=file_key, Body=b"x")
    s3.delete_object(Bucket=settings.bucket, Key=file_key)  # even a deleted session's history needs the key
    name = owner_key_name(KEY_ROOT)
    for version in s3.list_object_versions(Bucket=settings.bucket, Prefix=name)["Versions"]:
        s3.delete_object(Bucket=settings.bucket, Key=name, VersionId=version["VersionId"])
    with pytest.raises(errors.StoreError, match="Restore it"):
        asyncio.run(_load_owner_key(backend, settings))
    assert "Versions" not in s3.list_object_versions(Bucket=settings.bucket, Prefix=name)
