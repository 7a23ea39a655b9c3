"""What reading the past rests on: which entry of a key's history was current at a moment (times tie, and moto lists
delete markers apart from versions), walks that start after a key, and retention judged at the injected moment."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from urllib.parse import quote

import httpx

from gateway.errors import NotFound
from gateway.keys import SessionKeys
from gateway.policy.config import load_configured_policy
from gateway.services.assembly import Core, assemble
from gateway.services.snapshot import Selection, Snapshots, as_of, newest_of, selectors
from gateway.storage.store import Store, VersionEntry
from tests.api.test_exports import put_all
from tests.conftest import Gateway

T = TypeVar("T")
S = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def entry(name: str, seconds: float, *, marker: bool = False, latest: bool = False) -> VersionEntry:
    return VersionEntry("k", name, latest, marker, None if marker else '"e"', None if marker else 1, at(seconds))


def at(seconds: float) -> datetime:
    return S + timedelta(seconds=seconds)


def test_as_of_follows_the_order_of_writes_in_listings_of_either_kind() -> None:
    # Ceph RGW: versions and delete markers interleaved in the order of writes, times to the millisecond.
    interleaved = [entry("v3", 3.5, latest=True), entry("d2", 2.25, marker=True), entry("v1", 1.0)]
    assert as_of(interleaved, at(0.999)) is None
    first = as_of(interleaved, at(1.0))
    assert first is not None and first.newest == interleaved[2] and first.later == tuple(interleaved[:2])
    deleted = as_of(interleaved, at(3.0))
    assert deleted is not None and deleted.newest == interleaved[1] and deleted.later == (interleaved[0],)
    current = as_of(interleaved, at(9.0))
    assert current is not None and current.newest == interleaved[0] and current.later == ()
    # moto: the latest entry first, then every version, then every delete marker; times to the second. Written:
    # v1 and d1 in one second, v2 in the next, d3 in the one after.
    grouped = [entry("d3", 3, marker=True, latest=True), entry("v2", 2), entry("v1", 1), entry("d1", 1, marker=True)]
    tied = as_of(grouped, at(1.5))
    # v1 or d1: neither the listing nor the times say which came last, so the store is asked (`newest_of`).
    assert tied is not None and tied.newest is None and tied.tied == (grouped[2], grouped[3])
    assert tied.later == (grouped[0], grouped[1])
    later = as_of(grouped, at(2))
    assert later is not None and later.newest == grouped[1]  # a version and a marker of different times
    last = as_of(grouped, at(3))
    assert last is not None and last.newest == grouped[0]  # the latest entry, whatever its kind
    # Entries of one kind are listed newest first on every backend, whatever their times say.
    same_kind = [entry("d9", 5, marker=True, latest=True), entry("v2", 1), entry("v1", 1)]
    found = as_of(same_kind, at(4))
    assert found is not None and found.newest == same_kind[1]
    # Ceph RGW stamps concurrent writes in another order than it lists them: the latest entry stays the current one.
    concurrent = [entry("va", 0.891, latest=True), entry("vb", 0.901)]
    now = as_of(concurrent, at(1))
    assert now is not None and now.newest == concurrent[0]


def run(gateway: Gateway, scenario: Callable[[Store, Core], Awaitable[T]], *, now: datetime | None = None) -> T:
    async def main() -> T:
        async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
            policy = load_configured_policy(gateway.settings)
            core = assemble(store, gateway.settings, policy, clock=None if now is None else (lambda: now))
            return await scenario(store, core)

    return asyncio.run(main())


def test_newest_of_entries_that_share_a_time_is_asked_of_the_store(gateway: Gateway) -> None:
    """Whatever the backend lists and however its times tie, the entry just below each one gives the order."""
    client = gateway.backend.client()
    key = f"{gateway.settings.key_root}/ties/{uuid.uuid4().hex} é 😀 100%"
    written = []  # oldest first
    for action in ("put", "delete", "put", "put", "delete", "put", "put", "delete"):
        if action == "put":
            written.append(client.put_object(Bucket=gateway.settings.bucket, Key=key, Body=b"x")["VersionId"])
        else:
            written.append(client.delete_object(Bucket=gateway.settings.bucket, Key=key)["VersionId"])

    async def scenario(store: Store, core: Core) -> list[str]:
        listed = (await store.versions_page(key, limit=100, after=None)).entries
        assert sorted(e.version_id for e in listed) == sorted(written)
        tops = []
        for dropped in range(len(written)):
            # The entries left once the newest `dropped` are set aside, in the listing's order (whatever it is).
            left = set(written[: len(written) - dropped])
            tops.append((await newest_of(store, tuple(e for e in listed if e.version_id in left))).version_id)
        return tops

    assert run(gateway, scenario) == list(reversed(written))


def test_a_walk_starts_after_a_key_now_and_at_a_moment(
    gateway: Gateway, api: httpx.Client, session_id: str, user: str
) -> None:
    files = {
        "a.txt": b"a",
        "dossier é/1 😀.txt": b"1",
        "dossier é/sous/2 100%.txt": b"2",
        "dossier é0.txt": b"3",  # '0' sorts right after '/': just past the folder
        "z.txt": b"z",
    }
    put_all(api, session_id, files)
    assert api.put(f"/v1/sessions/{session_id}/files/{quote('a.txt')}", content=b"a2").status_code == 200
    keys: SessionKeys = gateway.owner(user).session(session_id)

    async def scenario(store: Store, core: Core) -> dict[str, list[str]]:
        policy = load_configured_policy(gateway.settings)
        walk = Snapshots(store, gateway.settings, policy, page_size=2)
        chosen = selectors(keys, Selection())
        moment = datetime.now(UTC)
        found = {}
        for name, marker in (("file", keys.marker("a.txt")), ("folder", keys.marker("dossier é/"))):
            for when in (None, moment):
                label = f"{name} {'at' if when else 'now'}"
                found[label] = [f.path async for f in walk.files(keys, chosen, at=when, start_after=marker)]
        return found

    found = run(gateway, scenario)
    after_a = ["dossier é/1 😀.txt", "dossier é/sous/2 100%.txt", "dossier é0.txt", "z.txt"]
    assert found["file now"] == found["file at"] == after_a
    assert found["folder now"] == found["folder at"] == ["dossier é0.txt", "z.txt"]


def test_the_past_hides_what_retention_has_removed_by_the_injected_moment(
    gateway: Gateway, api: httpx.Client, session_id: str, user: str
) -> None:
    base = f"/v1/sessions/{session_id}/files"
    for path, tier in (("scratch 😀.txt", "ephemeral"), ("kept%.txt", "permanent")):
        assert api.put(f"{base}/{quote(path)}", content=b"x", headers={"x-tier": tier}).status_code == 201
    then = max(
        datetime.fromisoformat(item["last_modified"].replace("Z", "+00:00")) for item in api.get(base).json()["items"]
    )
    keys = gateway.owner(user).session(session_id)

    def read(now: datetime) -> tuple[list[str], list[str]]:
        async def scenario(store: Store, core: Core) -> tuple[list[str], list[str]]:
            listing = await core.past.list(keys, prefix="", delimiter=None, limit=10, cursor=None, at=then)
            readable = []
            for path in ("scratch 😀.txt", "kept%.txt"):
                with contextlib.suppress(NotFound):
                    readable.append((await core.past.version_at(keys, path, then)).path)
            return [item.path for item in listing.items], readable

        return run(gateway, scenario, now=now)

    today = datetime.now(UTC)
    assert read(today) == (["kept%.txt", "scratch 😀.txt"], ["scratch 😀.txt", "kept%.txt"])
    # Eight days on, the ephemeral file is past its seven days' retention, whether or not S3 lifecycle has run.
    assert read(today + timedelta(days=8)) == (["kept%.txt"], ["kept%.txt"])
