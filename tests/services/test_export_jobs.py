"""Built exports on both backends: a stale heartbeat is failed by whoever reads it, a builder declared dead stops,
a failed build leaves nothing readable, and exports go after their time to live."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from gateway.keys import SessionKeys
from gateway.policy.config import load_configured_policy
from gateway.services.assembly import Core, assemble
from gateway.services.export_jobs import ABANDONED, DONE, FAILED, RUNNING, ExportJobs
from gateway.services.exports import ExportInput
from gateway.services.snapshot import Selection
from gateway.settings import MiB, Settings
from gateway.storage.store import Store
from gateway.storage.writes import CautiousTraits, VersionWriter
from tests.api.test_exports import put_all, wait_for
from tests.conftest import Gateway


def _versions(gateway: Gateway, prefix: str) -> list[dict[str, Any]]:
    listing = gateway.backend.client().list_object_versions(Bucket=gateway.settings.bucket, Prefix=prefix)
    return list(listing.get("Versions", [])) + list(listing.get("DeleteMarkers", []))


def _open_uploads(gateway: Gateway, prefix: str) -> list[dict[str, Any]]:
    listing = gateway.backend.client().list_multipart_uploads(Bucket=gateway.settings.bucket, Prefix=prefix)
    return list(listing.get("Uploads", []))


async def _core(store: Store, settings: Settings, clock: datetime | None = None) -> Core:
    return assemble(store, settings, load_configured_policy(settings), clock=None if clock is None else lambda: clock)


def test_a_stale_heartbeat_is_failed_by_the_replica_that_reads_it(
    gateway: Gateway, api: httpx.Client, session_id: str, user: str
) -> None:
    put_all(api, session_id, {"a.txt": b"a"})
    keys = gateway.owner(user).session(session_id)

    async def accepted_then_crashed() -> str:
        # A replica accepted the export two minutes ago and stopped before building it.
        async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
            core = await _core(store, gateway.settings, datetime.now(UTC) - timedelta(minutes=2))
            opened = await core.sessions.open(gateway.owner(user), session_id)
            record, _etag = await core.exports.start(opened, ExportInput(Selection()))
            return record.id

    export_id = asyncio.run(accepted_then_crashed())
    status = api.get(f"/v1/sessions/{session_id}/exports/{export_id}").json()
    assert status["status"] == FAILED and status["error"] == ABANDONED and "url" not in status
    assert api.get(f"/v1/sessions/{session_id}/exports/{export_id}").json() == status  # settled once
    assert _versions(gateway, keys.export_archive(export_id)) == []


def test_a_builder_declared_dead_stops_and_leaves_no_zip(gateway: Gateway, user: str, api: httpx.Client) -> None:
    sid = api.post("/v1/sessions", json={}).json()["id"]
    keys = gateway.owner(user).session(sid)
    endless, uploading = asyncio.Event(), asyncio.Event()

    async def zip_that_never_ends() -> AsyncGenerator[bytes, None]:
        yield os.urandom(6 * MiB)  # past the threshold: when the next chunk is asked for, a multipart upload is open
        uploading.set()
        await endless.wait()

    async def scenario() -> tuple[str, str]:
        async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
            now = datetime.now(UTC)
            writer = VersionWriter(store, traits=CautiousTraits(), max_bytes=GiB, threshold=5 * MiB)

            def jobs(clock: datetime, heartbeat: float) -> ExportJobs:
                return ExportJobs(
                    store,
                    writer=writer,
                    tier="ephemeral",
                    ttl_seconds=3600,
                    heartbeat_seconds=heartbeat,
                    stale_seconds=60,
                    clock=lambda: clock,
                )

            builder = jobs(now, heartbeat=0.5)
            record = builder.new_record(
                "01ARZ3NDEKTSV4RRFFQ69G5FAV", prefix="", paths=(), at=None, redact=False, session_name=None
            )
            etag = await builder.create(keys, record)
            build = asyncio.create_task(builder.run(keys, record, etag, zip_that_never_ends()))
            await uploading.wait()
            assert _open_uploads(gateway, keys.export_archive(record.id)) != []
            # Another replica, whose clock is past the stale limit, reads the record and declares the build dead.
            # (The builder's clock stands still here, so its record always looks stale; a rewrite of it that lands
            # while the other replica writes wins, and the other replica reads and tries again, as a client would.)
            other = jobs(now + timedelta(minutes=5), heartbeat=10)
            for _attempt in range(20):
                seen, seen_etag = await other.read(keys, record.id)
                assert seen.status == RUNNING and other.is_abandoned(seen)
                settled = await other.abandon(keys, seen, seen_etag)
                if settled.status == FAILED:
                    break
            await asyncio.wait_for(build, 30)  # its next heartbeat loses, and it stops
            final, _ = await other.read(keys, record.id)
            return settled.status, final.status

    settled, final = asyncio.run(scenario())
    assert settled == final == FAILED
    assert _open_uploads(gateway, keys.exports_prefix) == []
    left = {version["Key"] for version in _versions(gateway, keys.exports_prefix)}
    assert left == {keys.export_record("01ARZ3NDEKTSV4RRFFQ69G5FAV")}  # the record says failed; no zip


GiB = 1024 * MiB


def test_a_failed_build_leaves_nothing_readable(
    gateway: Gateway, api: httpx.Client, session_id: str, user: str
) -> None:
    put_all(api, session_id, {f"part-{i}.bin": os.urandom(3 * MiB) for i in range(3)})
    small = replace(gateway.settings, max_upload_bytes=6 * MiB, multipart_threshold_bytes=5 * MiB)
    keys = gateway.owner(user).session(session_id)

    async def scenario() -> str:
        async with Store(small, credentials=gateway.backend.credentials) as store:
            core = await _core(store, small)
            opened = await core.sessions.open(gateway.owner(user), session_id)
            record, etag = await core.exports.start(opened, ExportInput(Selection()))
            await core.exports.build(opened, record, etag)
            return record.id

    export_id = asyncio.run(scenario())
    status = api.get(f"/v1/sessions/{session_id}/exports/{export_id}").json()
    assert status["status"] == FAILED and "6291456-byte limit" in status["error"], status
    assert "url" not in status
    assert _versions(gateway, keys.export_archive(export_id)) == []
    assert _open_uploads(gateway, keys.exports_prefix) == []


def test_exports_go_after_their_time_to_live(gateway: Gateway, api: httpx.Client, session_id: str, user: str) -> None:
    put_all(api, session_id, {"a.txt": b"a"})
    location = api.post(f"/v1/sessions/{session_id}/exports", json={}).headers["location"]
    status = wait_for(api, location)
    assert status["status"] == DONE
    keys: SessionKeys = gateway.owner(user).session(session_id)
    ttl = timedelta(seconds=gateway.settings.export_ttl_seconds)

    def janitor_at(moment: datetime) -> None:
        async def main() -> None:
            async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
                core = await _core(store, gateway.settings, moment)
                await core.janitor.run(dry_run=False, prefix=keys.prefix)

        asyncio.run(main())

    def status_at(moment: datetime) -> str:
        async def main() -> str:
            async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
                core = await _core(store, gateway.settings, moment)
                try:
                    return (await core.exports.status(keys, status["id"])).record.status
                except Exception as exc:
                    return type(exc).__name__

        return asyncio.run(main())

    now = datetime.now(UTC)
    janitor_at(now + ttl - timedelta(minutes=1))
    assert len({v["Key"] for v in _versions(gateway, keys.exports_prefix)}) == 2
    assert status_at(now + ttl - timedelta(minutes=1)) == DONE
    assert status_at(now + ttl + timedelta(seconds=1)) == "NotFound"  # gone for readers before the janitor runs
    janitor_at(now + ttl + timedelta(minutes=1))
    assert _versions(gateway, keys.exports_prefix) == []
    assert api.get(f"/v1/sessions/{session_id}/files/a.txt").content == b"a"  # files are not the janitor's here
    assert api.get(location).status_code == 404
