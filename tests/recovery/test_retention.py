"""Snapshots outlive version retention: a tier that keeps only the current version loses the old one to the janitor
(both backends) and to Ceph RGW's own lifecycle engine, and the snapshot still brings it back. The janitor removes
automatic snapshots past their keep time, and leaves named ones alone."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from gateway.api.app import create_app
from gateway.policy.config import load_configured_policy
from gateway.policy.janitor import DROP_SNAPSHOT, Report
from gateway.services.assembly import assemble
from gateway.storage.store import Store
from tests.api.test_forking import after_the_second_of
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings
from tests.policy.test_commands import policies, policy_env

DAY = 2
LC_DAY = 10  # the local RGW's `rgw lc debug interval`
KEEP_SECONDS = 60
# Only the current version is kept: an old one goes a day after it stopped being current.
POLICY = """
default_tier = "one"
[bucket]
abort_incomplete_multipart_days = 1
expire_delete_markers = false
[tiers.one]
description = "the current version only"
noncurrent_days = 1
keep_versions = 0
"""
NAME = "données/rapport é🎉 100%.txt"


def _policy_file(folder: Path) -> Path:
    path = folder / "tiers.toml"
    path.write_text(POLICY)
    return path


@pytest.fixture(scope="module")
def keep_one_gateway(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    settings = gateway_settings(
        backend,
        backend.new_bucket(),
        GATEWAY_POLICY_FILE=str(_policy_file(tmp_path_factory.mktemp("policy"))),
        GATEWAY_DAY_SECONDS=str(DAY),
        GATEWAY_SNAPSHOT_KEEP_SECONDS=str(KEEP_SECONDS),
    )
    with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
        yield Gateway(backend=backend, settings=settings, url=url)


def _janitor(gateway: Gateway, *, dry_run: bool, now: datetime) -> Report:
    async def main() -> Report:
        async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
            core = assemble(store, gateway.settings, load_configured_policy(gateway.settings), clock=lambda: now)
            return await core.janitor.run(dry_run=dry_run)

    return asyncio.run(main())


def _versions(gateway: Gateway, key: str) -> list[str]:
    listing = gateway.backend.client().list_object_versions(Bucket=gateway.settings.bucket, Prefix=key)
    return [item["VersionId"] for item in listing.get("Versions", []) if item["Key"] == key]


def _history(api: httpx.Client, sid: str, path: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.get(f"/v1/sessions/{sid}/history", params={"path": path}).json()["items"]
    return found


def _restored_from(api: httpx.Client, sid: str, snapshot: str, expected: bytes) -> str:
    """The snapshot's zip and its restore both give back what it kept, though retention removed that version."""
    exported = api.get(f"/v1/sessions/{sid}/export.zip", params={"snapshot": snapshot})
    assert exported.status_code == 200, exported.text
    assert zipfile.ZipFile(io.BytesIO(exported.content)).read(NAME) == expected
    done = api.post(f"/v1/sessions/{sid}/snapshots/{snapshot}/restore", json={})
    assert done.status_code == 200, done.text
    assert done.json()["restore"] == [NAME] and done.json()["complete"] is True
    assert api.get(f"/v1/sessions/{sid}/files/{quote(NAME)}").content == expected
    undo: str = done.json()["undo_snapshot"]
    return undo


def test_a_snapshot_outlives_the_janitor(keep_one_gateway: Gateway, user: str) -> None:
    gateway = keep_one_gateway
    with gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        url = f"/v1/sessions/{sid}/files/{quote(NAME)}"
        assert api.put(url, content=b"first").status_code == 201
        assert api.post(f"/v1/sessions/{sid}/snapshots", json={"name": "kept"}).status_code == 201
        first_moment = _history(api, sid, NAME)[-1]["last_modified"]
        after_the_second_of(first_moment)  # moto dates versions to the second
        assert api.put(url, content=b"second").status_code == 200
        # An automatic snapshot, too: before a restore to the first version.
        restored = api.post(f"/v1/sessions/{sid}/restore", json={"at": first_moment}).json()
        assert restored["restore"] == [NAME]
        automatic = restored["undo_snapshot"]
        assert api.put(url, content=b"third").status_code == 200
        keys = gateway.owner(user).session(sid)
        assert len(_versions(gateway, keys.file(NAME))) == 4  # first, second, first again (restored), third

        later = datetime.now(UTC) + timedelta(seconds=KEEP_SECONDS + 10 * DAY)
        plan = _janitor(gateway, dry_run=True, now=later)
        assert [(a.version_id, a.reason) for a in plan.actions if a.kind == DROP_SNAPSHOT] == [
            (automatic, "automatic snapshot past its keep time")
        ]
        report = _janitor(gateway, dry_run=False, now=later)
        assert report.actions == plan.actions
        # Only the current version is left of the file; the named snapshot stays, the automatic one went.
        assert len(_versions(gateway, keys.file(NAME))) == 1
        assert [entry["size"] for entry in _history(api, sid, NAME)] == [len(b"third")]
        names = [s["name"] for s in api.get(f"/v1/sessions/{sid}/snapshots").json()["items"]]
        assert names == ["kept"]
        left = gateway.backend.client().list_object_versions(
            Bucket=gateway.settings.bucket, Prefix=keys.snapshot_copies(automatic)
        )
        assert not left.get("Versions")
        assert api.get(f"/v1/sessions/{sid}/snapshots/{automatic}").status_code == 404
        undo = _restored_from(api, sid, "kept", b"first")
        # The janitor judges again: only the snapshot that restore took first would go, never the named one.
        dropped = [a.version_id for a in _janitor(gateway, dry_run=True, now=later).actions if a.kind == DROP_SNAPSHOT]
        assert dropped == [undo]


@pytest.mark.rgw_only
def test_a_snapshot_outlives_rgw_lifecycle(rgw: Backend, user: str, tmp_path: Path) -> None:
    bucket = rgw.new_bucket()
    env = policy_env(rgw, bucket, _policy_file(tmp_path))
    applied = policies(env, "apply", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    settings = gateway_settings(
        rgw, bucket, GATEWAY_POLICY_FILE=env["GATEWAY_POLICY_FILE"], GATEWAY_DAY_SECONDS=str(LC_DAY)
    )
    try:
        with ServerThread(create_app(settings, credentials=rgw.credentials)) as url:
            gateway = Gateway(backend=rgw, settings=settings, url=url)
            with gateway.client(user) as api:
                sid = api.post("/v1/sessions", json={}).json()["id"]
                file_url = f"/v1/sessions/{sid}/files/{quote(NAME)}"
                assert api.put(file_url, content=b"first").status_code == 201
                assert api.post(f"/v1/sessions/{sid}/snapshots", json={"name": "kept"}).status_code == 201
                assert api.put(file_url, content=b"second").status_code == 200
                keys = gateway.owner(user).session(sid)
                deadline = time.monotonic() + 240
                # RGW's lifecycle engine, not the janitor, removes the old version (a day is LC_DAY seconds).
                while len(_versions(gateway, keys.file(NAME))) > 1:
                    assert time.monotonic() < deadline, "RGW did not remove the old version within 240 s"
                    time.sleep(3)
                copies = gateway.backend.client().list_object_versions(
                    Bucket=bucket, Prefix=keys.snapshot_copies("kept")
                )
                assert len(copies.get("Versions", [])) == 2  # the protected copy and the manifest, untouched
                kept = api.get(f"/v1/sessions/{sid}/snapshots/kept").json()["files"]
                assert [(f["path"], f["size"]) for f in kept] == [(NAME, len(b"first"))]
                _restored_from(api, sid, "kept", b"first")
    finally:
        rgw.client().delete_bucket_lifecycle(Bucket=bucket)
