"""`session-gateway migrate-layout`: sessions in the earlier readable layout come back whole under the opaque one."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from typing import Any

import httpx

from gateway.api.app import create_app
from gateway.auth.tokens import issue_token
from gateway.keys import encode_identity
from tests.conftest import KEY_ROOT, Backend, ServerThread, gateway_settings
from tests.test_cli import _env

NAMES = ["naïve 🚀 100%.txt", unicodedata.normalize("NFD", "café/résumé.md"), "plain.txt"]


def _migrate(backend: Backend, bucket: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = _env(backend, GATEWAY_BUCKET=bucket, GATEWAY_KEY_ROOT=KEY_ROOT)
    command = [sys.executable, "-m", "gateway", "migrate-layout", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def _all_entries(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every version and delete marker under `prefix`."""
    entries: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        entries += [{**v, "marker": False} for v in page.get("Versions", [])]
        entries += [{**m, "marker": True} for m in page.get("DeleteMarkers", [])]
    return entries


def _move_to_the_old_layout(s3: Any, bucket: str, new_prefix: str, old_prefix: str) -> int:
    """Rewrite what the gateway stored as an earlier version would have stored it: same entries, readable owner."""
    entries = _all_entries(s3, bucket, new_prefix)
    keys = sorted({entry["Key"] for entry in entries})
    for key in keys:
        # Versions are listed newest first; this test deletes a file only as its last change, so a key's delete
        # marker (if any) is its newest entry.
        versions = [e for e in entries if e["Key"] == key and not e["marker"]]
        markers = [e for e in entries if e["Key"] == key and e["marker"]]
        assert all(marker["IsLatest"] for marker in markers)
        old_key = old_prefix + key[len(new_prefix) :]
        for version in reversed(versions):
            tags = s3.get_object_tagging(Bucket=bucket, Key=key, VersionId=version["VersionId"])["TagSet"]
            s3.copy_object(
                Bucket=bucket,
                Key=old_key,
                CopySource={"Bucket": bucket, "Key": key, "VersionId": version["VersionId"]},
                TaggingDirective="REPLACE",
                Tagging="&".join(f"{t['Key']}={t['Value']}" for t in tags),
            )
        for _ in markers:
            s3.delete_object(Bucket=bucket, Key=old_key)
    for entry in entries:
        s3.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])
    return len(entries)


def test_sessions_in_the_old_layout_come_back_whole(backend: Backend) -> None:
    bucket = backend.new_bucket()
    settings = gateway_settings(backend, bucket)
    user, tenant = "ålice 😀 100%", "acme"
    token = issue_token(settings, sub=user, tenant=tenant)
    s3 = backend.client()
    with (
        ServerThread(create_app(settings, credentials=backend.credentials)) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as api,
    ):
        sid = api.post("/v1/sessions", json={"name": "kept", "metadata": {"k": "v"}}).json()["id"]
        for name in NAMES:
            assert api.put(f"/v1/sessions/{sid}/files/{name}", content=b"one").status_code == 201
        second = api.put(f"/v1/sessions/{sid}/files/{NAMES[0]}", content=b"two", headers={"X-Tier": "permanent"})
        assert second.status_code == 200
        assert api.delete(f"/v1/sessions/{sid}/files/plain.txt").status_code == 204
        before = {name: api.get(f"/v1/sessions/{sid}/history", params={"path": name}).json()["items"] for name in NAMES}
        new_prefix = f"{KEY_ROOT}/o/"
        old_prefix = f"{KEY_ROOT}/t/{encode_identity(tenant)}/u/{encode_identity(user)}/s/"
        listed = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=new_prefix)["Contents"]]
        owner_new = next(key for key in listed if "/s/" in key).split("/s/")[0]
        moved = _move_to_the_old_layout(s3, bucket, owner_new + "/s/", old_prefix)
        assert api.get(f"/v1/sessions/{sid}").status_code == 404

        plan = _migrate(backend, bucket)
        assert plan.returncode == 2, plan.stderr
        assert f"{moved} entries to replay" in plan.stdout
        assert api.get(f"/v1/sessions/{sid}").status_code == 404  # a plan changes nothing

        applied = _migrate(backend, bucket, "--apply", "--verbose")
        assert applied.returncode == 0, applied.stderr
        assert f"{moved} entries replayed" in applied.stdout
        assert f"{old_prefix} -> {owner_new}/s/" in applied.stdout

        session = api.get(f"/v1/sessions/{sid}").json()
        assert session["name"] == "kept" and session["metadata"] == {"k": "v"}
        assert api.get(f"/v1/sessions/{sid}/files/{NAMES[0]}").content == b"two"
        assert api.head(f"/v1/sessions/{sid}/files/{NAMES[0]}").headers["x-tier"] == "permanent"
        assert api.get(f"/v1/sessions/{sid}/files/{NAMES[1]}").content == b"one"
        assert api.get(f"/v1/sessions/{sid}/files/plain.txt").status_code == 404
        for name in NAMES:
            after = api.get(f"/v1/sessions/{sid}/history", params={"path": name}).json()["items"]
            assert [(i.get("etag"), i.get("deleted")) for i in after] == [
                (i.get("etag"), i.get("deleted")) for i in before[name]
            ], name

        again = _migrate(backend, bucket, "--apply", "--remove-old")
        assert again.returncode == 0, again.stderr
        assert f"0 entries replayed, {moved} already in place, {moved} old entries removed" in again.stdout
        assert not _all_entries(s3, bucket, f"{KEY_ROOT}/t/")
        assert api.get(f"/v1/sessions/{sid}/files/{NAMES[0]}").content == b"two"
