"""The snapshot walk on both backends: files now and as they were, retention judged at an injected moment, pages
of any size, selections in key order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from urllib.parse import quote

import httpx
import pytest

from gateway.errors import InvalidPath
from gateway.keys import Owner, SessionKeys
from gateway.policy.config import load_configured_policy
from gateway.services.assembly import Core, assemble
from gateway.services.snapshot import Selection, Selector, SnapshotFile, Snapshots, selectors
from gateway.storage.store import Store
from tests.api.test_exports import after_the_second, put_all
from tests.conftest import Gateway

T = TypeVar("T")
OWNER_KEY = bytes(32)


def with_services(
    gateway: Gateway, scenario: Callable[[Store, Core], Awaitable[T]], *, clock: datetime | None = None
) -> T:
    async def main() -> T:
        async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
            policy = load_configured_policy(gateway.settings)
            core = assemble(store, gateway.settings, policy, clock=None if clock is None else (lambda: clock))
            return await scenario(store, core)

    return asyncio.run(main())


def snapshot(
    gateway: Gateway,
    keys: SessionKeys,
    selection: Selection | None = None,
    *,
    at: datetime | None = None,
    now: datetime | None = None,
    page_size: int = 1000,
) -> list[SnapshotFile]:
    async def scenario(store: Store, core: Core) -> list[SnapshotFile]:
        policy = load_configured_policy(gateway.settings)
        clock = (lambda: now) if now is not None else (lambda: datetime.now(UTC))
        walk = Snapshots(store, gateway.settings, policy, clock=clock, page_size=page_size)
        chosen = selectors(keys, selection or Selection())
        return [found async for found in walk.files(keys, chosen, at=at)]

    return with_services(gateway, scenario)


def last_written(api: httpx.Client, sid: str, paths: list[str]) -> str:
    moments = [
        api.get(f"/v1/sessions/{sid}/history", params={"path": path}).json()["items"][0]["last_modified"]
        for path in paths
    ]
    return max(moments)


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_retention_is_judged_at_the_injected_moment_and_nothing_comes_back(
    gateway: Gateway, api: httpx.Client, session_id: str, user: str
) -> None:
    base = f"/v1/sessions/{session_id}/files"
    tiers = {"scratch.txt": "ephemeral", "kept.txt": "permanent", "std.txt": "standard"}
    for path, tier in tiers.items():
        assert api.put(f"{base}/{path}", content=b"v1", headers={"x-tier": tier}).status_code == 201
    then = last_written(api, session_id, list(tiers))
    after_the_second(then)
    for path, tier in tiers.items():
        if path != "std.txt":
            assert api.put(f"{base}/{path}", content=b"v2", headers={"x-tier": tier}).status_code == 200
    keys = gateway.owner(user).session(session_id)
    now = datetime.now(UTC)

    def paths(found: list[SnapshotFile]) -> dict[str, str | None]:
        return {file.path: file.tier.name if file.tier else None for file in found}

    old = snapshot(gateway, keys, at=moment(then), now=now)
    assert paths(old) == {"kept.txt": "permanent", "scratch.txt": "ephemeral", "std.txt": "standard"}
    history = api.get(f"/v1/sessions/{session_id}/history", params={"path": "scratch.txt"}).json()["items"]
    assert {file.path: file.version_id for file in old}["scratch.txt"] == history[-1]["version_id"]
    assert all(file.sha256 is not None and file.size == 2 for file in old)
    # Two days on, the ephemeral tier (old versions kept one day, none by count) has removed scratch's v1, whether
    # or not S3 lifecycle has run yet: it is not brought back. The current version is still there.
    later = snapshot(gateway, keys, at=moment(then), now=now + timedelta(days=2))
    assert paths(later) == {"kept.txt": "permanent", "std.txt": "standard"}
    assert set(paths(snapshot(gateway, keys, now=now + timedelta(days=2)))) == set(tiers)
    # Eight days on, scratch's current version is past its seven days; after 31, standard's thirty.
    assert set(paths(snapshot(gateway, keys, now=now + timedelta(days=8)))) == {"kept.txt", "std.txt"}
    assert set(paths(snapshot(gateway, keys, now=now + timedelta(days=31)))) == {"kept.txt"}
    assert set(paths(snapshot(gateway, keys, at=moment(then), now=now + timedelta(days=31)))) == {"kept.txt"}


def test_walks_any_page_size_in_key_order(gateway: Gateway, api: httpx.Client, session_id: str, user: str) -> None:
    files = {f"d{i % 3}/é {i:02d} 🎉%.txt": f"{i}".encode() for i in range(23)}
    put_all(api, session_id, files)
    put_all(api, session_id, {path: data + b"!" for path, data in list(files.items())[::2]})
    deleted = list(files)[1]
    assert api.delete(f"/v1/sessions/{session_id}/files/{quote(deleted)}").status_code == 204
    keys = gateway.owner(user).session(session_id)
    expected = sorted(path for path in files if path != deleted)
    for size in (1, 4, 1000):
        now_view = snapshot(gateway, keys, page_size=size)
        assert [file.path for file in now_view] == expected
        historic = snapshot(gateway, keys, at=datetime.now(UTC), page_size=size)
        assert [(f.path, f.version_id) for f in historic] == [(f.path, f.version_id) for f in now_view]
    chosen = Selection(prefix="d1/", paths=("d1/", "d0/", list(files)[4]))
    assert [file.path for file in snapshot(gateway, keys, chosen, page_size=2)] == [
        path for path in expected if path.startswith("d1/")
    ]


KEYS = Owner(root="gw", tenant="t", user="u", owner_key=OWNER_KEY).session("01ARZ3NDEKTSV4RRFFQ69G5FAV")


def _walked(selection: Selection) -> list[tuple[str, bool]]:
    return [(KEYS.path_of(s.key), s.exact) for s in selectors(KEYS, selection)]


def test_selectors_cover_each_key_once_in_order() -> None:
    assert _walked(Selection()) == [("", False)]
    assert _walked(Selection(prefix="a")) == [("a", False)]
    paths = ("b.txt", "a/", "a/x.txt", "a/sub/", "ab", "b.txt", "e\u0301.txt")
    assert _walked(Selection(paths=paths)) == [("a/", False), ("ab", True), ("b.txt", True), ("é.txt", True)]
    assert _walked(Selection(prefix="a/s", paths=paths)) == [("a/s", False)]
    assert _walked(Selection(prefix="a/", paths=("a/sub/", "a/x.txt", "b.txt"))) == [
        ("a/sub/", False),
        ("a/x.txt", True),
    ]
    assert selectors(KEYS, Selection(prefix="zzz/", paths=("a.txt",))) == []
    assert all(isinstance(s, Selector) for s in selectors(KEYS, Selection(paths=("x",))))


@pytest.mark.parametrize(
    ("selection", "rule"),
    [
        (Selection(paths=("a/../b",)), "dot-segment"),
        (Selection(paths=("",)), "empty"),
        (Selection(prefix="a//"), "empty-segment"),
        (Selection(paths=("a\u200bb",)), "zero-width"),
    ],
)
def test_selections_follow_the_path_rules(selection: Selection, rule: str) -> None:
    with pytest.raises(InvalidPath) as refused:
        selectors(KEYS, selection)
    assert refused.value.rule == rule
