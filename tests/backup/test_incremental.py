"""Backups are incremental and may overlap; only the tiers named are copied; `verify` finds what is damaged or
missing on either side."""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any

from gateway.backup import layout
from gateway.backup.run import run_backup
from gateway.backup.summary import Summary
from gateway.backup.target import backup_store
from gateway.policy.config import load_configured_policy
from gateway.storage.store import Store
from tests.backup.conftest import NAMES, Cli, Site, purge, put
from tests.conftest import KEY_ROOT


def session_with_every_tier(site: Site, user: str) -> tuple[str, dict[str, bytes]]:
    """A session with a persistent file per name, a permanent one, and a standard and an ephemeral one."""
    kept: dict[str, bytes] = {}
    with site.client(user) as api:
        sid = api.post("/v1/sessions", json={"name": "ça 🎉"}).json()["id"]
        for name in NAMES:
            kept[name] = name.encode() + os.urandom(32)
            put(api, sid, name, kept[name], **{"x-tier": "persistent"})
        kept["gardé/pour toujours.txt"] = b"forever"
        put(api, sid, "gardé/pour toujours.txt", b"forever", **{"x-tier": "permanent"})
        put(api, sid, "travail.txt", b"standard bytes", **{"x-tier": "standard"})
        put(api, sid, "tmp/éphémère.txt", b"ephemeral bytes", **{"x-tier": "ephemeral"})
    return sid, kept


def blobs(site: Site) -> set[str]:
    s3 = site.backend.client()
    prefix = f"{KEY_ROOT}/{layout.BLOBS_DIR}"
    found = s3.list_objects_v2(Bucket=site.settings.backup_bucket, Prefix=prefix).get("Contents", [])
    return {item["Key"][len(prefix) :] for item in found}


async def two_runs_at_once(site: Site) -> list[Summary]:
    settings = site.settings
    policy = load_configured_policy(settings)
    async with Store(settings, credentials=site.backend.credentials) as source, backup_store(settings) as backup:
        summaries = [Summary("backup run"), Summary("backup run")]
        await asyncio.gather(*(run_backup(source, backup, settings, policy, summary) for summary in summaries))
    return summaries


def test_two_runs_at_once_then_a_third_that_copies_nothing(site: Site, cli: Cli, user: str) -> None:
    _sid, kept = session_with_every_tier(site, user)
    first, second = asyncio.run(two_runs_at_once(site))
    assert first.ok and second.ok, (first.errors, second.errors)
    # Each run found every version kept by the other or copied it (at worst the same bytes twice, to one key).
    for summary in (first, second):
        assert summary.counts["versions_copied"] + summary.counts["versions_kept_before"] == len(kept) + 1
    assert {hashlib.sha256(data).hexdigest() for data in kept.values()} <= blobs(site)
    assert hashlib.sha256(b"standard bytes").hexdigest() not in blobs(site)
    assert hashlib.sha256(b"ephemeral bytes").hexdigest() not in blobs(site)

    code, verified = cli("verify")
    assert code == 0 and verified is not None and verified["ok"], verified
    assert verified["counts"]["versions_verified"] == len(kept) + 1  # and the session record
    assert verified["counts"]["owner_keys_verified"] == 1

    code, again = cli("run")
    assert code == 0 and again is not None and again["ok"]
    assert again["counts"].get("versions_copied", 0) == 0 and again["bytes"] == 0
    assert again["counts"]["versions_kept_before"] == len(kept) + 1


def problems(summary: dict[str, Any] | None) -> set[tuple[str, str]]:
    assert summary is not None
    return {(error["problem"], error.get("key", "")) for error in summary["errors"]}


def test_verify_finds_damaged_and_missing_copies(site: Site, cli: Cli, user: str) -> None:
    sid, kept = session_with_every_tier(site, user)
    assert cli("run")[0] == 0
    keys = site.owner(user).session(sid)
    s3 = site.backend.client()
    damaged, missing, unrecorded, gone = NAMES
    backup = site.settings.backup_bucket
    # Same size, other bytes: only hashing finds it.
    blob = layout.blob(KEY_ROOT, hashlib.sha256(kept[damaged]).hexdigest())
    s3.put_object(Bucket=backup, Key=blob, Body=b"x" * len(kept[damaged]))
    assert purge(site.backend, backup, layout.blob(KEY_ROOT, hashlib.sha256(kept[missing]).hexdigest())) == 1
    records = layout.session_entries(KEY_ROOT, keys.prefix) + layout.name_of(f"f/{unrecorded}") + "/"
    assert purge(site.backend, backup, records) == 1
    assert purge(site.backend, site.settings.bucket, keys.file(gone)) == 1  # the source lost a version

    code, verified = cli("verify")
    assert code == 1 and verified is not None and not verified["ok"]
    assert problems(verified) == {
        ("backup-mismatch", keys.file(damaged)),
        ("missing-in-backup", keys.file(missing)),
        ("missing-in-backup", keys.file(unrecorded)),
    }
    assert verified["counts"]["versions_gone_from_source"] == 1
    assert verified["counts"]["versions_verified"] == len(kept) + 1 - 4
