"""POST /v1/sessions/{sid}/import on both backends: good and hostile entries, zip bombs, failures half-way, manifests.

The gateway here has small limits (50 entries, 8 MiB decompressed, ratio 50, 12 MiB uploads) so that every limit
is cheap to reach, a change hook that records what it hears, and a store observer that can make one S3 call fail:
the failure is injected where S3 would answer, below every service of the gateway.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
import jwt
import pytest

from gateway.api.app import create_app
from gateway.changes import Change, ChangeHook
from gateway.errors import StoreUnavailable
from gateway.settings import MiB
from tests.api.test_openapi import Conformance
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings
from tests.imports.zips import Raw, honest_zip, raw_zip

ZIP = {"content-type": "application/zip"}
IMPORT = "/v1/sessions/{sid}/import"


@dataclass
class ImportGateway:
    changes: list[Change] = field(default_factory=list)
    # S3 calls (operation, key suffix) that fail with 503 as if S3 were unavailable.
    failing: set[tuple[str, str]] = field(default_factory=set)
    calls: list[tuple[str, str]] = field(default_factory=list)
    serving: Gateway | None = None

    def observe(self, operation: str, key: str) -> None:
        self.calls.append((operation, key))
        if any(operation == op and key.endswith(suffix) for op, suffix in self.failing):
            raise StoreUnavailable("injected: the storage backend is unavailable")

    @property
    def gateway(self) -> Gateway:
        assert self.serving is not None
        return self.serving


@pytest.fixture(scope="module")
def imports(backend: Backend) -> Iterator[ImportGateway]:
    settings = gateway_settings(
        backend,
        backend.new_bucket(),
        GATEWAY_MAX_UPLOAD_BYTES=str(12 * MiB),
        GATEWAY_MULTIPART_THRESHOLD_BYTES=str(5 * MiB),
        GATEWAY_IMPORT_MAX_ENTRIES="50",
        GATEWAY_IMPORT_MAX_BYTES=str(8 * MiB),
        GATEWAY_IMPORT_MAX_RATIO="50",
    )
    found = ImportGateway()
    app = create_app(
        settings, credentials=backend.credentials, observer=found.observe, hook=ChangeHook([found.changes.append])
    )
    with ServerThread(app) as url:
        found.serving = Gateway(backend=backend, settings=settings, url=url)
        yield found


@pytest.fixture
def client(imports: ImportGateway) -> Iterator[httpx.Client]:
    with imports.gateway.client(f"user-{uuid.uuid4().hex[:12]}") as api:
        yield api


@pytest.fixture
def sid(client: httpx.Client) -> str:
    response = client.post("/v1/sessions", json={"name": "imports"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
def conformance(imports: ImportGateway) -> Conformance:
    return Conformance(httpx.get(f"{imports.gateway.url}/openapi.json").json())


def _import(client: httpx.Client, sid: str, body: bytes, **params: str) -> httpx.Response:
    return client.post(IMPORT.format(sid=sid), content=body, headers=ZIP, params=params)


def _paths(client: httpx.Client, sid: str) -> list[str]:
    listing = client.get(f"/v1/sessions/{sid}/files", params={"limit": "1000"})
    assert listing.status_code == 200, listing.text
    return [item["path"] for item in listing.json()["items"]]


def _all_versions(imports: ImportGateway, client: httpx.Client, sid: str) -> list[str]:
    """Every version and delete marker of the session's files, straight from the bucket."""
    gateway = imports.gateway
    prefix = _files_prefix(imports, client, sid)
    found = gateway.backend.client().list_object_versions(Bucket=gateway.settings.bucket, Prefix=prefix)
    return sorted(entry["Key"] for name in ("Versions", "DeleteMarkers") for entry in found.get(name, []))


def _files_prefix(imports: ImportGateway, client: httpx.Client, sid: str) -> str:
    sub = _sub_of(client)
    return imports.gateway.owner(sub).session(sid).files_prefix


def _sub_of(client: httpx.Client) -> str:
    token = client.headers["authorization"].removeprefix("Bearer ")
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


GOOD = {
    "notes/today.md": b"# today\n",
    "rapports/e\u0301te\u0301 re\u0301sume\u0301.txt": b"NFD name",  # stored as NFC
    "emoji/🎉 party.txt": b"party",
    "100%.txt": b"percent",
    "数据/报告.csv": b"a,b\n1,2\n",
    "empty.bin": b"",
}


def test_good_entries_become_files_and_hostile_ones_are_refused(
    imports: ImportGateway, client: httpx.Client, sid: str, conformance: Conformance
) -> None:
    entries = [Raw.deflated(name, data) for name, data in GOOD.items()]
    entries += [
        Raw.stored("folder/", b""),  # passed over without a word
        Raw.stored("../x", b"parent"),
        Raw.stored("a/../../x", b"parent"),
        Raw.stored("/abs", b"absolute"),
        Raw.stored("C:\\x", b"drive"),
        Raw.stored("C:/y", b"drive"),
        Raw.stored("a\\b", b"backslash"),
        Raw.symlink("link", "/etc/passwd"),
        Raw.symlink("dirlink/", "/etc"),
        Raw.stored("a//b", b"empty segment"),
        Raw.stored("bidi/invoice\u202efdp.exe", b"bidi"),
        Raw.stored("nul\x00.txt", b"control"),
        Raw.stored("café.txt", b"composed"),
        Raw.stored("cafe\u0301.txt", b"decomposed"),  # the same name after NFC
        Raw.stored("twice.txt", b"one"),
        Raw.stored("twice.txt", b"two"),
        Raw(b"fifo", b"", external_attr=(0o010644) << 16),
        Raw(b"secret.txt", b"xxxx", flags=0x801),  # encrypted
        Raw(b"bzip2.txt", b"xxxx", method=12),
    ]
    changes_before = len(imports.changes)
    response = _import(client, sid, raw_zip(entries))
    assert response.status_code == 201, response.text
    report = conformance.check(response, "POST", IMPORT)
    imported = {item["path"]: item for item in report["imported"]}
    nfc = {"rapports/été résumé.txt" if name.startswith("rapports/") else name: data for name, data in GOOD.items()}
    assert set(imported) == set(nfc)
    for path, data in nfc.items():
        assert imported[path]["size"] == len(data)
        assert imported[path]["sha256"] == hashlib.sha256(data).hexdigest()
        got = client.get(f"/v1/sessions/{sid}/files/{quote(path)}")
        assert got.status_code == 200 and got.content == data, path
    refused = {(item["name"], item["rule"]) for item in report["refused"]}
    assert refused == {
        ("../x", "dot-segment"),
        ("a/../../x", "dot-segment"),
        ("/abs", "absolute-path"),
        ("C:\\x", "drive-letter"),
        ("C:/y", "drive-letter"),
        ("a\\b", "backslash"),
        ("link", "symlink"),
        ("dirlink/", "symlink"),
        ("a//b", "empty-segment"),
        ("bidi/invoice\u202efdp.exe", "bidi-control"),
        ("nul\x00.txt", "control-character"),
        ("café.txt", "duplicate"),
        ("cafe\u0301.txt", "duplicate"),
        ("twice.txt", "duplicate"),
        ("fifo", "not-a-file"),
        ("secret.txt", "encrypted"),
        ("bzip2.txt", "compression-method"),
    }
    assert len(report["refused"]) == 18  # both `twice.txt` entries
    assert all(item["detail"] for item in report["refused"])
    assert report["skipped"] == []
    assert sorted(_paths(client, sid)) == sorted(nfc)
    # Types come from the names; each written file was announced once, as an import.
    assert client.head(f"/v1/sessions/{sid}/files/notes/today.md").headers["content-type"] == "text/markdown"
    assert client.head(f"/v1/sessions/{sid}/files/empty.bin").headers["content-type"] == "application/octet-stream"
    announced = [c for c in imports.changes[changes_before:] if c.session_id == sid]
    assert sorted(c.path or "" for c in announced) == sorted(nfc)
    assert {c.action for c in announced} == {"file.written"} and all(c.detail["via"] == "import" for c in announced)


def test_a_prefix_places_entries_in_a_folder_and_if_content_differs_skips_what_is_there(
    client: httpx.Client, sid: str, conformance: Conformance
) -> None:
    body = honest_zip({"a.txt": b"A", "sub/b.txt": b"B"})
    first = _import(client, sid, body, prefix="imported/été 🎉")
    assert first.status_code == 201, first.text
    assert sorted(item["path"] for item in first.json()["imported"]) == [
        "imported/été 🎉/a.txt",
        "imported/été 🎉/sub/b.txt",
    ]
    again = _import(client, sid, body, prefix="imported/e\u0301te\u0301 🎉/", if_content_differs="true")
    assert again.status_code == 200, again.text
    report = conformance.check(again, "POST", IMPORT)
    assert report["imported"] == [] and report["refused"] == []
    assert [(item["name"], item["reason"]) for item in report["skipped"]] == [
        ("a.txt", "unchanged"),
        ("sub/b.txt", "unchanged"),
    ]
    history = client.get(f"/v1/sessions/{sid}/history", params={"path": "imported/été 🎉/a.txt"}).json()
    assert len(history["items"]) == 1
    bad = _import(client, sid, body, prefix="../up")
    assert bad.status_code == 400 and bad.json()["rule"] == "dot-segment"
    conformance.check(bad, "POST", IMPORT)


def test_empty_archives_and_archives_with_nothing_to_import_answer_200(
    client: httpx.Client, sid: str, conformance: Conformance
) -> None:
    empty = _import(client, sid, honest_zip({}))
    assert empty.status_code == 200
    assert conformance.check(empty, "POST", IMPORT) == {"imported": [], "refused": [], "skipped": []}
    refused_only = _import(client, sid, raw_zip([Raw.stored("../x", b"x"), Raw.stored("dir/", b"")]))
    assert refused_only.status_code == 200
    assert [item["rule"] for item in refused_only.json()["refused"]] == ["dot-segment"]
    assert _paths(client, sid) == []


@pytest.mark.parametrize(
    ("case", "limit", "value"),
    [
        ("ratio", "ratio", 50),
        ("entries", "entries", 50),
        ("total", "total-bytes", 8 * MiB),
        ("lying-ratio", "ratio", 50),
        ("lying-total", "total-bytes", 8 * MiB),
        ("entry", "entry-bytes", 12 * MiB),
    ],
)
def test_zip_bombs_are_413_naming_the_limit_and_write_nothing(
    imports: ImportGateway, client: httpx.Client, sid: str, conformance: Conformance, case: str, limit: str, value: int
) -> None:
    good = [Raw.deflated(f"good/{n}.txt", b"good %d" % n) for n in range(6)]
    if case == "ratio":
        entries = [*good, Raw.deflated("zeros.bin", bytes(4 * MiB))]  # about 1,000 times smaller compressed
    elif case == "entries":
        entries = [Raw.stored(f"many/{n}", b"") for n in range(51)]
    elif case == "total":
        entries = [*good, *(Raw.stored(f"big/{n}.bin", os.urandom(3 * MiB)) for n in range(3))]
    elif case == "lying-ratio":
        # The directory says 1,000 bytes; the data inflates to 4 MiB. Only counting while decompressing finds out.
        entries = [*good, Raw.deflated("liar.bin", bytes(4 * MiB), file_size=1000)]
    elif case == "lying-total":
        # Incompressible bytes, so no ratio gives it away: the entry claims 1 KiB and holds 9 MiB.
        entries = [*good, Raw.deflated("liar.bin", os.urandom(9 * MiB), file_size=1024)]
    else:
        entries = [*good, Raw.stored("huge.bin", b"x", file_size=13 * MiB)]
    calls_before = len(imports.calls)
    response = _import(client, sid, raw_zip(entries))
    assert response.status_code == 413, response.text
    problem = conformance.check(response, "POST", IMPORT)
    assert problem["type"] == "/problems/archive-limit"
    assert (problem["limit"], problem["limit_value"]) == (limit, value)
    assert str(value) in problem["detail"]
    assert _paths(client, sid) == []
    assert _all_versions(imports, client, sid) == []
    if case.startswith("lying"):
        # Judged while decompressing: the good entries were written first, then withdrawn.
        puts = [key for op, key in imports.calls[calls_before:] if op == "put_object" and "/f/good/" in key]
        assert puts, "the lying entry was refused before anything was written; the test would prove nothing"


def test_a_damaged_entry_half_way_withdraws_everything_written(
    imports: ImportGateway, client: httpx.Client, sid: str, conformance: Conformance
) -> None:
    base = f"/v1/sessions/{sid}/files"
    before = client.put(f"{base}/kept.txt", content=b"before the import")
    assert before.status_code == 201
    entries = [Raw.deflated(f"part/{n}.txt", b"entry %d" % n) for n in range(12)]
    entries.insert(4, Raw.deflated("kept.txt", b"from the import"))
    entries.append(Raw.deflated("part/damaged.txt", b"damaged bytes", crc=1234))
    calls_before = len(imports.calls)
    changes_before = len(imports.changes)
    response = _import(client, sid, raw_zip(entries))
    assert response.status_code == 400, response.text
    problem = conformance.check(response, "POST", IMPORT)
    assert problem["type"] == "/problems/invalid-archive" and problem["entry"] == "part/damaged.txt"
    written = [key for op, key in imports.calls[calls_before:] if op == "put_object"]
    assert len(written) >= 5  # entries before the damaged one were written...
    assert _paths(client, sid) == ["kept.txt"]  # ...and withdrawn
    assert client.get(f"{base}/kept.txt").content == b"before the import"
    history = client.get(f"/v1/sessions/{sid}/history", params={"path": "kept.txt"}).json()["items"]
    assert [item["version_id"] for item in history] == [before.json()["version_id"]]
    assert _all_versions(imports, client, sid) == [_files_prefix(imports, client, sid) + "kept.txt"]
    # The snapshot taken before the import went with it (docs/recovery.md); nothing else was announced.
    announced = [c.action for c in imports.changes[changes_before:] if c.session_id == sid]
    assert announced == ["snapshot.created", "snapshot.deleted"]
    assert client.get(f"/v1/sessions/{sid}/snapshots").json()["items"] == []


def test_a_store_failure_half_way_withdraws_everything_written(
    imports: ImportGateway, client: httpx.Client, sid: str, conformance: Conformance
) -> None:
    entries = {f"batch/{n:02}.txt": b"entry %d" % n for n in range(16)}
    imports.failing.add(("put_object", f"{sid}/f/batch/12.txt"))
    calls_before = len(imports.calls)
    try:
        response = _import(client, sid, honest_zip(entries))
    finally:
        imports.failing.clear()
    assert response.status_code == 503, response.text
    assert conformance.check(response, "POST", IMPORT)["type"] == "/problems/store-unavailable"
    puts = [key for op, key in imports.calls[calls_before:] if op == "put_object"]
    assert len(puts) >= 10
    assert _paths(client, sid) == []
    assert _all_versions(imports, client, sid) == []
    # The same archive, once S3 answers again, imports whole.
    assert _import(client, sid, honest_zip(entries)).status_code == 201
    assert sorted(_paths(client, sid)) == sorted(entries)


def test_a_withdrawal_that_fails_too_is_said_so(
    imports: ImportGateway, client: httpx.Client, sid: str, conformance: Conformance
) -> None:
    entries = {f"batch/{n:02}.txt": b"entry %d" % n for n in range(16)}
    imports.failing.update({("put_object", f"{sid}/f/batch/12.txt"), ("delete_objects", f"{sid}/f/")})
    try:
        response = _import(client, sid, honest_zip(entries))
    finally:
        imports.failing.clear()
    assert response.status_code == 502, response.text
    problem = conformance.check(response, "POST", IMPORT)
    assert problem["type"] == "/problems/store-error"
    assert "withdrawing" in problem["detail"] and "injected" in problem["detail"]
    # What could not be withdrawn stays, complete files each: the client was told.
    left = _paths(client, sid)
    assert left and set(left) < set(entries)
    for path in left:
        assert client.get(f"/v1/sessions/{sid}/files/{path}").content == entries[path]


def test_a_truncated_or_overlapping_archive_is_400_and_writes_nothing(
    imports: ImportGateway, client: httpx.Client, sid: str, conformance: Conformance
) -> None:
    whole = honest_zip({f"t/{n}.txt": b"x" * 100 for n in range(10)})
    for body in (whole[: len(whole) // 2], whole[:-10], b"not a zip at all", b""):
        response = _import(client, sid, body)
        assert response.status_code == 400, response.text
        assert conformance.check(response, "POST", IMPORT)["type"] == "/problems/invalid-archive"
    # Two directory entries sharing one local header's data: how small archives make many large files.
    one = raw_zip([Raw.stored("same.txt", b"shared bytes")])
    directory_at = one.index(b"PK\x01\x02")
    entry = one[directory_at : one.index(b"PK\x05\x06")]
    overlapping = one[:directory_at] + entry + entry + _end_record(2, len(entry) * 2, directory_at)
    response = _import(client, sid, overlapping)
    assert response.status_code == 400, response.text
    assert "overlap" in response.json()["detail"]
    assert _all_versions(imports, client, sid) == []


def _end_record(count: int, size: int, offset: int) -> bytes:
    return struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, size, offset, 0)


def test_an_export_manifest_restores_tiers_and_checks_digests(
    imports: ImportGateway, client: httpx.Client, sid: str, conformance: Conformance
) -> None:
    files = {
        "keep.txt": b"keep me",
        "brief.txt": b"gone soon",
        "wrong.txt": b"changed",
        "odd.txt": b"odd",
        "plain.txt": b"p",
    }
    manifest = {
        "format": 1,
        "exported_at": "2026-01-01T00:00:00Z",
        "files": [
            {"path": "keep.txt", "version_id": "v1", "size": 7, "tier": "permanent",
             "sha256": hashlib.sha256(b"keep me").hexdigest(), "last_modified": "2026-01-01T00:00:00Z", "extra": 1},
            {"path": "brief.txt", "tier": "ephemeral", "sha256": hashlib.sha256(b"gone soon").hexdigest()},
            {"path": "wrong.txt", "tier": "persistent", "sha256": hashlib.sha256(b"original").hexdigest()},
            {"path": "odd.txt", "tier": "no-such-tier"},
            {"path": "missing.txt", "tier": "permanent"},
            {"no path": True},
        ],
    }  # fmt: skip
    body = honest_zip({**files, "manifest.json": json.dumps(manifest).encode()})
    response = _import(client, sid, body)
    assert response.status_code == 201, response.text
    report = conformance.check(response, "POST", IMPORT)
    tiers = {item["path"]: item["tier"] for item in report["imported"]}
    assert tiers == {"keep.txt": "permanent", "brief.txt": "ephemeral", "plain.txt": "standard"}
    assert {(item["name"], item["rule"]) for item in report["refused"]} == {
        ("wrong.txt", "sha256-mismatch"),
        ("odd.txt", "unknown-tier"),
    }
    assert [(item["name"], item["reason"]) for item in report["skipped"]] == [("manifest.json", "manifest")]
    for path, tier in tiers.items():
        assert client.head(f"/v1/sessions/{sid}/files/{path}").headers["x-tier"] == tier
    assert sorted(_paths(client, sid)) == sorted(tiers)
    assert _all_versions(imports, client, sid) == sorted(_files_prefix(imports, client, sid) + p for p in tiers)


def test_a_manifest_json_that_is_no_export_manifest_is_an_ordinary_file(client: httpx.Client, sid: str) -> None:
    web_app = json.dumps({"name": "My app", "icons": []}).encode()
    response = _import(client, sid, honest_zip({"manifest.json": web_app}))
    assert response.status_code == 201, response.text
    assert [item["path"] for item in response.json()["imported"]] == ["manifest.json"]
    assert client.get(f"/v1/sessions/{sid}/files/manifest.json").content == web_app


def test_who_may_import_where(imports: ImportGateway, client: httpx.Client, sid: str, conformance: Conformance) -> None:
    body = honest_zip({"a.txt": b"a"})
    url = IMPORT.format(sid=sid)
    gateway = imports.gateway
    with gateway.client(_sub_of(client), scope="files:read") as reader:
        assert reader.post(url, content=body, headers=ZIP).status_code == 403
    with gateway.client("someone-else") as stranger:
        assert stranger.post(url, content=body, headers=ZIP).status_code == 404
    assert client.post(IMPORT.format(sid="01ARZ3NDEKTSV4RRFFQ69G5FAV"), content=body, headers=ZIP).status_code == 404
    wrong_type = client.post(url, content=body, headers={"content-type": "application/octet-stream"})
    assert wrong_type.status_code == 415
    conformance.check(wrong_type, "POST", IMPORT)
    too_large = client.post(url, content=b"x" * (12 * MiB + 1), headers=ZIP)
    assert too_large.status_code == 413 and too_large.json()["limit_bytes"] == 12 * MiB
    assert _paths(client, sid) == []
    assert client.post(f"/v1/sessions/{sid}/end").status_code == 200
    ended = client.post(url, content=body, headers=ZIP)
    assert ended.status_code == 409
    conformance.check(ended, "POST", IMPORT)
