"""The tier promises kept by a real S3: Ceph RGW runs the lifecycle rules `policies apply` leaves in the bucket (one
lifecycle "day" lasts RGW_LC_DEBUG_INTERVAL seconds, 10 by default) and the janitor does what RGW does not. Nothing
names the backend: apply learns that RGW drops NewerNoncurrentVersions, and the janitor reads that from the bucket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway.api.app import create_app
from gateway.policy.config import load_configured_policy
from gateway.services.assembly import assemble
from gateway.storage.store import Store
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings
from tests.policy.test_commands import policies, policy_env

pytestmark = pytest.mark.rgw_only
LC_DAY = 10  # the local RGW's `rgw lc debug interval`
DEADLINE = 240


@pytest.fixture(scope="module")
def lifecycle_gateway(rgw: Backend) -> Iterator[Gateway]:
    bucket = rgw.new_bucket()
    env = policy_env(rgw, bucket, "tests/data/tiers-short.toml")
    applied = policies(env, "apply", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "janitor: keeps the newest 2 old versions of tier standard" in applied.stdout
    settings = gateway_settings(
        rgw, bucket, GATEWAY_POLICY_FILE=env["GATEWAY_POLICY_FILE"], GATEWAY_DAY_SECONDS=str(LC_DAY)
    )
    with ServerThread(create_app(settings, credentials=rgw.credentials)) as url:
        yield Gateway(backend=rgw, settings=settings, url=url)
    # RGW's lifecycle worker visits every bucket with rules; rules left behind slow down later runs.
    rgw.client().delete_bucket_lifecycle(Bucket=bucket)


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"RGW did not {what} within {DEADLINE} s"
        time.sleep(3)


def _entries(gateway: Gateway, key: str) -> list[dict[str, Any]]:
    listing = gateway.backend.client().list_object_versions(Bucket=gateway.settings.bucket, Prefix=key)
    return [
        {"marker": marker, "id": item["VersionId"], "latest": item["IsLatest"]}
        for marker, name in ((False, "Versions"), (True, "DeleteMarkers"))
        for item in listing.get(name, [])
        if item["Key"] == key
    ]


def _current(gateway: Gateway, key: str) -> bool:
    return any(entry["latest"] and not entry["marker"] for entry in _entries(gateway, key))


def test_rgw_enforces_the_applied_policy(lifecycle_gateway: Gateway, user: str) -> None:
    gateway = lifecycle_gateway
    s3 = gateway.backend.client()
    bucket = gateway.settings.bucket
    with gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        base = f"/v1/sessions/{sid}/files"
        for name, tier in [("e.txt", "ephemeral"), ("s.txt", "standard"), ("p.txt", "permanent")]:
            assert api.put(f"{base}/{name}", content=name.encode(), headers={"X-Tier": tier}).status_code == 201
        # Two versions of an ephemeral file: the old one must be pruned by RGW (keep 0 after one day).
        api.put(f"{base}/e2.txt", content=b"old", headers={"X-Tier": "ephemeral"})
        api.put(f"{base}/e2.txt", content=b"new", headers={"X-Tier": "ephemeral"})
        # Four versions of a standard file: RGW cannot keep "the newest 2", so the janitor prunes them.
        for i in range(4):
            api.put(f"{base}/k.txt", content=str(i).encode(), headers={"X-Tier": "standard"})
    keys = gateway.owner(user).session(sid)
    abandoned = s3.create_multipart_upload(Bucket=bucket, Key=keys.file("abandoned.bin"))["UploadId"]
    s3.upload_part(Bucket=bucket, Key=keys.file("abandoned.bin"), UploadId=abandoned, PartNumber=1, Body=b"x" * 1024)

    _wait_for(lambda: not _current(gateway, keys.file("e.txt")), "expire the ephemeral file")
    _wait_for(lambda: not _current(gateway, keys.file("s.txt")), "expire the standard file")
    _wait_for(
        lambda: not s3.list_multipart_uploads(Bucket=bucket, Prefix=keys.files_prefix).get("Uploads"),
        "abort the incomplete multipart upload",
    )
    _wait_for(lambda: len([e for e in _entries(gateway, keys.file("e2.txt")) if not e["marker"]]) <= 1, "prune e2")
    # The permanent file outlived every rule.
    assert _current(gateway, keys.file("p.txt"))
    with gateway.client(user) as api:
        assert api.get(f"{base}/p.txt").content == b"p.txt"
        assert api.get(f"{base}/s.txt").status_code == 404
        listed = [item["path"] for item in api.get(base).json()["items"]]
        assert "p.txt" in listed and "e.txt" not in listed and "s.txt" not in listed

    # The bucket's rule for standard has no noncurrent expiry (RGW would have dropped the kept count), so RGW left
    # the old versions alone:
    k_versions = [e for e in _entries(gateway, keys.file("k.txt")) if not e["marker"]]
    assert len(k_versions) == 4

    async def janitor() -> None:
        async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
            janitor = assemble(store, gateway.settings, load_configured_policy(gateway.settings)).janitor
            report = await janitor.run(dry_run=False)
            assert report.pruned_tiers == {"standard"}

    asyncio.run(janitor())
    k_versions = [e for e in _entries(gateway, keys.file("k.txt")) if not e["marker"]]
    assert len(k_versions) == 2  # every version is now noncurrent (RGW expired the file); the newest 2 are kept

    # What the bucket holds is still exactly what the policy renders.
    env = policy_env(gateway.backend, bucket, "tests/data/tiers-short.toml")
    assert policies(env, "plan").returncode == 0
