"""The lean S3 path (GetObject, HeadObject, PutObject, UploadPart) against real servers: signatures that Ceph RGW
checks, for keys with every kind of character; what it reports; errors through the one translation table."""

from __future__ import annotations

import asyncio
import hashlib
import os
import unicodedata
from typing import Any

import pytest

from gateway import errors
from gateway.settings import MiB
from gateway.storage.s3http import S3Refusal, Target, canonical_query_string, query_string
from gateway.storage.store import Store, translate
from tests.conftest import Backend, gateway_settings

KEYS = [
    "plain.txt",
    "données/été.md",
    unicodedata.normalize("NFD", "café/crème brûlée.txt"),
    "emoji/🚀 launch 🎉.bin",
    "percent/100% sure %2F not a slash.txt",
    "spaces and +plus+ and ~tilde/and=equals&amp;.txt",
]


def _run(backend: Backend, scenario: Any) -> Any:
    settings = gateway_settings(backend, backend.new_bucket())

    async def main() -> Any:
        async with Store(settings, credentials=backend.credentials) as store:
            return await scenario(store)

    return asyncio.run(main())


def test_signed_requests_for_keys_with_any_characters(backend: Backend) -> None:
    async def scenario(store: Store) -> None:
        for key in KEYS:
            body = key.encode() * 3
            written = await store.put(
                key,
                body,
                content_type="text/plain; charset=utf-8",
                metadata={"gateway-sha256": hashlib.sha256(body).hexdigest()},
                tags={"tier": "standard", "sha256": hashlib.sha256(body).hexdigest()},
                content_md5=hashlib.md5(body, usedforsecurity=False).digest(),
            )
            assert written.version_id
            assert written.etag == f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'
            head = await store.head(key)
            assert (head.version_id, head.etag, head.size) == (written.version_id, written.etag, len(body))
            assert head.content_type == "text/plain; charset=utf-8"
            assert head.metadata == {"gateway-sha256": hashlib.sha256(body).hexdigest()}
            assert head.last_modified.tzinfo is not None
            assert await store.get_tags(key) == {"tier": "standard", "sha256": hashlib.sha256(body).hexdigest()}
            stream = await store.get(key, version_id=written.version_id)
            assert b"".join([chunk async for chunk in stream.body]) == body
            assert stream.info.version_id == written.version_id

    _run(backend, scenario)


def test_ranges_validators_and_missing_versions_map_through_the_one_table(backend: Backend) -> None:
    async def scenario(store: Store) -> None:
        key = "ranges/ünïcode 🎯 50%.bin"
        body = os.urandom(3 * MiB + 17)
        await store.put(key, body, content_type="application/octet-stream", metadata={})
        part = await store.get(key, byte_range="bytes=10-19")
        assert b"".join([chunk async for chunk in part.body]) == body[10:20]
        assert part.content_length == 10 and part.content_range == f"bytes 10-19/{len(body)}"
        whole = await store.get(key)
        chunks = [chunk async for chunk in whole.body]
        assert b"".join(chunks) == body and whole.content_length == len(body)
        with pytest.raises(errors.RangeNotSatisfiable):
            await store.get(key, byte_range=f"bytes={len(body) + 5}-")
        with pytest.raises(errors.ObjectMissing):
            await store.head(key, "no-such-version-id")
        with pytest.raises(errors.ObjectMissing):
            await store.get("ranges/nothing here ✨")

    _run(backend, scenario)


@pytest.mark.rgw_only  # moto does not check Content-MD5
def test_bytes_damaged_on_the_way_are_refused(rgw: Backend) -> None:
    async def scenario(store: Store) -> None:
        key = "damaged/bröken 💥 %.bin"
        written = await store.put(key, b"good", content_type="text/plain", metadata={})
        damaged = hashlib.md5(b"other bytes", usedforsecurity=False).digest()
        for body in (b"bad", os.urandom(2 * MiB)):  # sent at once, and in pieces
            # The gateway computed the digest: damage between it and S3 is the backend's fault (502), not the client's.
            with pytest.raises(errors.StoreError, match="different bytes"):
                await store.put(key, body, content_type="text/plain", metadata={}, content_md5=damaged)
        latest = await store.latest_entry(key)
        assert latest is not None and latest.version_id == written.version_id
        # A part vouched for by its signed SHA-256 alone (plain HTTP) is checked against it just the same.
        assert store.signs_payloads
        upload_id = await store.start_multipart(key, content_type="text/plain", metadata={})
        part = os.urandom(MiB)
        with pytest.raises(errors.StoreError, match="different bytes"):
            await store.upload_part(key, upload_id, 1, part, sha256_hex=hashlib.sha256(b"other").hexdigest())
        await store.abort_multipart(key, upload_id)

    _run(rgw, scenario)


def test_unread_bodies_release_their_connection(backend: Backend) -> None:
    async def scenario(store: Store) -> None:
        key = "unread/résumé 📄.txt"
        await store.put(key, os.urandom(2 * MiB), content_type="text/plain", metadata={})
        # More unread downloads than the pool has connections: each close must hand its connection back.
        for _ in range(store._settings.s3_max_connections + 4):
            stream = await store.get(key)
            stream.close()
        assert (await store.head(key)).size == 2 * MiB

    _run(backend, scenario)


def test_multipart_parts_go_through_the_lean_path(backend: Backend) -> None:
    async def scenario(store: Store) -> None:
        key = "parts/naïve 🧩 %41.bin"
        first, second = os.urandom(5 * MiB), os.urandom(1234)
        upload_id = await store.start_multipart(key, content_type="application/octet-stream", metadata={})
        parts = [
            await store.upload_part(
                key,
                upload_id,
                number,
                data,
                content_md5=hashlib.md5(data, usedforsecurity=False).digest(),
                sha256_hex=hashlib.sha256(data).hexdigest(),
            )
            for number, data in ((1, first), (2, second))
        ]
        version = await store.complete_multipart(key, upload_id, parts)
        stream = await store.get(key, version_id=version)
        assert b"".join([chunk async for chunk in stream.body]) == first + second

    _run(backend, scenario)


def test_s3_refusals_and_botocore_errors_share_one_table() -> None:
    from botocore.exceptions import ClientError

    for code, status, expected in [
        ("NoSuchKey", 404, errors.ObjectMissing),
        ("404", 404, errors.ObjectMissing),
        ("MethodNotAllowed", 405, errors.ObjectMissing),
        ("PreconditionFailed", 412, errors.PreconditionFailed),
        ("InvalidRange", 416, errors.RangeNotSatisfiable),
        ("SlowDown", 503, errors.StoreUnavailable),
        ("InvalidArgument", 400, errors.BadRequest),
        ("NoSuchBucket", 404, errors.StoreUnavailable),
        ("AccessDenied", 403, errors.StoreError),
    ]:
        lean = translate(S3Refusal(code, status, "why", {"etag": '"e"'}))
        boto = translate(
            ClientError(
                {"Error": {"Code": code, "Message": "why"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject"
            )
        )
        assert type(lean) is type(boto) is expected, code
    not_modified = translate(S3Refusal("304", 304, "", {"etag": '"abc"', "last-modified": "x"}))
    assert isinstance(not_modified, errors.NotModified) and not_modified.etag == '"abc"'


def test_addressing_and_query_encoding() -> None:
    path_style = Target.of("http://127.0.0.1:7480", "bucket", path_style=True)
    assert (path_style.host, path_style.path("a b/ü%.txt")) == ("127.0.0.1:7480", "/bucket/a%20b/%C3%BC%25.txt")
    virtual = Target.of("https://s3.eu-west-1.amazonaws.com", "my-bucket", path_style=False)
    assert (virtual.host, virtual.path("k~/x")) == ("my-bucket.s3.eu-west-1.amazonaws.com", "/k~/x")
    dotted = Target.of("https://s3.amazonaws.com", "my.bucket", path_style=False)
    assert (dotted.host, dotted.path("k")) == ("s3.amazonaws.com", "/my.bucket/k")
    assert query_string({"versionId": "a+b/c=", "uploads": None}) == "versionId=a%2Bb%2Fc%3D&uploads"
    # Sorted by name, not by the text of the pair ("key-marker=" sorts before "key=" as text).
    assert canonical_query_string("versions&key=b&key-marker=a") == "key=b&key-marker=a&versions="


def test_short_version_listings_read_keys_of_any_characters(backend: Backend) -> None:
    async def scenario(store: Store) -> None:
        for key in KEYS:
            ids = []
            for body in (b"one", b"two"):
                ids.append((await store.put(key, body, content_type="text/plain", metadata={})).version_id)
            await store.put(key + ".longer", b"other key, same prefix", content_type="text/plain", metadata={})
            marker = await store.delete_marking(key)
            top, complete = await store.top_entries(key, 2)
            assert [(e.version_id, e.is_delete_marker, e.is_latest) for e in top] == [
                (marker, True, True),
                (ids[1], False, False),
            ]
            assert not complete and top[1].size == 3 and top[1].key == key
            everything, complete = await store.top_entries(key, 10)
            assert [e.version_id for e in everything if not e.is_delete_marker] == ids[::-1] and complete
            below = await store.entry_below(key, ids[1])
            assert below is not None and below.version_id == ids[0]
            assert await store.entry_below(key, ids[0]) is None

    _run(backend, scenario)


def test_https_trusts_the_authorities_botocore_is_told_to_trust() -> None:
    from gateway.storage.s3http import LeanS3, Signer

    async def enter(ca_bundle: str) -> None:
        target = Target.of("https://s3.eu-west-1.amazonaws.com", "bücket-not-dns", path_style=False)
        assert target.host == "s3.eu-west-1.amazonaws.com" and target.root == "/b%C3%BCcket-not-dns"
        async with LeanS3(target, Signer(None, "eu-west-1"), max_connections=1, max_attempts=1, ca_bundle=ca_bundle):
            pass

    with pytest.raises(FileNotFoundError):
        asyncio.run(enter("/no/such/ca-bundle 🔒 100%.pem"))


def test_tag_reads_go_through_the_lean_path(backend: Backend) -> None:
    async def scenario(store: Store) -> None:
        for key in KEYS:
            first = await store.put(
                key, b"one", content_type="text/plain", metadata={}, tags={"tier": "standard", "sha256": "0f" * 32}
            )
            second = await store.put(key, b"two", content_type="text/plain", metadata={})
            assert await store.get_tags(key, first.version_id) == {"tier": "standard", "sha256": "0f" * 32}
            tags, version = await store.get_tags_and_version(key)
            assert tags == {} and version in (None, second.version_id)  # Ceph RGW does not say which version
        # A multipart upload completed without tags: Ceph RGW answers an empty body, which means no tags.
        key = KEYS[1] + ".multipart"
        upload = await store.start_multipart(key, content_type="application/octet-stream", metadata={})
        part = await store.upload_part(key, upload, 1, os.urandom(5 * MiB))
        version = await store.complete_multipart(key, upload, [part])
        assert await store.get_tags(key, version) == {}
        with pytest.raises(errors.ObjectMissing):
            await store.get_tags("no/such/key")

    _run(backend, scenario)
