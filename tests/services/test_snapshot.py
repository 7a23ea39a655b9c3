"""A session's files as of a moment, and forks of them, judged by retention at an injected `now` (both backends):
what a tier's retention has removed since is not brought back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from gateway.changes import Actor
from gateway.policy.config import load_configured_policy
from gateway.services.assembly import assemble
from gateway.services.snapshot import head_at, session_files_as_of
from gateway.storage.store import Store, VersionEntry
from tests.api.test_forking import after_the_second_of, history, listing
from tests.api.test_moving import get, new_session, put
from tests.conftest import Gateway

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def entry(version: str, seconds: int, *, marker: bool = False, latest: bool = False) -> VersionEntry:
    return VersionEntry("k", version, latest, marker, None if marker else '"e"', None if marker else 1,
                        T0 + timedelta(seconds=seconds))  # fmt: skip


def test_the_head_at_a_moment_goes_by_time_not_by_listing_place() -> None:
    # As moto lists them: the latest first, then the other versions, then the delete markers.
    history_ = [entry("v3", 30, latest=True), entry("v1", 10), entry("d2", 20, marker=True)]
    assert head_at(history_, None) == history_[0]
    assert head_at(history_, T0 + timedelta(seconds=35)) == history_[0]
    assert head_at(history_, T0 + timedelta(seconds=25)) == history_[2]
    assert head_at(history_, T0 + timedelta(seconds=20)) == history_[2]  # written at that very moment
    assert head_at(history_, T0 + timedelta(seconds=15)) == history_[1]
    assert head_at(history_, T0 + timedelta(seconds=5)) is None
    # Entries of the same instant keep the listing's order, newest first.
    tied = [entry("b", 10, latest=True), entry("a", 10)]
    assert head_at(tied, T0 + timedelta(seconds=10)) == tied[0]


def _with_services(gateway: Gateway, clock: Callable[[], datetime], work: Callable[[Any, Store], Any]) -> Any:
    async def main() -> Any:
        async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
            core = assemble(store, gateway.settings, load_configured_policy(gateway.settings), clock=clock)
            return await work(core, store)

    return asyncio.run(main())


def test_retention_passed_since_is_not_brought_back(gateway: Gateway, api: httpx.Client, user: str) -> None:
    sid = new_session(api, name="source 🎉")
    for name, tier in [("standard 100%.txt", "standard"), ("permanent é.txt", "permanent")]:
        put(api, sid, name, tier.encode(), **{"x-tier": tier})
    put(api, sid, "persistent/数据.txt", b"persistent", **{"x-tier": "persistent"})
    put(api, sid, "scratch.txt", b"first", **{"x-tier": "ephemeral"})
    then = history(api, sid, "scratch.txt")[0]["last_modified"]
    after_the_second_of(then)
    put(api, sid, "scratch.txt", b"second", **{"x-tier": "ephemeral"})
    at = datetime.fromisoformat(then)
    owner, keys = gateway.owner(user), gateway.owner(user).session(sid)
    actor = Actor.user_of(None, user)

    def snapshot(now: datetime, at: datetime | None) -> list[tuple[str, str | None]]:
        async def work(core: Any, store: Store) -> list[tuple[str, str | None]]:
            policy = load_configured_policy(gateway.settings)
            found = session_files_as_of(store, policy, keys, at=at, now=now)
            return [(f.path, f.tier.name if f.tier else None) async for f in found]

        return list(_with_services(gateway, lambda: now, work))

    now = datetime.now(UTC)
    everything = [
        ("permanent é.txt", "permanent"),
        ("persistent/数据.txt", "persistent"),
        ("scratch.txt", "ephemeral"),
        ("standard 100%.txt", "standard"),
    ]
    assert snapshot(now, None) == everything
    assert snapshot(now, at) == everything
    # Forty days on, the standard file's 30 days and the ephemeral file's 7 are over.
    assert snapshot(now + timedelta(days=40), None) == [everything[0], everything[1]]
    # Two days on, the first scratch version has been superseded for over a day (ephemeral keeps none).
    assert snapshot(now + timedelta(days=2), at) == [everything[0], everything[1], everything[3]]
    assert snapshot(now + timedelta(days=2), None) == everything

    def fork(clock_now: datetime, at: datetime | None) -> str:
        async def work(core: Any, store: Store) -> str:
            record = await core.forking.fork(actor, owner, keys, name=None, at=at)
            return str(record.id)

        return str(_with_services(gateway, lambda: clock_now, work))

    past = fork(now, at)
    assert [path for path, *_ in listing(api, past)] == [path for path, _ in everything]
    assert get(api, past, "scratch.txt").content == b"first"
    later = fork(now + timedelta(days=40), None)
    assert [path for path, *_ in listing(api, later)] == ["permanent é.txt", "persistent/数据.txt"]
    assert api.get(f"/v1/sessions/{later}").json()["name"] == "source 🎉 (fork)"
