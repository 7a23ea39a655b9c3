"""Activity beside each session (counts and last change, refreshed once per interval), and the janitor's care of
sessions: idle ones archived, orphans removed recoverably, each shown first by a dry run."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from gateway.changes import SYSTEM_JANITOR
from gateway.errors import NotFound
from gateway.index.summaries import canonical_time
from gateway.index.upkeep import ARCHIVE_SESSION, REMOVE_ORPHAN
from gateway.recovery.records import BEFORE_SESSION_DELETE
from tests.conftest import Gateway
from tests.index.harness import Clock, replica, write_file

NAME = "données/é🎉 100%.txt"


def _activity_versions(gateway: Gateway, key: str) -> int:
    listing = gateway.backend.client().list_object_versions(Bucket=gateway.settings.bucket, Prefix=key)
    return len([v for v in listing.get("Versions", []) if v["Key"] == key])


def test_activity_is_counted_once_per_interval(gateway: Gateway, user: str) -> None:
    clock = Clock()
    owner = gateway.owner(user)

    async def main() -> None:
        async with replica(gateway, clock) as core:
            sid = (await core.sessions.create(owner, name="work")).id
            keys = owner.session(sid)
            created = canonical_time(clock.now)
            clock.advance(minutes=5)
            await write_file(core, owner, sid, NAME, b"12345")
            written_at = canonical_time(clock.now)
            clock.advance(minutes=5)
            await write_file(core, owner, sid, "b.txt", b"abc")
            await write_file(core, owner, sid, NAME, b"1234567")  # replaced: counted once, at its new size
            last = canonical_time(clock.now)
            # Nothing is written per change: the listing still shows the session as created ...
            summary = await core.sessions.summary(keys)
            assert summary is not None and (summary.file_count, summary.last_activity_at) == (0, created)
            assert core.activity.pending == 1
            # ... until the refresh, once for all three changes.
            assert await core.activity.flush() == 1
            summary = await core.sessions.summary(keys)
            assert summary is not None
            assert (summary.file_count, summary.bytes, summary.last_activity_at) == (2, 10, last)
            assert last > written_at
            listed = await core.sessions.list(owner, limit=5, cursor=None)
            assert [(item.id, item.file_count, item.bytes) for item in listed.items] == [(sid, 2, 10)]
            # The janitor's deletes change the counts, not the time; older activity versions are removed.
            clock.advance(hours=1)
            await core.files.delete(SYSTEM_JANITOR, keys, "b.txt")
            await core.activity.flush()
            summary = await core.sessions.summary(keys)
            assert summary is not None and (summary.file_count, summary.last_activity_at) == (1, last)
            assert _activity_versions(gateway, keys.activity) == 1
            # A session's own detail counts its files even before any refresh.
            fresh = (await core.sessions.create(owner, name="fresh")).id
            await write_file(core, owner, fresh, "x", b"xy")
            detail = await core.sessions.detail(owner, fresh)
            assert detail.activity is not None and (detail.activity.file_count, detail.activity.bytes) == (1, 2)

    asyncio.run(main())


def test_idle_sessions_are_archived_and_orphans_removed(own_gateway: Gateway, user: str) -> None:
    gateway = own_gateway
    clock = Clock()
    owner = gateway.owner(user)
    settings = dataclasses.replace(gateway.settings, archive_after_seconds=3600, orphan_after_seconds=3 * 3600)

    async def main() -> None:
        async with replica(gateway, clock, settings) as core:
            idle = (await core.sessions.create(owner, name="idle é")).id
            await write_file(core, owner, idle, NAME, b"kept")
            ended = (await core.sessions.create(owner, name="ended")).id
            await write_file(core, owner, ended, "f", b"1")
            await core.sessions.end(owner, ended)
            orphan = (await core.sessions.create(owner, name="orphan 🎉")).id
            await core.activity.flush()
            clock.advance(hours=2)
            busy = (await core.sessions.create(owner, name="busy")).id
            clock.advance(hours=2)  # idle: 4 h; busy: 2 h
            await core.sessions.update(owner, busy, name="busy still")
            idle_since = await core.sessions.summary(owner.session(idle))
            assert idle_since is not None

            dry = await core.janitor.run(dry_run=True)
            assert sorted((a.kind, a.session_id) for a in dry.sessions) == sorted(
                [(ARCHIVE_SESSION, idle), (ARCHIVE_SESSION, ended), (REMOVE_ORPHAN, orphan)]
            )
            assert (await core.sessions.get(owner, idle)).state == "active"  # a dry run changes nothing
            assert "would take 3 action(s)" in dry.summary()

            done = await core.janitor.run(dry_run=False)
            assert len(done.sessions) == 3
            assert (await core.sessions.get(owner, idle)).state == "archived"
            assert (await core.sessions.get(owner, ended)).state == "archived"
            assert (await core.sessions.get(owner, busy)).state == "active"
            with pytest.raises(NotFound):
                await core.sessions.get(owner, orphan)
            # Archiving is no activity: the session stays as idle as it was; its file is still there.
            after = await core.sessions.summary(owner.session(idle))
            assert after is not None and after.last_activity_at == idle_since.last_activity_at
            assert after.file_count == 1
            # The orphan went the recoverable way: its automatic snapshot brings it back.
            snapshots = await core.snapshots.all(owner.session(orphan))
            assert [s.reason for s in snapshots] == [BEFORE_SESSION_DELETE]
            await core.restorer.from_snapshot(SYSTEM_JANITOR, owner.session(orphan), snapshots[0].name, dry_run=False)
            assert (await core.sessions.get(owner, orphan)).name == "orphan 🎉"
            await core.sessions.delete(owner, orphan, purge=True)
            # Nothing more to do on a second run.
            again = await core.janitor.run(dry_run=True)
            assert again.sessions == []

    asyncio.run(main())
