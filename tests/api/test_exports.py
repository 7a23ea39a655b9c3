"""Exports over HTTP on both backends: the streamed zip, its manifest, names, moments, redaction and built exports."""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import unicodedata
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import Gateway

MANY = 500
NAMES = [
    "rapports/e\u0301te\u0301 2026 re\u0301sume\u0301.txt",  # NFD: stored and zipped as NFC
    "数据/报告.md",
    "emoji/🎉 party 👨‍👩‍👧.txt",
    "100%.txt",
    "a%2Fb",
    "deep/er/still/deeper.bin",
]


def put_all(api: httpx.Client, sid: str, files: dict[str, bytes]) -> None:
    def put(item: tuple[str, bytes]) -> None:
        path, data = item
        response = api.put(f"/v1/sessions/{sid}/files/{quote(path)}", content=data)
        assert response.status_code in (200, 201), response.text

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, files.items()))


def export(api: httpx.Client, sid: str, **params: Any) -> zipfile.ZipFile:
    response = api.get(f"/v1/sessions/{sid}/export.zip", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.content))


def manifest_of(archive: zipfile.ZipFile, name: str = "manifest.json") -> dict[str, Any]:
    found: dict[str, Any] = json.loads(archive.read(name))
    return found


def check_entries(archive: zipfile.ZipFile, expected: dict[str, bytes]) -> dict[str, Any]:
    """Every file is in the zip with its bytes, and the manifest describes each entry exactly."""
    assert archive.testzip() is None
    manifest = manifest_of(archive)
    by_path = {entry["path"]: entry for entry in manifest["files"]}
    assert set(by_path) == set(expected)
    for path, data in expected.items():
        entry = by_path[path]
        content = archive.read(entry.get("name", path))
        assert content == data, path
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["version_id"] and entry["tier"] == "standard" and entry["last_modified"].endswith("Z")
    assert sorted(archive.namelist()) == sorted(
        [e.get("name", e["path"]) for e in manifest["files"]] + ["manifest.json"]
    )
    assert manifest["file_count"] == len(expected) and manifest["total_size"] == sum(map(len, expected.values()))
    return manifest


def test_a_zip_of_hundreds_of_files_holds_every_byte(gateway: Gateway, api: httpx.Client, session_id: str) -> None:
    files = {f"batch/{i // 100:02d}/file-{i:04d}.txt": os.urandom(i % 700 + 1) for i in range(MANY)}
    put_all(api, session_id, files)
    started = time.monotonic()
    archive = export(api, session_id)
    elapsed = time.monotonic() - started
    manifest = check_entries(archive, files)
    assert [entry["path"] for entry in manifest["files"]] == sorted(files)  # key order
    assert manifest["session"] == {"id": session_id, "name": "test"}
    assert manifest["selection"] == {"prefix": "", "paths": [], "at": None} and manifest["redact"] is False
    assert manifest["not_found"] == [] and manifest["skipped"] == []
    assert elapsed < 30, elapsed


def test_names_round_trip_and_are_safe_in_any_unzip_tool(api: httpx.Client, session_id: str) -> None:
    files = {name: name.encode() * 3 for name in NAMES}
    files["C:/windows.txt"] = b"a drive letter"
    files["manifest.json"] = b"the session's own manifest.json"
    put_all(api, session_id, files)
    response = api.get(f"/v1/sessions/{session_id}/export.zip")
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    stored = {unicodedata.normalize("NFC", path): data for path, data in files.items()}
    manifest = manifest_of(archive, "manifest (2).json")
    by_path = {entry["path"]: entry for entry in manifest["files"]}
    assert set(by_path) == set(stored)
    for path, data in stored.items():
        name = by_path[path].get("name", path)
        assert archive.read(name) == data
    assert by_path["C:/windows.txt"]["name"] == "C_/windows.txt"
    assert "name" not in by_path["manifest.json"] and archive.read("manifest.json") == files["manifest.json"]
    for info in archive.infolist():
        segments = info.filename.split("/")
        assert ".." not in segments and "\\" not in info.filename and not info.filename.startswith("/")
        assert ":" not in segments[0]
        assert info.flag_bits & 0x800 or info.filename.isascii()  # UTF-8 names are marked as such
    assert response.headers["content-disposition"] == "attachment; filename=\"test.zip\"; filename*=UTF-8''test.zip"


def test_the_download_is_named_after_the_session(api: httpx.Client) -> None:
    sid = api.post("/v1/sessions", json={"name": "Rapport d'été / 2026 🎉"}).json()["id"]
    put_all(api, sid, {"x.txt": b"x"})
    response = api.get(f"/v1/sessions/{sid}/export.zip")
    assert response.headers["content-disposition"] == (
        'attachment; filename="Rapport d\'_t_ _ 2026 _.zip"; '
        "filename*=UTF-8''Rapport%20d%27%C3%A9t%C3%A9%20_%202026%20%F0%9F%8E%89.zip"
    )
    unnamed = api.post("/v1/sessions", json={}).json()["id"]
    put_all(api, unnamed, {"x.txt": b"x"})
    assert f'filename="{unnamed}.zip"' in api.get(f"/v1/sessions/{unnamed}/export.zip").headers["content-disposition"]


def test_prefix_and_paths_select_files_and_folders(api: httpx.Client, session_id: str) -> None:
    files = {"a/1.txt": b"1", "a/2.txt": b"2", "a/sub/3.txt": b"3", "b/4.txt": b"4", "c.txt": b"5", "ab.txt": b"6"}
    put_all(api, session_id, files)
    only = export(api, session_id, prefix="a/")
    assert sorted(e["path"] for e in manifest_of(only)["files"]) == ["a/1.txt", "a/2.txt", "a/sub/3.txt"]
    picked = export(api, session_id, path=["c.txt", "a/sub/", "a/sub/3.txt", "missing.txt", "a/1.txt"])
    manifest = manifest_of(picked)
    assert [e["path"] for e in manifest["files"]] == ["a/1.txt", "a/sub/3.txt", "c.txt"]
    assert manifest["not_found"] == ["missing.txt"]
    assert manifest["selection"]["paths"] == ["c.txt", "a/sub/", "a/sub/3.txt", "missing.txt", "a/1.txt"]
    both = export(api, session_id, prefix="a/", path=["a/sub/", "c.txt", "b/"])
    assert [e["path"] for e in manifest_of(both)["files"]] == ["a/sub/3.txt"]


def test_an_empty_selection_is_404(api: httpx.Client, session_id: str) -> None:
    put_all(api, session_id, {"a.txt": b"a"})
    for params in ({"prefix": "nothing/"}, {"path": ["nope.txt"]}, {"prefix": "b", "path": ["a.txt"]}):
        response = api.get(f"/v1/sessions/{session_id}/export.zip", params=params)
        assert response.status_code == 404, response.text
        assert response.json()["type"] == "/problems/not-found"
    empty = api.post("/v1/sessions", json={}).json()["id"]
    assert api.get(f"/v1/sessions/{empty}/export.zip").status_code == 404
    assert api.post(f"/v1/sessions/{empty}/exports", json={}).status_code == 404
    assert api.head(f"/v1/sessions/{session_id}/export.zip").status_code == 200


def test_bad_input_is_a_problem_naming_it(api: httpx.Client, session_id: str) -> None:
    put_all(api, session_id, {"a.txt": b"a"})
    url = f"/v1/sessions/{session_id}/export.zip"
    for at in ("yesterday", "2026-01-01", "2026-01-01T00:00:00", "2026-02-30T00:00:00Z", "2999-01-01T00:00:00Z"):
        response = api.get(url, params={"at": at})
        assert response.status_code == 400, (at, response.text)
        problem = response.json()
        assert problem["type"] == "/problems/invalid-parameter" and problem["parameter"] == "at", problem
        body = api.post(f"/v1/sessions/{session_id}/exports", json={"at": at})
        assert body.status_code == 400 and body.json()["errors"][0]["field"] == "at", body.text
    assert api.get(url, params={"path": "a/../b"}).json()["rule"] == "dot-segment"
    assert api.get(url, params={"prefix": "\u202e"}).json()["rule"] == "bidi-control"
    too_many = api.get(url, params={"path": [f"f{i}" for i in range(1001)]})
    assert too_many.status_code == 400 and too_many.json()["parameter"] == "path"
    assert api.get(url, params={"redact": "maybe"}).status_code == 400
    invalid = api.post(f"/v1/sessions/{session_id}/exports", json={"paths": "a.txt", "colour": 1})
    assert {e["field"] for e in invalid.json()["errors"]} == {"paths", "colour"}


def test_someone_else_s_session_is_not_found(gateway: Gateway, api: httpx.Client, session_id: str) -> None:
    put_all(api, session_id, {"secret.txt": b"mine"})
    with gateway.client("intruder") as intruder:
        assert intruder.get(f"/v1/sessions/{session_id}/export.zip").status_code == 404
        assert intruder.post(f"/v1/sessions/{session_id}/exports", json={}).status_code == 404
    with gateway.client("writer-only", scope="files:write") as writer:
        assert writer.get(f"/v1/sessions/{session_id}/export.zip").status_code == 403
    attacker_keys = [key for _operation, key in gateway.touched if "intruder" in key]
    assert attacker_keys == []


SECRETS = {
    "aws-access-key-id": "AKIAIOSFODNN7EXAMPLE",
    "aws-secret-access-key": 'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "bearer-token": "Authorization: Bearer 0123456789abcdefXYZ",
    "private-key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
    "github-token": "ghp_0123456789abcdefghijABCDEFGHIJ012345",
    "slack-token": "xoxb-1234567890-0987654321-abcdefghij",
    "stripe-key": "sk_live_0123456789abcdefABCDEF",
    "google-api-key": "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    "sk-api-key": "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
}


def test_redaction_replaces_each_kind_and_leaves_binaries_alone(api: httpx.Client, session_id: str) -> None:
    text = "config 🔑\n" + "\n".join(f"{kind}: {value}" for kind, value in SECRETS.items()) + "\nthe end\n"
    binary = b"\x89PNG\r\n\x1a\n\x00\xff" + SECRETS["aws-access-key-id"].encode() + bytes(range(256))
    large = ("filler line\n" * 100_000 + SECRETS["github-token"]).encode()  # over 1 MiB: not scanned
    files = {"notes/config é.txt": text.encode(), "image.png": binary, "big.log": large, "clean.txt": b"nothing here"}
    put_all(api, session_id, files)
    archive = export(api, session_id, redact="true")
    manifest = manifest_of(archive)
    by_path = {entry["path"]: entry for entry in manifest["files"]}
    redacted = archive.read("notes/config é.txt").decode()
    for kind, value in SECRETS.items():
        assert f"[REDACTED:{kind}]" in redacted, kind
        assert value.split()[-1].strip('"') not in redacted, kind
    assert "config 🔑" in redacted and "the end" in redacted
    entry = by_path["notes/config é.txt"]
    assert entry["redaction"] == {"scanned": True, "replaced": dict.fromkeys(SECRETS, 1)}
    assert entry["size"] == len(redacted.encode()) and entry["sha256"] == hashlib.sha256(redacted.encode()).hexdigest()
    assert entry["original"] == {
        "size": len(files["notes/config é.txt"]),
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
    assert archive.read("image.png") == binary
    assert by_path["image.png"]["redaction"] == {"scanned": False, "reason": "binary"}
    assert "original" not in by_path["image.png"]
    assert archive.read("big.log") == large and by_path["big.log"]["redaction"] == {
        "scanned": False,
        "reason": "too-large",
    }
    assert archive.read("clean.txt") == b"nothing here"
    assert by_path["clean.txt"]["redaction"] == {"scanned": True, "replaced": {}}
    assert manifest["redaction"]["replaced"] == dict(sorted(dict.fromkeys(SECRETS, 1).items()))
    assert manifest["redaction"]["files_changed"] == 1 and manifest["redaction"]["files_not_scanned"] == 2
    assert set(SECRETS) <= set(manifest["redaction"]["kinds"])
    plain = export(api, session_id)
    assert plain.read("notes/config é.txt") == text.encode() and "redaction" not in manifest_of(plain)


def test_at_gives_the_files_as_they_were(api: httpx.Client, session_id: str) -> None:
    base = f"/v1/sessions/{session_id}"
    put_all(api, session_id, {"kept.txt": b"v1", "gone.txt": b"doomed", "same.txt": b"same"})
    written = [
        api.get(f"{base}/history", params={"path": path}).json()["items"][0]["last_modified"]
        for path in ("kept.txt", "gone.txt", "same.txt")
    ]
    then = max(written)
    after_the_second(then)
    assert api.put(f"{base}/files/kept.txt", content=b"v2").status_code == 200
    assert api.delete(f"{base}/files/gone.txt").status_code == 204
    put_all(api, session_id, {"later.txt": b"new"})
    old = export(api, session_id, at=then)
    manifest = check_entries(old, {"kept.txt": b"v1", "gone.txt": b"doomed", "same.txt": b"same"})
    assert manifest["selection"]["at"] == then
    versions = api.get(f"{base}/history", params={"path": "kept.txt"}).json()["items"]
    assert {e["path"]: e["version_id"] for e in manifest["files"]}["kept.txt"] == versions[-1]["version_id"]
    check_entries(export(api, session_id), {"kept.txt": b"v2", "same.txt": b"same", "later.txt": b"new"})
    assert api.get(f"{base}/export.zip", params={"at": "2000-01-01T00:00:00Z"}).status_code == 404


def after_the_second(moment: str) -> None:
    """Wait until the second after `moment` has begun: some backends (moto) keep times to the second, so only then
    can a later write not share `moment`'s timestamp. S3 sets these times, so there is no clock to inject."""
    ends = datetime.fromisoformat(moment.replace("Z", "+00:00")).replace(microsecond=0) + timedelta(seconds=1)
    while datetime.now(UTC) < ends:
        time.sleep(0.02)


def wait_for(api: httpx.Client, location: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        status: dict[str, Any] = api.get(location).json()
        if status["status"] in ("done", "failed") or time.monotonic() > deadline:
            return status
        time.sleep(0.05)  # the build runs on the server: polling is what a client does


def test_a_built_export_is_the_same_zip_behind_a_link(gateway: Gateway, api: httpx.Client, session_id: str) -> None:
    files = {name: os.urandom(50) for name in NAMES}
    files["big.bin"] = os.urandom(9 * 1024 * 1024)  # a multipart upload of the zip
    put_all(api, session_id, files)
    accepted = api.post(f"/v1/sessions/{session_id}/exports", json={"redact": True})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "pending" and set(accepted.json()) >= {"id", "status", "expires_at"}
    location = accepted.headers["location"]
    assert location == f"/v1/sessions/{session_id}/exports/{accepted.json()['id']}"
    done = wait_for(api, location)
    assert done["status"] == "done", done
    linked = httpx.get(done["url"], timeout=60)
    assert linked.status_code == 200 and done["size"] == len(linked.content)
    assert "attachment" in linked.headers["content-disposition"]
    built = zipfile.ZipFile(io.BytesIO(linked.content))
    streamed = export(api, session_id, redact="true")
    stored = {unicodedata.normalize("NFC", path): data for path, data in files.items()}
    for archive in (built, streamed):
        manifest = manifest_of(archive)
        assert {e["path"]: archive.read(e["path"]) for e in manifest["files"]} == stored
    assert [dict(e, last_modified=None) for e in manifest_of(built)["files"]] == [
        dict(e, last_modified=None) for e in manifest_of(streamed)["files"]
    ]
    listed = api.get(f"/v1/sessions/{session_id}/files", params={"limit": 1000}).json()
    assert sorted(item["path"] for item in listed["items"]) == sorted(stored)  # exports are never files


def test_unknown_exports_are_not_found(gateway: Gateway, api: httpx.Client, session_id: str) -> None:
    base = f"/v1/sessions/{session_id}/exports"
    for export_id in (
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "nope",
        "01ARZ3NDEKTSV4RRFFQ69G5FA%25",
        "01arz3ndektsv4rrffq69g5fav",
    ):
        response = api.get(f"{base}/{export_id}")
        assert response.status_code == 404, export_id
        assert response.json()["type"] == "/problems/not-found"
    put_all(api, session_id, {"a.txt": b"a"})
    location = api.post(base, json={}).headers["location"]
    assert wait_for(api, location)["status"] == "done"
    with gateway.client("someone-else") as other:
        assert other.get(location).status_code == 404


def test_deleting_a_session_removes_its_exports(gateway: Gateway, api: httpx.Client, session_id: str) -> None:
    put_all(api, session_id, {"a.txt": b"a"})
    location = api.post(f"/v1/sessions/{session_id}/exports", json={}).headers["location"]
    assert wait_for(api, location)["status"] == "done"
    keys = gateway.owner(gateway_user(api)).session(session_id)
    s3 = gateway.backend.client()

    def exported() -> list[str]:
        listing = s3.list_object_versions(Bucket=gateway.settings.bucket, Prefix=keys.exports_prefix)
        return [v["Key"] for v in listing.get("Versions", []) + listing.get("DeleteMarkers", [])]

    assert len(set(exported())) == 2  # the record and the zip
    assert api.delete(f"/v1/sessions/{session_id}").status_code == 204
    assert exported() == []
    assert api.get(location).status_code == 404


def gateway_user(api: httpx.Client) -> str:
    token = str(api.headers["authorization"]).split()[1]
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(__import__("base64").urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["sub"])


@pytest.mark.parametrize("redact", [False, True])
def test_an_ended_session_can_still_be_exported(api: httpx.Client, redact: bool) -> None:
    sid = api.post("/v1/sessions", json={"name": "ended"}).json()["id"]
    put_all(api, sid, {"result.txt": b"done"})
    assert api.post(f"/v1/sessions/{sid}/end").status_code == 200
    archive = export(api, sid, redact=str(redact).lower())
    assert archive.read("result.txt") == b"done"


def test_a_client_that_hangs_up_mid_zip_leaves_the_gateway_well(gateway: Gateway, api: httpx.Client) -> None:
    sid = api.post("/v1/sessions", json={}).json()["id"]
    put_all(api, sid, {f"f{i:03d}.bin": os.urandom(300 * 1024) for i in range(40)})  # streamed, not read ahead
    impatient = gateway.client(gateway_user(api))
    with impatient, impatient.stream("GET", f"/v1/sessions/{sid}/export.zip") as response:
        assert response.status_code == 200
        first = next(response.iter_raw())
        assert first.startswith(b"PK\x03\x04")
    archive = export(api, sid)  # the next export is whole
    assert len(manifest_of(archive)["files"]) == 40 and archive.testzip() is None
