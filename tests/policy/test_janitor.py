"""The janitor on both backends: what it removes, that a dry run changes nothing, that runs converge and that two
janitors at once do no harm."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.api.app import create_app
from gateway.policy.config import load_configured_policy
from gateway.policy.janitor import Report
from gateway.policy.tiers import load_policy
from gateway.services.assembly import assemble
from gateway.settings import Settings
from gateway.storage.store import Store
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings
from tests.policy.test_commands import policies, policy_env

DAY = 2
POLICY = """
default_tier = "kept"
[bucket]
abort_incomplete_multipart_days = 1
expire_delete_markers = true
[tiers.scratch]
description = "gone with the session"
retention_days = 1
noncurrent_days = 1
keep_versions = 0
ends_with_session = true
[tiers.kept]
description = "history limited by count"
noncurrent_days = 1
keep_versions = 2
[tiers.short]
description = "a day"
retention_days = 1
noncurrent_days = 1
[tiers.forever]
description = "never expires"
"""


@pytest.fixture(scope="module")
def janitor_gateway(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    policy = tmp_path_factory.mktemp("policy") / "tiers.toml"
    policy.write_text(POLICY)
    settings = gateway_settings(
        backend, backend.new_bucket(), GATEWAY_POLICY_FILE=str(policy), GATEWAY_DAY_SECONDS=str(DAY)
    )
    with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
        yield Gateway(backend=backend, settings=settings, url=url)


def _janitor_runs(gateway: Gateway, *dry_runs: bool, now: datetime | None = None) -> list[Report]:
    clock = None if now is None else (lambda: now)

    async def main() -> list[Report]:
        async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
            janitor = assemble(store, gateway.settings, load_configured_policy(gateway.settings), clock=clock).janitor
            return list(await asyncio.gather(*(janitor.run(dry_run=dry) for dry in dry_runs)))

    return asyncio.run(main())


def _versions(gateway: Gateway, key: str) -> list[dict[str, Any]]:
    s3 = gateway.backend.client()
    listing = s3.list_object_versions(Bucket=gateway.settings.bucket, Prefix=key)
    entries = [
        {"marker": marker, "id": item["VersionId"]}
        for marker, name in ((False, "Versions"), (True, "DeleteMarkers"))
        for item in listing.get(name, [])
        if item["Key"] == key
    ]
    return entries


def _open_uploads(gateway: Gateway) -> set[str]:
    listing = gateway.backend.client().list_multipart_uploads(Bucket=gateway.settings.bucket)
    return {upload["UploadId"] for upload in listing.get("Uploads", [])}


def _end_without_cleanup(gateway: Gateway, record_key: str) -> None:
    """What a gateway that died half-way through ending a session leaves: the record says ended, files remain."""
    s3 = gateway.backend.client()
    record = json.loads(s3.get_object(Bucket=gateway.settings.bucket, Key=record_key)["Body"].read())
    record["state"] = "ended"
    s3.put_object(Bucket=gateway.settings.bucket, Key=record_key, Body=json.dumps(record).encode())


def test_janitor_enforces_the_tiers(janitor_gateway: Gateway, user: str) -> None:
    gateway = janitor_gateway
    with gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        ended_sid = api.post("/v1/sessions", json={}).json()["id"]
        base = f"/v1/sessions/{sid}/files"
        for i in range(5):
            api.put(f"{base}/kept.txt", content=str(i).encode(), headers={"X-Tier": "kept"})
        api.put(f"{base}/short.txt", content=b"s", headers={"X-Tier": "short"})
        for i in range(3):
            api.put(f"{base}/forever.txt", content=str(i).encode(), headers={"X-Tier": "forever"})
        api.put(f"{base}/deleted.txt", content=b"d", headers={"X-Tier": "short"})
        api.delete(f"{base}/deleted.txt")
        api.put(f"/v1/sessions/{ended_sid}/files/scratch.txt", content=b"1", headers={"X-Tier": "scratch"})
        api.put(f"/v1/sessions/{ended_sid}/files/scratch.txt", content=b"2", headers={"X-Tier": "scratch"})
        api.put(f"/v1/sessions/{ended_sid}/files/keep.txt", content=b"k", headers={"X-Tier": "forever"})
    keys = gateway.owner(user).session(sid)
    ended_keys = gateway.owner(user).session(ended_sid)
    _end_without_cleanup(gateway, ended_keys.record)
    s3 = gateway.backend.client()
    bucket = gateway.settings.bucket
    abandoned = s3.create_multipart_upload(Bucket=bucket, Key=keys.file("abandoned.bin"))["UploadId"]
    time.sleep(DAY + 0.5)
    fresh = s3.create_multipart_upload(Bucket=bucket, Key=keys.file("fresh.bin"))["UploadId"]
    # The janitors below judge at this one moment, however long a loaded machine takes to run them.
    settled = datetime.now(UTC)

    (dry,) = _janitor_runs(gateway, True, now=settled)
    planned = {(a.key, a.reason) for a in dry.actions}
    assert (keys.file("short.txt"), "past its tier's retention") in planned
    assert (ended_keys.file("scratch.txt"), "ephemeral file of an ended session") in planned
    assert (keys.file("abandoned.bin"), "multipart upload open for over 1 day(s)") in planned
    if gateway.backend.name == "rgw":
        # moto reports the same made-up start date for every upload; a real S3 tells a fresh one apart.
        assert keys.file("fresh.bin") not in {key for key, _ in planned}
    assert len(_versions(gateway, keys.file("kept.txt"))) == 5  # a dry run changes nothing
    assert _open_uploads(gateway) == {abandoned, fresh}
    s3.abort_multipart_upload(Bucket=bucket, Key=keys.file("fresh.bin"), UploadId=fresh)  # keep later runs exact

    # Two janitors at once, as two replicas of a CronJob could be.
    first, second = _janitor_runs(gateway, False, False, now=settled)
    assert first.actions and second.actions

    assert _open_uploads(gateway) == set()
    kept = _versions(gateway, keys.file("kept.txt"))
    assert len(kept) == 3 and not any(v["marker"] for v in kept)  # current + the newest two old versions
    assert len(_versions(gateway, keys.file("forever.txt"))) == 3
    short = _versions(gateway, keys.file("short.txt"))
    assert sorted(v["marker"] for v in short) == [False, True]  # expired: one delete marker on top, not two
    assert _versions(gateway, keys.file("deleted.txt")) == []  # old version and its lone marker removed
    assert _versions(gateway, ended_keys.file("scratch.txt")) == []
    assert len(_versions(gateway, ended_keys.file("keep.txt"))) == 1
    with gateway.client(user) as api:
        assert api.get(f"{base}/short.txt").status_code == 404
        assert api.get(f"{base}/kept.txt").content == b"4"

    (again,) = _janitor_runs(gateway, False, now=settled)
    assert again.actions == []  # nothing left to do until time passes
    (later,) = _janitor_runs(gateway, False, now=datetime.now(UTC) + timedelta(seconds=DAY + 0.5))
    assert {a.reason for a in later.actions} == {
        "old version beyond its tier's policy",
        "delete marker with no versions left",
    }
    assert _versions(gateway, keys.file("short.txt")) == []


def test_janitor_command_dry_run(janitor_gateway: Gateway, user: str, tmp_path: Path) -> None:
    gateway = janitor_gateway
    with gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        api.put(f"/v1/sessions/{sid}/files/short.txt", content=b"s", headers={"X-Tier": "short"})
    time.sleep(DAY + 0.5)
    env = {
        "PATH": "/usr/bin:/bin",
        "GATEWAY_S3_ENDPOINT_URL": gateway.backend.endpoint,
        "GATEWAY_BUCKET": gateway.settings.bucket,
        "GATEWAY_KEY_ROOT": gateway.settings.key_root,
        "GATEWAY_POLICY_FILE": gateway.settings.policy_file,
        "GATEWAY_DAY_SECONDS": str(DAY),
        "AWS_ACCESS_KEY_ID": gateway.backend.credentials[0],
        "AWS_SECRET_ACCESS_KEY": gateway.backend.credentials[1],
    }
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "janitor", "run", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    key = gateway.owner(user).session(sid).file("short.txt")
    assert f"would expire {key} version" in result.stdout
    assert "would take" in result.stdout
    assert len(_versions(gateway, key)) == 1


def test_an_unreadable_session_record_is_reported_and_breaks_nothing(janitor_gateway: Gateway, user: str) -> None:
    with janitor_gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        assert api.put(f"/v1/sessions/{sid}/files/\u00e9t\u00e9 \U0001f680 100%.txt", content=b"x").status_code == 201
    record = janitor_gateway.owner(user).session(sid).record
    janitor_gateway.backend.client().put_object(
        Bucket=janitor_gateway.settings.bucket, Key=record, Body=b'{"id": NaN, "name": "\\ud800"'
    )
    report = _janitor_runs(janitor_gateway, True)[0]
    assert record in report.unreadable_records
    assert "unreadable session record" in report.summary()
    assert not [action for action in report.actions if f"/s/{sid}/" in action.key]


KEPT_BY_COUNT = """
default_tier = "counted"
[bucket]
abort_incomplete_multipart_days = 1
expire_delete_markers = true
[tiers.counted]
description = "old versions by age and count"
retention_days = 365
noncurrent_days = 30
keep_versions = 2
[tiers.aged]
description = "old versions by age alone"
noncurrent_days = 30
"""
# Non-ASCII, decomposed (NFD), emoji and '%': the gateway stores the NFC form.
COUNTED_PATH = unicodedata.normalize("NFD", "café/résumé 🚀 100%.txt")
AGED_PATH = "notes/naïve 😀 50%.md"


def test_after_apply_the_janitor_keeps_what_the_bucket_dropped(
    backend: Backend, lifecycle_bucket: str, tmp_path: Path
) -> None:
    policy_file = tmp_path / "tiers.toml"
    policy_file.write_text(KEPT_BY_COUNT)
    bucket = lifecycle_bucket
    applied = policies(policy_env(backend, bucket, policy_file), "apply", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "janitor: keeps the newest 2 old versions of tier counted" in applied.stdout

    settings = gateway_settings(backend, bucket, GATEWAY_POLICY_FILE=str(policy_file))
    with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
        gateway = Gateway(backend=backend, settings=settings, url=url)
        with gateway.client("janitor-user") as api:
            sid = api.post("/v1/sessions", json={}).json()["id"]
        keys = gateway.owner("janitor-user").session(sid)
        counted, aged = keys.file(COUNTED_PATH), keys.file(AGED_PATH)
        # Histories written straight to the bucket, tagged as the gateway tags them.
        s3 = backend.client()
        for key, tier, count in [(counted, "counted", 5), (aged, "aged", 3)]:
            for i in range(count):
                s3.put_object(Bucket=bucket, Key=key, Body=b"%d" % i, Tagging=f"tier={tier}")
    month_later = datetime.now(UTC) + timedelta(days=31)

    async def run(run_settings: Settings, *, dry_run: bool) -> Report:
        async with Store(run_settings, credentials=backend.credentials) as store:
            janitor = assemble(store, run_settings, load_policy(policy_file), clock=lambda: month_later).janitor
            return await janitor.run(dry_run=dry_run)

    # Told the bucket is AWS S3, the janitor leaves old versions to its lifecycle rules.
    told_aws = asyncio.run(run(replace(settings, s3_flavor="aws"), dry_run=True))
    assert told_aws.pruned_tiers == frozenset()
    assert [a for a in told_aws.actions if a.reason == "old version beyond its tier's policy"] == []

    # Learned from the bucket: it dropped NewerNoncurrentVersions, so keep-N of `counted` is the janitor's; the
    # age-only expiry of `aged` stayed in the bucket's rule and remains the lifecycle engine's.
    report = asyncio.run(run(settings, dry_run=False))
    assert report.pruned_tiers == {"counted"}
    assert "old versions judged here for tier(s) counted" in report.summary()
    assert {a.key for a in report.actions} == {counted}
    assert len(_versions(gateway, counted)) == 3  # the current version and the newest two old ones
    assert len(_versions(gateway, aged)) == 3

    # The scheduled command decides the same way, and says so.
    command = subprocess.run(
        [sys.executable, "-m", "gateway", "janitor", "run", "--dry-run"],
        env=policy_env(backend, bucket, policy_file),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert command.returncode == 0, command.stderr
    assert "old versions judged here for tier(s) counted: the bucket's lifecycle rules leave them" in command.stdout
