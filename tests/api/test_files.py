from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.api.app import create_app
from gateway.settings import MiB
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings, raw_request


@pytest.fixture(scope="module")
def small_gateway(backend: Backend) -> Iterator[Gateway]:
    """A gateway with a 12 MiB upload limit and 5 MiB parts, so limits and multipart are cheap to reach."""
    settings = gateway_settings(
        backend,
        backend.new_bucket(),
        GATEWAY_MAX_UPLOAD_BYTES=str(12 * MiB),
        GATEWAY_MULTIPART_THRESHOLD_BYTES=str(5 * MiB),
    )
    with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
        yield Gateway(backend=backend, settings=settings, url=url)


def test_put_then_get_round_trip(api: httpx.Client, session_id: str) -> None:
    url = f"/v1/sessions/{session_id}/files/notes/today.md"
    created = api.put(url, content=b"# hello\n", headers={"content-type": "text/markdown"})
    assert created.status_code == 201
    body = created.json()
    assert body["path"] == "notes/today.md"
    assert body["size"] == 8
    assert body["content_type"] == "text/markdown"
    digest = hashlib.md5(b"# hello\n").hexdigest()  # noqa: S324 (S3's ETag of a single PUT)
    assert body["etag"] == f'"{digest}"'
    assert body["version_id"]
    assert created.headers["etag"] == body["etag"]
    assert created.headers["location"] == url

    got = api.get(url)
    assert got.status_code == 200
    assert got.content == b"# hello\n"
    assert got.headers["content-type"] == "text/markdown"
    assert got.headers["etag"] == body["etag"]
    assert got.headers["content-length"] == "8"
    assert got.headers["accept-ranges"] == "bytes"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"] == "attachment; filename=\"today.md\"; filename*=UTF-8''today.md"
    assert got.headers["last-modified"].endswith("GMT")
    assert got.headers["x-version-id"] == body["version_id"]

    replaced = api.put(url, content=b"# bye\n", headers={"content-type": "text/markdown"})
    assert replaced.status_code == 200
    assert replaced.json()["version_id"] != body["version_id"]
    assert api.get(url).content == b"# bye\n"
    assert api.get(url, params={"version_id": body["version_id"]}).content == b"# hello\n"


def test_head_range_and_conditional_get(api: httpx.Client, session_id: str) -> None:
    url = f"/v1/sessions/{session_id}/files/data.bin"
    payload = bytes(range(256)) * 40
    etag = api.put(url, content=payload).json()["etag"]

    head = api.head(url)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(payload))
    assert head.headers["etag"] == etag
    assert head.headers["content-type"] == "application/octet-stream"

    part = api.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == payload[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(payload)}"
    assert part.headers["content-length"] == "10"

    tail = api.get(url, headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == payload[-5:]

    assert api.get(url, headers={"Range": f"bytes={len(payload) + 10}-"}).status_code == 416

    cached = api.get(url, headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.headers["etag"] == etag
    assert api.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_unicode_names_and_safe_disposition(api: httpx.Client, session_id: str) -> None:
    path = 'résumé "final".html'
    url = f"/v1/sessions/{session_id}/files/{path}"
    assert api.put(url, content=b"<script>alert(1)</script>", headers={"content-type": "text/html"}).status_code == 201
    got = api.get(url)
    disposition = got.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.html" in disposition
    assert 'filename="r_sum_ _final_.html"' in disposition
    assert "sandbox" in got.headers["content-security-policy"]

    image = f"/v1/sessions/{session_id}/files/pic.png"
    api.put(image, content=b"\x89PNG", headers={"content-type": "image/png"})
    assert api.get(image).headers["content-disposition"].startswith("inline;")


def test_bad_paths_are_400_with_the_rule(api: httpx.Client, session_id: str, gateway: Gateway) -> None:
    base = f"/v1/sessions/{session_id}/files/"
    cases = {
        "a/../b": "dot-segment",
        "a/./b": "dot-segment",
        "a//b": "empty-segment",
        "a%5Cb": "backslash",
        "a%00b": "control-character",
        "a%0Ab": "control-character",
        "a%FFb": "utf-8",
        "x" * 1100: "too-long",
    }
    for raw, rule in cases.items():
        status, headers, body = raw_request(gateway.url, "PUT", base + raw, dict(api.headers), b"x")
        assert status == 400, raw
        assert headers["content-type"] == "application/problem+json"
        problem = json.loads(body)
        assert problem["rule"] == rule, raw
        assert problem["type"] == "/problems/invalid-path"
        assert problem["status"] == 400
    assert api.get(f"/v1/sessions/{session_id}/files").json()["items"] == []


def test_bad_headers(api: httpx.Client, session_id: str) -> None:
    url = f"/v1/sessions/{session_id}/files/a"
    assert api.put(url, content=b"x", headers={"content-type": "not a type"}).status_code == 400
    assert api.put(url, content=b"x", headers={"if-none-match": '"abc"'}).status_code == 400
    assert api.get(url, params={"version_id": "bad id"}).status_code == 400


def test_missing_files_and_versions_are_404(api: httpx.Client, session_id: str) -> None:
    base = f"/v1/sessions/{session_id}/files"
    assert api.get(f"{base}/nothing").status_code == 404
    assert api.head(f"{base}/nothing").status_code == 404
    assert api.delete(f"{base}/nothing").status_code == 404
    assert api.get(f"/v1/sessions/{session_id}/history", params={"path": "nothing"}).status_code == 404


def test_delete_keeps_history_and_rollback_undeletes(api: httpx.Client, session_id: str) -> None:
    url = f"/v1/sessions/{session_id}/files/doc.txt"
    v1 = api.put(url, content=b"one", headers={"content-type": "text/plain"}).json()
    v2 = api.put(url, content=b"two", headers={"content-type": "text/plain"}).json()
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404

    history = api.get(f"/v1/sessions/{session_id}/history", params={"path": "doc.txt"}).json()
    items = history["items"]
    assert [item["is_delete_marker"] for item in items] == [True, False, False]
    assert [item["version_id"] for item in items[1:]] == [v2["version_id"], v1["version_id"]]
    assert items[0]["is_latest"] and not items[1]["is_latest"]
    assert items[2]["size"] == 3 and items[2]["etag"] == v1["etag"]

    restored = api.post(f"/v1/sessions/{session_id}/rollback", json={"path": "doc.txt", "version_id": v1["version_id"]})
    assert restored.status_code == 200, restored.text
    body = restored.json()
    assert body["version_id"] not in {v1["version_id"], v2["version_id"]}
    assert body["etag"] == v1["etag"]
    assert body["content_type"] == "text/plain"
    assert api.get(url).content == b"one"
    after = api.get(f"/v1/sessions/{session_id}/history", params={"path": "doc.txt"}).json()["items"]
    assert len(after) == 4 and after[0]["version_id"] == body["version_id"]

    marker = items[0]["version_id"]
    assert api.post(
        f"/v1/sessions/{session_id}/rollback", json={"path": "doc.txt", "version_id": marker}
    ).status_code in {
        400,
        404,
    }
    assert api.post(f"/v1/sessions/{session_id}/rollback", json={"path": "doc.txt"}).status_code == 400


def test_history_paginates(api: httpx.Client, session_id: str) -> None:
    url = f"/v1/sessions/{session_id}/files/h.txt"
    written = [api.put(url, content=str(i).encode()).json()["version_id"] for i in range(5)]
    api.put(f"/v1/sessions/{session_id}/files/h.txt.bak", content=b"other key sharing the prefix")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"path": "h.txt", "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/v1/sessions/{session_id}/history", params=params).json()
        seen += [item["version_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(written))


def test_listing_with_folders_and_pages(api: httpx.Client, session_id: str) -> None:
    base = f"/v1/sessions/{session_id}/files"
    versions = {}
    for path in ["a.txt", "b.txt", "docs/one.md", "docs/two.md", "docs/deep/three.md", "img/x.png"]:
        response = api.put(f"{base}/{path}", content=path.encode())
        assert response.status_code == 201
        versions[path] = response.json()["version_id"]

    everything = api.get(base).json()
    assert [item["path"] for item in everything["items"]] == sorted(
        ["a.txt", "b.txt", "docs/one.md", "docs/two.md", "docs/deep/three.md", "img/x.png"]
    )
    assert everything["items"][0]["size"] == len(b"a.txt")
    assert {item["path"]: item["version_id"] for item in everything["items"]} == versions

    top = api.get(base, params={"delimiter": "/"}).json()
    assert [item["path"] for item in top["items"]] == ["a.txt", "b.txt"]
    assert top["prefixes"] == ["docs/", "img/"]

    docs = api.get(base, params={"prefix": "docs/", "delimiter": "/"}).json()
    assert [item["path"] for item in docs["items"]] == ["docs/one.md", "docs/two.md"]
    assert docs["prefixes"] == ["docs/deep/"]

    paged: list[str] = []
    cursor = None
    while True:
        page = api.get(base, params={"limit": "4", **({"cursor": cursor} if cursor else {})}).json()
        paged += [item["path"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert paged == [item["path"] for item in everything["items"]]

    assert api.get(base, params={"delimiter": ","}).status_code == 400
    assert api.get(base, params={"prefix": "../"}).status_code == 400


def test_recursive_folder_delete(api: httpx.Client, session_id: str) -> None:
    base = f"/v1/sessions/{session_id}/files"
    for path in ["keep.txt", "tmp/a", "tmp/b/c", "tmpfile"]:
        api.put(f"{base}/{path}", content=b"x")
    assert api.delete(f"{base}/tmp/").status_code == 400
    assert api.delete(f"{base}/tmp/", params={"recursive": "true"}).status_code == 204
    assert sorted(item["path"] for item in api.get(base).json()["items"]) == ["keep.txt", "tmpfile"]
    # The folder is gone from a folder listing too (moto's own listing still made folders of deleted files).
    assert api.get(base, params={"delimiter": "/"}).json()["prefixes"] == []
    assert api.get(base, params={"delimiter": "/", "prefix": "tmp/"}).json()["prefixes"] == []
    assert api.delete(f"{base}/tmp/", params={"recursive": "true"}).status_code == 404
    history = api.get(f"/v1/sessions/{session_id}/history", params={"path": "tmp/b/c"}).json()["items"]
    assert history[0]["is_delete_marker"] and not history[1]["is_delete_marker"]


def test_conditional_writes(api: httpx.Client, session_id: str) -> None:
    url = f"/v1/sessions/{session_id}/files/cond.txt"
    first = api.put(url, content=b"1", headers={"If-None-Match": "*"})
    assert first.status_code == 201
    again = api.put(url, content=b"2", headers={"If-None-Match": "*"})
    assert again.status_code == 412
    assert again.headers["content-type"] == "application/problem+json"
    assert api.get(url).content == b"1"

    etag = first.json()["etag"]
    assert api.put(url, content=b"3", headers={"If-Match": '"nope"'}).status_code == 412
    updated = api.put(url, content=b"4", headers={"If-Match": etag})
    assert updated.status_code == 200
    assert api.put(url, content=b"5", headers={"If-Match": etag}).status_code == 412
    assert api.put(url, content=b"6", headers={"If-Match": "*"}).status_code == 200
    assert api.get(url).content == b"6"
    assert (
        api.put(f"/v1/sessions/{session_id}/files/none.txt", content=b"x", headers={"If-Match": "*"}).status_code == 412
    )

    api.delete(url)
    assert api.put(url, content=b"7", headers={"If-None-Match": "*"}).status_code == 201
    versions = api.get(f"/v1/sessions/{session_id}/history", params={"path": "cond.txt"}).json()["items"]
    assert len(versions) == 5  # 1, 4, 6, the delete marker, 7: refused writes left nothing


def test_if_match_compares_content_not_versions(api: httpx.Client, session_id: str) -> None:
    """ETags are digests of the bytes: after A, B, A again, a client holding A's ETag may write."""
    url = f"/v1/sessions/{session_id}/files/aba.txt"
    first = api.put(url, content=b"A").json()
    api.put(url, content=b"B")
    again = api.put(url, content=b"A").json()
    assert again["etag"] == first["etag"] and again["version_id"] != first["version_id"]
    assert api.put(url, content=b"C", headers={"If-Match": first["etag"]}).status_code == 200
    assert api.put(url, content=b"D", headers={"If-Match": first["etag"]}).status_code == 412


def test_multipart_upload_streams_and_round_trips(small_gateway: Gateway, user: str) -> None:
    with small_gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        payload = os.urandom(11 * MiB + 123)

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(payload), 1_000_000):
                yield payload[start : start + 1_000_000]

        url = f"/v1/sessions/{sid}/files/big.bin"
        response = api.put(url, content=chunks())  # chunked: no Content-Length
        assert response.status_code == 201, response.text
        assert response.json()["size"] == len(payload)
        assert response.json()["etag"].endswith('-3"')  # three 5 MiB parts, made by S3 multipart
        got = api.get(url)
        assert hashlib.sha256(got.content).digest() == hashlib.sha256(payload).digest()


def _no_upload_left(gateway: Gateway, key: str) -> bool:
    s3 = gateway.backend.client()
    uploads = s3.list_multipart_uploads(Bucket=gateway.settings.bucket, Prefix=key).get("Uploads", [])
    versions = s3.list_object_versions(Bucket=gateway.settings.bucket, Prefix=key)
    return not uploads and not versions.get("Versions") and not versions.get("DeleteMarkers")


def test_too_large_is_413_and_stores_nothing(small_gateway: Gateway, user: str) -> None:
    with small_gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        key = small_gateway.owner(user).session(sid).file("huge.bin")
        declared = api.put(f"/v1/sessions/{sid}/files/huge.bin", content=b"x" * (12 * MiB + 1))
        assert declared.status_code == 413
        assert declared.json()["limit_bytes"] == 12 * MiB

        def endless() -> Iterator[bytes]:
            for _ in range(20):
                yield b"y" * MiB

        chunked = api.put(f"/v1/sessions/{sid}/files/huge.bin", content=endless())
        assert chunked.status_code == 413
        assert _no_upload_left(small_gateway, key)


def test_aborted_upload_leaves_nothing_visible(small_gateway: Gateway, user: str) -> None:
    with small_gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        token = api.headers["authorization"]
    key = small_gateway.owner(user).session(sid).file("cut.bin")
    url = urlsplit(small_gateway.url)
    with socket.create_connection((url.hostname, url.port)) as conn:
        conn.sendall(
            (
                f"PUT /v1/sessions/{sid}/files/cut.bin HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n"
                f"Content-Length: {11 * MiB}\r\n\r\n"
            ).encode()
        )
        conn.sendall(b"z" * (7 * MiB))  # past the first part, so a multipart upload is under way
        s3 = small_gateway.backend.client()
        deadline = time.monotonic() + 20
        while not s3.list_multipart_uploads(Bucket=small_gateway.settings.bucket, Prefix=key).get("Uploads"):
            assert time.monotonic() < deadline, "no multipart upload started"
            time.sleep(0.1)
    deadline = time.monotonic() + 20
    while not _no_upload_left(small_gateway, key):
        assert time.monotonic() < deadline, "the aborted upload left something behind"
        time.sleep(0.2)
    with small_gateway.client(user) as api:
        assert api.get(f"/v1/sessions/{sid}/files/cut.bin").status_code == 404


def test_only_a_single_well_formed_byte_range_is_honoured(api: httpx.Client, session_id: str) -> None:
    url = f"/v1/sessions/{session_id}/files/plage é 100%25.bin"
    payload = bytes(range(100))
    assert api.put(url, content=payload).status_code == 201
    for ignored in ["bytes=abc", "bytes=5-2", "items=0-1", "bytes=0-1,3-4", "bytes=-", "bytes= 1-2", "bytes=1-2x"]:
        whole = api.get(url, headers={"Range": ignored})
        assert (whole.status_code, whole.content) == (200, payload), ignored
        assert "content-range" not in whole.headers
    for honoured, part in [("bytes=2-4", payload[2:5]), ("bytes=98-", payload[98:]), ("bytes=-3", payload[-3:])]:
        partial = api.get(url, headers={"Range": honoured})
        assert (partial.status_code, partial.content) == (206, part), honoured
    assert api.get(url, headers={"Range": "bytes=100-"}).status_code == 416
