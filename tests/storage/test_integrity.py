"""Every stored file carries its SHA-256; promised digests are checked before anything becomes visible."""

from __future__ import annotations

import base64
import hashlib
import os
import unicodedata

import httpx
import pytest

from gateway.settings import MiB
from tests.conftest import Gateway

NAMES = [
    "plain.txt",
    "rapports/e\u0301te\u0301 2026 re\u0301sume\u0301.txt",
    "\U0001f680/launch \U0001f9ea.bin",
    "100%.txt",
]
BIG = 9 * MiB  # above the 8 MiB multipart threshold


def _digest(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [5, BIG])
def test_sha256_is_stored_and_served(api: httpx.Client, session_id: str, name: str, size: int) -> None:
    data = os.urandom(size)
    url = f"/v1/sessions/{session_id}/files/{name}"
    put = api.put(url, content=data, headers={"Content-Digest": _digest(data)})
    assert put.status_code == 201, put.text
    sha = hashlib.sha256(data).hexdigest()
    assert put.json()["sha256"] == sha
    assert put.headers["repr-digest"] == _digest(data)
    got = api.get(url)
    assert got.content == data
    assert got.headers["repr-digest"] == _digest(data)
    assert api.head(url).headers["repr-digest"] == _digest(data)
    folder, _, _ = unicodedata.normalize("NFC", name).rpartition("/")
    listed = api.get(f"/v1/sessions/{session_id}/files", params={"prefix": folder}).json()["items"]
    assert [item["sha256"] for item in listed if item["path"] == unicodedata.normalize("NFC", name)] == [sha]
    history = api.get(f"/v1/sessions/{session_id}/history", params={"path": name}).json()["items"]
    assert [item["sha256"] for item in history] == [sha]


@pytest.mark.parametrize("size", [5, BIG])
@pytest.mark.parametrize(
    "header",
    [
        lambda data: {"Content-Digest": _digest(data + b"!")},
        lambda data: {"Repr-Digest": _digest(b"other")},
        lambda data: {"Content-MD5": _md5(data + b"!")},
        lambda data: {"Content-Digest": "sha-512=:AAAA:, " + _digest(b"x")},
    ],
    ids=["content-digest", "repr-digest", "content-md5", "among-others"],
)
def test_a_mismatch_is_400_and_stores_nothing(api: httpx.Client, session_id: str, size: int, header: object) -> None:
    data = os.urandom(size)
    url = f"/v1/sessions/{session_id}/files/\u00e9t\u00e9/100%.bin"
    response = api.put(url, content=data, headers=header(data))  # type: ignore[operator]
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/digest-mismatch"
    assert api.get(url).status_code == 404
    assert api.get(f"/v1/sessions/{session_id}/history", params={"path": "\u00e9t\u00e9/100%.bin"}).status_code == 404


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Content-Digest", "sha-256=AAAA"),
        ("Content-Digest", "sha-256=:not base64!:"),
        ("Repr-Digest", "sha-256=:AAAA:"),
        ("Content-MD5", "\u00e9\u00e9"),
        ("Content-MD5", "AAAA"),
    ],
)
def test_malformed_digests_name_the_header(api: httpx.Client, session_id: str, header: str, value: str) -> None:
    response = api.put(f"/v1/sessions/{session_id}/files/x.txt", content=b"x", headers={header: value.encode("utf-8")})
    assert response.status_code == 400, response.text
    assert response.json()["header"] == header
    assert api.get(f"/v1/sessions/{session_id}/files/x.txt").status_code == 404


def test_a_matching_content_md5_is_accepted(api: httpx.Client, session_id: str) -> None:
    response = api.put(
        f"/v1/sessions/{session_id}/files/m.txt", content=b"hello", headers={"Content-MD5": _md5(b"hello")}
    )
    assert response.status_code == 201


@pytest.mark.parametrize("size", [5, BIG])
def test_if_content_differs_writes_nothing_for_the_same_bytes(
    api: httpx.Client, session_id: str, gateway: Gateway, size: int
) -> None:
    data = os.urandom(size)
    name = "seed/\U0001f331 d\u00e9j\u00e0 vu.bin"
    url = f"/v1/sessions/{session_id}/files/{name}"
    first = api.put(url, content=data, params={"if_content_differs": "true"})
    assert first.status_code == 201
    again = api.put(url, content=data, params={"if_content_differs": "true"})
    assert again.status_code == 200, again.text
    assert again.json()["version_id"] == first.json()["version_id"]
    assert again.json()["sha256"] == hashlib.sha256(data).hexdigest()
    history = api.get(f"/v1/sessions/{session_id}/history", params={"path": name}).json()["items"]
    assert len(history) == 1
    changed = api.put(url, content=data + b"!", params={"if_content_differs": "true"})
    assert changed.status_code == 200
    assert changed.json()["version_id"] != first.json()["version_id"]
    assert len(api.get(f"/v1/sessions/{session_id}/history", params={"path": name}).json()["items"]) == 2
    uploads = gateway.backend.client().list_multipart_uploads(Bucket=gateway.settings.bucket).get("Uploads", [])
    assert [u for u in uploads if session_id in u["Key"]] == []  # the skipped multipart upload was aborted


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"a=1&b=%C3%A9t%C3%A9&emoji=%F0%9F%9A%80"),
        (
            "multipart/form-data; boundary=xyz",
            b'--xyz\r\nContent-Disposition: form-data; name="f"\r\n\r\nv\r\n--xyz--\r\n',
        ),
    ],
    ids=["curl -d", "curl -F"],
)
def test_form_bodies_are_stored_as_bytes(api: httpx.Client, session_id: str, content_type: str, body: bytes) -> None:
    url = f"/v1/sessions/{session_id}/files/forms/r\u00e9ponse.txt"
    put = api.put(url, content=body, headers={"Content-Type": content_type})
    assert put.status_code == 201, put.text
    assert put.json()["size"] == len(body)
    got = api.get(url)
    assert got.content == body
    assert got.headers["content-type"] == content_type
