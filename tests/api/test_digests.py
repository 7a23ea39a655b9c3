"""Digests a client promises are checked before anything becomes visible, for single PUTs and multipart uploads,
with and without a Content-Length; the gateway's own SHA-256 is what it serves."""

from __future__ import annotations

import base64
import hashlib
import os
import unicodedata
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from gateway.api.app import create_app
from gateway.settings import MiB
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings

NAMES = [
    "résumé.txt",
    unicodedata.normalize("NFD", "crème/brûlée.bin"),
    "rocket 🚀/launch.bin",
    "100% done.bin",
]


@pytest.fixture(scope="module")
def parts_gateway(backend: Backend) -> Iterator[Gateway]:
    """5 MiB parts, so that multipart uploads are cheap to reach."""
    settings = gateway_settings(backend, backend.new_bucket(), GATEWAY_MULTIPART_THRESHOLD_BYTES=str(5 * MiB))
    with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
        yield Gateway(backend=backend, settings=settings, url=url)


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _sha256(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def _pieces(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), 700_000):
        yield data[start : start + 700_000]


@pytest.mark.parametrize("size", [5, 3 * MiB, 11 * MiB + 5], ids=["tiny", "single", "multipart"])
@pytest.mark.parametrize("declared", [True, False], ids=["length", "chunked"])
def test_promised_digests_are_checked_and_nothing_is_stored_on_a_mismatch(
    parts_gateway: Gateway, user: str, size: int, declared: bool
) -> None:
    with parts_gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        for name in NAMES:
            url = f"/v1/sessions/{sid}/files/{quote(name)}"
            body = os.urandom(size)
            wrong = body[:-1] + bytes([body[-1] ^ 1])
            for header, value in (("Content-MD5", _md5(wrong)), ("Content-Digest", _sha256(wrong))):
                content = body if declared else _pieces(body)
                refused = api.put(url, content=content, headers={header: value})
                assert refused.status_code == 400, refused.text
                assert refused.json()["type"].endswith("digest-mismatch")
                assert api.get(url).status_code == 404
            content = body if declared else _pieces(body)
            stored = api.put(url, content=content, headers={"Content-MD5": _md5(body), "Repr-Digest": _sha256(body)})
            assert stored.status_code == 201, stored.text
            assert stored.headers["repr-digest"] == _sha256(body)
            assert stored.json()["sha256"] == hashlib.sha256(body).hexdigest()
            got = api.get(url)
            assert got.content == body
            assert got.headers["repr-digest"] == _sha256(body)
            multipart = size > 5 * MiB
            assert stored.json()["etag"].strip('"').endswith("-3") == multipart
    s3 = parts_gateway.backend.client()
    assert not s3.list_multipart_uploads(Bucket=parts_gateway.settings.bucket).get("Uploads")


def test_unannounced_uploads_are_hashed_the_same_way(parts_gateway: Gateway, user: str) -> None:
    with parts_gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        body = os.urandom(10 * MiB + 1)  # exactly two parts and one byte
        for name in NAMES:
            url = f"/v1/sessions/{sid}/files/{quote(name)}"
            stored = api.put(url, content=_pieces(body))
            assert stored.status_code == 201, stored.text
            assert stored.json()["sha256"] == hashlib.sha256(body).hexdigest()
            head = api.head(url)
            assert head.headers["repr-digest"] == _sha256(body)
            assert httpx.get(parts_gateway.url + url, headers=api.headers).content == body
