"""The usage ledger itself: compaction keeps the figures, the recount sets them to the truth (and only ever
over-counts around changes it cannot place), stale reservations go, and a dry run changes nothing. Clocks are
injected; nothing sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from gateway.keys import UsageKeys, usage_scopes
from gateway.policy.config import load_configured_policy
from gateway.quotas.ledger import Figures, Ledger
from gateway.quotas.recount import STALE_SECONDS, recount_all
from gateway.services.assembly import assemble
from gateway.storage.store import Store
from tests.conftest import Gateway
from tests.quotas.helpers import client, current_files, new_session, put

T = TypeVar("T")
START = datetime(2030, 1, 1, tzinfo=UTC)


def _with_ledger(gateway: Gateway, now: list[datetime], work: Callable[[Ledger, Store], Awaitable[T]]) -> T:
    async def main() -> T:
        async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
            policy = load_configured_policy(gateway.settings)
            core = assemble(store, gateway.settings, policy, clock=lambda: now[0])
            return await work(core.quotas.ledger, store)

    return asyncio.run(main())


def _session_ledger(gateway: Gateway, user: str, tenant: str, session_id: str) -> UsageKeys:
    return usage_scopes(gateway.settings.key_root, gateway.owner(user, tenant).session(session_id).prefix)[2]


def _raw_put(gateway: Gateway, key: str, data: bytes) -> None:
    gateway.backend.client().put_object(Bucket=gateway.settings.bucket, Key=key, Body=data)


def test_compaction_keeps_the_figures(quotas: Gateway) -> None:
    user = "user-compact"
    with client(quotas, "t-session", user) as api:
        sid = new_session(api)
        for index, name in enumerate(["é.txt", "cafe\u0301.txt", "😀%.bin"]):
            assert put(api, sid, name, b"x" * (index + 5)).status_code == 201
    keys = _session_ledger(quotas, user, "t-session", sid)
    now = [START]

    async def work(ledger: Ledger, store: Store) -> tuple[Figures, Figures, int, int]:
        entry = await ledger.post(keys, "a" * 16, "r", Figures(7, 1))  # a write under way
        before = await ledger.read(keys)
        await ledger.compact(keys)
        after = await ledger.read(keys)
        await ledger.remove([entry])
        return before.used, after.used, len(before.entries), len(after.entries)

    before, after, entries_before, entries_after = _with_ledger(quotas, now, work)
    assert before == after == Figures(5 + 6 + 7 + 7, 4)
    assert entries_before == 4 and entries_after == 1  # the committed ones were folded and removed


def test_recount_sets_the_truth_and_drops_stale_reservations(quotas: Gateway) -> None:
    user = "user-recount"
    owner = quotas.owner(user, "t-session")
    with client(quotas, "t-session", user) as api:
        sid = new_session(api)
        assert put(api, sid, "naïve.txt", b"n" * 10).status_code == 201
    keys = _session_ledger(quotas, user, "t-session", sid)
    session = owner.session(sid)
    # Drift: a file written around the gateway, and one removed around it (as lifecycle rules do).
    _raw_put(quotas, session.file("around/😀%.txt"), b"a" * 20)
    quotas.backend.client().delete_object(Bucket=quotas.settings.bucket, Key=session.file("naïve.txt"))
    now = [START]

    async def work(ledger: Ledger, store: Store) -> tuple[Figures, Figures, Figures, int]:
        stale = await ledger.post(keys, "b" * 16, "r", Figures(50, 1))  # its writer died
        now[0] = START + timedelta(seconds=STALE_SECONDS + 1)
        fresh = await ledger.post(keys, "c" * 16, "r", Figures(3, 1))
        drifted = (await ledger.read(keys)).used
        dry = [r for r in await recount_all(store, ledger, quotas.settings.key_root, dry_run=True) if r.ledger == keys]
        assert (await ledger.read(keys)).used == drifted  # a dry run writes nothing
        await recount_all(store, ledger, quotas.settings.key_root, dry_run=False)
        reading = await ledger.read(keys)
        await ledger.remove([fresh])
        assert stale.name not in {entry.name for entry in reading.entries}
        return drifted, dry[0].after, reading.used, len(reading.entries)

    drifted, would, recounted, entries = _with_ledger(quotas, now, work)
    assert drifted == Figures(10 + 50 + 3, 3)
    truth = Figures(*current_files(quotas, session.files_prefix))
    assert truth == Figures(20, 1)
    assert would == recounted == truth + Figures(3, 1)  # the fresh reservation still counts
    assert entries == 1


@pytest.mark.parametrize("deleted_before_count", [True, False])
def test_recount_beside_a_delete_only_ever_over_counts(quotas: Gateway, deleted_before_count: bool) -> None:
    """A delete posts its reservation, removes the file, then posts its figures. Whether the count saw the file or
    not, the figures afterwards are the truth or more, never less."""
    user = f"user-race-{deleted_before_count}"
    with client(quotas, "t-session", user) as api:
        sid = new_session(api)
        assert put(api, sid, "ü/a.txt", b"a" * 30).status_code == 201
        assert put(api, sid, "ü/b.txt", b"b" * 12).status_code == 201
    keys = _session_ledger(quotas, user, "t-session", sid)
    key = quotas.owner(user, "t-session").session(sid).file("ü/a.txt")
    now = [START]

    async def work(ledger: Ledger, store: Store) -> Figures:
        reservation = await ledger.post(keys, "d" * 16, "r", Figures())
        if deleted_before_count:
            await store.delete_marking(key)
        await ledger.recount(keys, stale_before_ms=None)
        if not deleted_before_count:
            await store.delete_marking(key)
        await ledger.post(keys, "d" * 16, "c", Figures(-30, -1))
        await ledger.remove([reservation])
        return (await ledger.read(keys)).used

    used = _with_ledger(quotas, now, work)
    truth = Figures(*current_files(quotas, keys.counted))
    assert truth == Figures(12, 1)
    assert used == (truth if deleted_before_count else truth + Figures(30, 1))
