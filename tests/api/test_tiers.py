"""Persistence tiers through the HTTP API, on both backends: tagging, defaults, re-tagging, ending a session, and
retention applied at read time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.api.app import create_app
from gateway.policy.tiers import PolicyError
from tests.conftest import ROOT, Backend, Gateway, ServerThread, gateway_settings

SHORT_POLICY = str(ROOT / "tests" / "data" / "tiers-short.toml")
DAY = 2  # seconds in a retention day for the short-lived gateway


def _tag(gateway: Gateway, key: str, version_id: str | None = None) -> str | None:
    s3 = gateway.backend.client()
    params = {"VersionId": version_id} if version_id else {}
    tags = s3.get_object_tagging(Bucket=gateway.settings.bucket, Key=key, **params).get("TagSet", [])
    return {tag["Key"]: tag["Value"] for tag in tags}.get("tier")


def test_tier_on_upload_is_tagged_and_reported(gateway: Gateway, api: httpx.Client, user: str) -> None:
    sid = api.post("/v1/sessions", json={}).json()["id"]
    keys = gateway.owner(user).session(sid)
    base = f"/v1/sessions/{sid}/files"
    put = api.put(f"{base}/a.txt", content=b"a", headers={"X-Tier": "persistent"})
    assert put.status_code == 201
    assert put.json()["tier"] == "persistent"
    assert put.json()["expires_at"] is not None
    assert _tag(gateway, keys.file("a.txt")) == "persistent"

    assert api.put(f"{base}/b.txt", content=b"b", params={"tier": "permanent"}).json()["tier"] == "permanent"
    plain = api.put(f"{base}/c.txt", content=b"c").json()
    assert plain["tier"] == "standard"  # the policy's default
    assert (
        api.put(f"{base}/big.bin", content=b"x" * (9 * 1024 * 1024), headers={"X-Tier": "ephemeral"}).status_code == 201
    )
    assert _tag(gateway, keys.file("big.bin")) == "ephemeral"  # multipart uploads are tagged too

    head = api.head(f"{base}/a.txt")
    assert head.headers["x-tier"] == "persistent"
    assert api.head(f"{base}/b.txt").headers["x-tier"] == "permanent"
    assert "x-expires-at" not in api.head(f"{base}/b.txt").headers
    assert "x-expires-at" in head.headers
    # A GET reads no tags while no tier can have removed the file yet: tier and expiry are HEAD's to tell.
    assert "x-tier" not in api.get(f"{base}/b.txt").headers
    listed = {item["path"]: item["tier"] for item in api.get(base).json()["items"]}
    assert listed == {"a.txt": "persistent", "b.txt": "permanent", "c.txt": "standard", "big.bin": "ephemeral"}


def test_unknown_or_conflicting_tiers_are_400(api: httpx.Client, session_id: str) -> None:
    base = f"/v1/sessions/{session_id}/files"
    unknown = api.put(f"{base}/a.txt", content=b"a", headers={"X-Tier": "forever"})
    assert unknown.status_code == 400
    assert unknown.json()["valid_tiers"] == ["ephemeral", "standard", "persistent", "permanent"]
    assert "ephemeral, standard, persistent, permanent" in unknown.json()["detail"]
    both = api.put(f"{base}/a.txt", content=b"a", headers={"X-Tier": "standard"}, params={"tier": "permanent"})
    assert both.status_code == 400
    assert api.patch(f"/v1/sessions/{session_id}", json={"default_tier": "nope"}).status_code == 400
    assert api.get(base).json()["items"] == []


def test_session_and_folder_defaults(api: httpx.Client) -> None:
    sid = api.post("/v1/sessions", json={"default_tier": "persistent"}).json()["id"]
    base = f"/v1/sessions/{sid}/files"
    assert api.put(f"{base}/a.txt", content=b"a").json()["tier"] == "persistent"

    assert api.patch(f"/v1/sessions/{sid}", json={"default_tier": "ephemeral"}).json()["default_tier"] == "ephemeral"
    assert api.put(f"{base}/b.txt", content=b"b").json()["tier"] == "ephemeral"

    folder = api.patch(f"{base}/results/", json={"default_tier": "permanent"})
    assert folder.status_code == 200, folder.text
    assert folder.json()["folder_tiers"] == {"results/": "permanent"}
    api.patch(f"{base}/results/raw/", json={"default_tier": "standard"})
    assert api.put(f"{base}/results/final.csv", content=b"x").json()["tier"] == "permanent"
    assert api.put(f"{base}/results/raw/dump.bin", content=b"x").json()["tier"] == "standard"
    assert api.put(f"{base}/results-old.txt", content=b"x").json()["tier"] == "ephemeral"  # not inside results/
    explicit = api.put(f"{base}/results/tmp.txt", content=b"x", headers={"X-Tier": "ephemeral"})
    assert explicit.json()["tier"] == "ephemeral"

    session = api.get(f"/v1/sessions/{sid}").json()
    assert session["folder_tiers"] == {"results/": "permanent", "results/raw/": "standard"}
    api.patch(f"{base}/results/raw/", json={"default_tier": None})
    assert api.get(f"/v1/sessions/{sid}").json()["folder_tiers"] == {"results/": "permanent"}


def test_retagging_keeps_data_and_follows_history(gateway: Gateway, api: httpx.Client, user: str) -> None:
    sid = api.post("/v1/sessions", json={}).json()["id"]
    keys = gateway.owner(user).session(sid)
    base = f"/v1/sessions/{sid}/files"
    first = api.put(f"{base}/doc.txt", content=b"one").json()
    second = api.put(f"{base}/doc.txt", content=b"two").json()
    retagged = api.patch(f"{base}/doc.txt", json={"tier": "permanent"})
    assert retagged.status_code == 200, retagged.text
    body = retagged.json()
    assert body["tier"] == "permanent"
    assert (body["version_id"], body["etag"]) == (second["version_id"], second["etag"])  # no rewrite
    assert _tag(gateway, keys.file("doc.txt"), first["version_id"]) == "permanent"
    history = api.get(f"/v1/sessions/{sid}/history", params={"path": "doc.txt"}).json()["items"]
    assert [item["tier"] for item in history] == ["permanent", "permanent"]
    api.put(f"{base}/doc.txt", content=b"three", headers={"X-Tier": "ephemeral"})
    restored = api.post(f"/v1/sessions/{sid}/rollback", json={"path": "doc.txt", "version_id": first["version_id"]})
    assert restored.json()["tier"] == "permanent"  # a rollback brings the version back with its tier
    assert _tag(gateway, keys.file("doc.txt")) == "permanent"

    for path in ["logs/a.log", "logs/deep/b.log", "logs-keep.txt"]:
        api.put(f"{base}/{path}", content=b"x")
    folder = api.patch(f"{base}/logs/", json={"tier": "ephemeral", "recursive": True})
    assert folder.status_code == 200, folder.text
    assert folder.json()["files"] == 2
    listed = {item["path"]: item["tier"] for item in api.get(base).json()["items"]}
    assert listed["logs/a.log"] == listed["logs/deep/b.log"] == "ephemeral"
    assert listed["logs-keep.txt"] == "standard"

    assert api.patch(f"{base}/logs/", json={"tier": "ephemeral"}).status_code == 400  # folder without recursive
    assert api.patch(f"{base}/missing.txt", json={"tier": "ephemeral"}).status_code == 404
    assert api.patch(f"{base}/doc.txt", json={"tier": "bogus"}).status_code == 400
    assert api.patch(f"{base}/doc.txt", json={}).status_code == 400


def test_ending_a_session_deletes_its_ephemeral_files(gateway: Gateway, api: httpx.Client, user: str) -> None:
    sid = api.post("/v1/sessions", json={}).json()["id"]
    keys = gateway.owner(user).session(sid)
    base = f"/v1/sessions/{sid}/files"
    api.put(f"{base}/scratch.txt", content=b"1", headers={"X-Tier": "ephemeral"})
    api.put(f"{base}/scratch.txt", content=b"2", headers={"X-Tier": "ephemeral"})
    api.put(f"{base}/tmp/deep.txt", content=b"x", headers={"X-Tier": "ephemeral"})
    api.put(f"{base}/scratch.txt.keep", content=b"x", headers={"X-Tier": "standard"})
    api.delete(f"{base}/tmp/deep.txt")

    ended = api.post(f"/v1/sessions/{sid}/end")
    assert ended.status_code == 200, ended.text
    assert ended.json()["state"] == "ended"
    assert ended.json()["ended_at"]

    s3 = gateway.backend.client()
    versions = s3.list_object_versions(Bucket=gateway.settings.bucket, Prefix=keys.files_prefix)
    left = {item["Key"] for item in versions.get("Versions", []) + versions.get("DeleteMarkers", [])}
    assert left == {keys.file("scratch.txt.keep")}  # every version and marker of the ephemeral files is gone

    again = api.post(f"/v1/sessions/{sid}/end")
    assert again.status_code == 200
    assert again.json()["ended_at"] == ended.json()["ended_at"]
    assert api.get(f"{base}/scratch.txt.keep").content == b"x"
    for response in (
        api.put(f"{base}/new.txt", content=b"x"),
        api.delete(f"{base}/scratch.txt.keep"),
        api.patch(f"{base}/scratch.txt.keep", json={"tier": "permanent"}),
    ):
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"


@pytest.fixture(scope="module")
def short_gateway(backend: Backend) -> Iterator[Gateway]:
    """A gateway whose retention day lasts two seconds, with the short test policy."""
    settings = gateway_settings(
        backend, backend.new_bucket(), GATEWAY_POLICY_FILE=SHORT_POLICY, GATEWAY_DAY_SECONDS=str(DAY)
    )
    with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
        yield Gateway(backend=backend, settings=settings, url=url)


def test_retention_is_honest_at_read_time(short_gateway: Gateway, user: str) -> None:
    with short_gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        base = f"/v1/sessions/{sid}/files"
        etag = api.put(f"{base}/day.txt", content=b"d", headers={"X-Tier": "standard"}).json()["etag"]
        api.put(f"{base}/forever.txt", content=b"f", headers={"X-Tier": "permanent"})
        api.put(f"{base}/three.txt", content=b"t", headers={"X-Tier": "persistent"})
        assert api.get(f"{base}/day.txt").status_code == 200
        time.sleep(DAY + 0.5)
        # S3 may not have acted yet (moto never does): the gateway answers as if it had.
        assert api.get(f"{base}/day.txt").status_code == 404
        assert api.head(f"{base}/day.txt").status_code == 404
        assert api.get(f"{base}/day.txt", headers={"If-None-Match": etag}).status_code == 404  # not a 304
        assert api.post(f"/v1/sessions/{sid}/links", json={"path": "day.txt"}).status_code == 404
        assert sorted(item["path"] for item in api.get(base).json()["items"]) == ["forever.txt", "three.txt"]
        assert api.get(f"{base}/forever.txt").content == b"f"
        assert api.get(f"{base}/three.txt").content == b"t"


def test_policy_file_is_loaded_from_settings(tmp_path: Path, backend: Backend) -> None:
    broken = tmp_path / "tiers.toml"
    broken.write_text(
        'default_tier = "missing"\n[bucket]\nabort_incomplete_multipart_days = 1\nexpire_delete_markers = true\n'
        '[tiers.a]\ndescription = "x"\n'
    )
    settings = gateway_settings(backend, backend.new_bucket(), GATEWAY_POLICY_FILE=str(broken))
    with pytest.raises(PolicyError, match=r"tiers\.toml: default_tier"):
        create_app(settings, credentials=backend.credentials)
