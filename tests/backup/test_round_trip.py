"""A session backed up, its bucket emptied of every version (files, session record, owner key), and brought back
from the backup alone: byte for byte, with type, tier and SHA-256, as it is now or as it was at a moment."""

from __future__ import annotations

import hashlib
import os
import unicodedata
from datetime import datetime
from typing import Any

from gateway.backup.summary import Summary
from gateway.keys import owner_key_name
from gateway.services.sessions import new_session_id
from gateway.wire import iso
from tests.backup.conftest import NAMES, Cli, Site, get, history, put
from tests.conftest import KEY_ROOT

SUMMARY_FIELDS = set(Summary("backup run").document())
MiB = 1024 * 1024


def listing(site: Site, user: str, sid: str) -> dict[str, tuple[int, str | None, str | None]]:
    with site.client(user) as api:
        response = api.get(f"/v1/sessions/{sid}/files", params={"limit": "1000"})
        assert response.status_code == 200, response.text
        return {item["path"]: (item["size"], item["tier"], item["sha256"]) for item in response.json()["items"]}


def state_at(histories: dict[str, list[dict[str, Any]]], at: datetime | None) -> dict[str, str]:
    """path -> version id of what a restore must bring back: the newest entry at or before `at` (histories are
    newest first, as the bucket lists them), when it is a version of a backed-up tier."""
    state = {}
    for path, entries in histories.items():
        then = [e for e in entries if at is None or datetime.fromisoformat(e["last_modified"]) <= at]
        if then and not then[0]["is_delete_marker"] and then[0]["tier"] in {"persistent", "permanent"}:
            state[path] = then[0]["version_id"]
    return state


def test_a_session_comes_back_after_its_bucket_lost_everything(site: Site, cli: Cli, user: str) -> None:
    contents: dict[str, bytes] = {}  # version id -> bytes
    with site.client(user) as api:
        sid = api.post("/v1/sessions", json={"name": "projet é🎉 100%"}).json()["id"]

        def write(path: str, data: bytes, tier: str, content_type: str = "text/plain; charset=utf-8") -> None:
            contents[put(api, sid, path, data, **{"x-tier": tier, "content-type": content_type})["version_id"]] = data

        for index, name in enumerate(NAMES):
            write(name, f"{name}\n".encode() * (index + 1) + os.urandom(16), "persistent")
        # Larger than the multipart threshold: a multipart upload both ways.
        write("archive/grand 📦.bin", os.urandom(9 * MiB), "permanent", "application/octet-stream")
        write("brouillon.txt", b"draft", "standard")
        write("scratch/tmp.txt", b"scratch", "ephemeral")
        write(NAMES[0], b"second version", "persistent")
        assert api.delete(f"/v1/sessions/{sid}/files/{NAMES[1]}").status_code == 204
        write(NAMES[2], b"now a working copy", "standard")  # its current version is of a tier not backed up
        paths = [*NAMES, "archive/grand 📦.bin", "brouillon.txt", "scratch/tmp.txt"]
        histories = {unicodedata.normalize("NFC", path): history(api, sid, path) for path in paths}
        assert api.patch(f"/v1/sessions/{sid}", json={"name": "renamed"}).status_code == 200
    before = listing(site, user, sid)
    record = site.owner(user).session(sid).record
    renamed_at = site.backend.client().list_object_versions(Bucket=site.settings.bucket, Prefix=record)["Versions"]
    renamed_at = max(version["LastModified"] for version in renamed_at)

    code, summary = cli("run")
    assert code == 0 and summary is not None and summary["ok"], summary
    assert set(summary) == SUMMARY_FIELDS == {"command", "ok", "counts", "bytes", "seconds", "errors"}
    assert summary["command"] == "backup run" and summary["errors"] == [] and summary["seconds"] >= 0
    counts = summary["counts"]
    # 4 + 1 persistent versions, the permanent file, the session record's two versions; not the others.
    assert counts["versions_copied"] == 8 and counts["blobs_uploaded"] == 8
    assert counts["markers_noted"] == 1 and counts["skipped_noted"] == 1
    assert counts["sessions"] == 1 and counts["owner_keys_copied"] == 1
    kept = {e["version_id"] for h in histories.values() for e in h if e["tier"] in {"persistent", "permanent"}}
    assert summary["bytes"] > sum(len(data) for version, data in contents.items() if version in kept)

    site.purge_source()
    with site.client(user) as api:
        assert api.get(f"/v1/sessions/{sid}").status_code == 404

    code, restored = cli("restore", "--user", user, "--session", sid)
    assert code == 0 and restored is not None and restored["ok"], restored
    counts = restored["counts"]
    assert counts["files_restored"] == 3 and counts["files_deleted_then"] == 1 and counts["files_not_kept"] == 1
    assert counts["session_records_restored"] == 1 and counts["owner_keys_restored"] == 1
    latest = state_at(histories, None)
    assert set(latest) == {unicodedata.normalize("NFC", NAMES[0]), NAMES[3], "archive/grand 📦.bin"}
    assert restored["bytes"] == sum(len(contents[version]) for version in latest.values())
    assert listing(site, user, sid) == {path: before[path] for path in latest}
    with site.client(user) as api:
        assert api.get(f"/v1/sessions/{sid}").json()["name"] == "renamed"
        for path, version in latest.items():
            response = get(api, sid, path)
            assert response.status_code == 200 and response.content == contents[version]
            assert response.headers["content-type"] == before_type(path)
            assert response.headers["repr-digest"].startswith("sha-256=:")
            assert api.head(f"/v1/sessions/{sid}/files/{path}").headers["x-tier"] == before[path][1]
        for path in histories.keys() - latest.keys():
            assert get(api, sid, path).status_code == 404

    again = cli("restore", "--user", user, "--session", sid)[1]
    assert again is not None and again["ok"] and again["counts"]["files_identical"] == 3
    assert "files_restored" not in again["counts"] and again["counts"]["session_records_kept"] == 1

    # As it was at two moments: when the first file was first written, and when a file was deleted (another was
    # still persistent then). The server's own times of those entries; moto dates them to the second, Ceph RGW to
    # the millisecond, so on moto a moment may also hold what was written in the same second.
    first = datetime.fromisoformat(histories[unicodedata.normalize("NFC", NAMES[0])][-1]["last_modified"])
    deleted = datetime.fromisoformat(histories[unicodedata.normalize("NFC", NAMES[1])][0]["last_modified"])
    for moment in (first, deleted):
        then = state_at(histories, moment)
        assert unicodedata.normalize("NFC", NAMES[0]) in then
        fork = new_session_id()
        code, earlier = cli("restore", "--user", user, "--session", sid, "--at", iso(moment), "--to-session", fork)
        assert code == 0 and earlier is not None and earlier["ok"], earlier
        found = listing(site, user, fork)
        assert set(found) == set(then)
        with site.client(user) as api:
            for path, version in then.items():
                assert get(api, fork, path).content == contents[version]
                assert found[path][2] == hashlib.sha256(contents[version]).hexdigest()
            record = api.get(f"/v1/sessions/{fork}").json()
        assert record["id"] == fork and record["name"] == ("renamed" if renamed_at <= moment else "projet é🎉 100%")
    assert NAMES[1] not in then  # deleted at the second moment
    replaced = datetime.fromisoformat(histories[NAMES[2]][0]["last_modified"])
    assert (NAMES[2] in then) == (replaced > deleted)  # persistent still, unless the server dated both alike


def before_type(path: str) -> str:
    return "application/octet-stream" if path.endswith(".bin") else "text/plain; charset=utf-8"


def test_restore_says_what_it_cannot_do(site: Site, cli: Cli, user: str) -> None:
    code, summary = cli("restore", "--user", user, "--session", new_session_id())
    assert code == 3 and summary is not None and not summary["ok"]
    assert summary["errors"][0]["problem"] == "nothing-to-restore"
    assert cli("restore", "--user", user, "--session", new_session_id(), "--at", "yesterday") == (2, None)
    assert cli("restore", "--user", user, "--session", "not-a-session") == (2, None)


def test_every_session_comes_back_without_naming_owners(site: Site, cli: Cli, user: str) -> None:
    """After a total loss nobody has a list of owners: the backup knows their sessions by their kept keys."""
    owners = [(user, None), (f"{user}-é🎉", "tenant 100%")]
    sessions = {}
    for sub, tenant in owners:
        with site.client(sub, tenant=tenant) as api:
            sid = api.post("/v1/sessions", json={"name": f"de {sub}"}).json()["id"]
            for name in NAMES:
                put(api, sid, name, f"{sub}: {name}".encode(), **{"x-tier": "permanent"})
            sessions[(sub, tenant)] = sid
    assert cli("run")[0] == 0
    site.purge_source()

    assert cli("restore", "--all", "--user", user) == (2, None)
    # A gateway started on the emptied bucket made a new owner key: sessions put back at their kept keys would be
    # out of every token's reach, so nothing is written.
    s3 = site.backend.client()
    s3.put_object(Bucket=site.settings.bucket, Key=owner_key_name(KEY_ROOT), Body=os.urandom(32))
    code, refused = cli("restore", "--all")
    assert code == 3 and refused is not None and refused["errors"][0]["problem"] == "nothing-to-restore"
    assert "files_restored" not in refused["counts"]
    site.purge_source()

    code, restored = cli("restore", "--all")
    assert code == 0 and restored is not None and restored["ok"], restored
    assert restored["counts"]["sessions"] == 2 and restored["counts"]["owner_keys_restored"] == 1
    assert restored["counts"]["files_restored"] == 2 * len(NAMES)
    for (sub, tenant), sid in sessions.items():
        with site.client(sub, tenant=tenant) as api:
            assert api.get(f"/v1/sessions/{sid}").json()["name"] == f"de {sub}"
            for name in NAMES:
                assert get(api, sid, name).content == f"{sub}: {name}".encode()
