"""The session index: notes, compaction, repair, and two replicas changing sessions at once while listing."""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import sys

from gateway.errors import NotFound
from gateway.index.catalog import SessionIndex
from gateway.keys import Owner
from gateway.services.assembly import Core
from tests.conftest import Gateway
from tests.index.harness import Clock, replica
from tests.policy.test_commands import policy_env


async def _listed(core: Core, owner: Owner, limit: int = 7) -> list[tuple[str, str | None, str]]:
    items: list[tuple[str, str | None, str]] = []
    cursor: str | None = None
    while True:
        page = await core.sessions.list(owner, limit=limit, cursor=cursor)
        items += [(item.id, item.name, item.state) for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return items


def _keys(gateway: Gateway, prefix: str) -> list[str]:
    listing = gateway.backend.client().list_objects_v2(Bucket=gateway.settings.bucket, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def _versions(gateway: Gateway, prefix: str) -> int:
    listing = gateway.backend.client().list_object_versions(Bucket=gateway.settings.bucket, Prefix=prefix)
    return len(listing.get("Versions", [])) + len(listing.get("DeleteMarkers", []))


def test_notes_are_folded_into_the_base_and_removed(gateway: Gateway, user: str) -> None:
    clock = Clock()
    owner = gateway.owner(user)

    async def main() -> None:
        async with replica(gateway, clock) as core:
            # The first listing of a new owner builds the (empty) index from the records.
            assert await _listed(core, owner) == []
            assert _keys(gateway, owner.space.index_base) == [owner.space.index_base]
            ids = [(await core.sessions.create(owner, name=f"é{i} 🎉")).id for i in range(5)]
            await core.sessions.update(owner, ids[0], name="renamed %41")
            await core.sessions.delete(owner, ids[1], purge=False)
            assert sorted(_keys(gateway, owner.space.index_notes_prefix)) == sorted(
                owner.space.index_notes_prefix + sid for sid in ids
            )
            before = await _listed(core, owner)
            repair = await core.index.compact(owner.space)
            assert repair.written and repair.notes == 6 + 1 and repair.sessions == 4
            # Nothing is left of the notes: no keys, no versions, no delete markers.
            assert _versions(gateway, owner.space.index_notes_prefix) == 0
            assert await _listed(core, owner) == before
            assert [name for _, name, _ in before] == ["renamed %41", "é2 🎉", "é3 🎉", "é4 🎉"]
            # A second compaction finds nothing to do and writes nothing.
            again = await core.index.compact(owner.space)
            assert (again.notes, again.changed, again.written) == (0, [], False)
            # Repeated compactions keep two versions of the base at most.
            for i in range(4):
                await core.sessions.update(owner, ids[2], name=f"again {i}")
                await core.index.compact(owner.space)
            assert _versions(gateway, owner.space.index_base) == 2

    asyncio.run(main())


def test_a_lost_note_and_a_damaged_base_are_repaired(gateway: Gateway, user: str) -> None:
    clock = Clock()
    owner = gateway.owner(user)
    client = gateway.backend.client()

    async def main() -> None:
        async with replica(gateway, clock) as core:
            ids = [(await core.sessions.create(owner, name=f"n{i}")).id for i in range(3)]
            await core.index.compact(owner.space)
            # A change whose note was lost (a crash between the record and the note): the listing is wrong ...
            await core.sessions.update(owner, ids[0], name="changed")
            for item in client.list_object_versions(
                Bucket=gateway.settings.bucket, Prefix=owner.space.index_notes_prefix
            ).get("Versions", []):
                client.delete_object(Bucket=gateway.settings.bucket, Key=item["Key"], VersionId=item["VersionId"])
            assert (await _listed(core, owner))[0][1] == "n0"
            # ... until the check compares the base with the records.
            dry = await core.index.compact(owner.space, full=True, dry_run=True)
            assert dry.changed == [ids[0]] and not dry.written
            assert (await _listed(core, owner))[0][1] == "n0"
            fixed = await core.index.compact(owner.space, full=True)
            assert fixed.changed == [ids[0]] and fixed.written
            assert [name for _, name, _ in await _listed(core, owner)] == ["changed", "n1", "n2"]
            # A base that is not an index at all: listings show the noted sessions, and the next compaction reads
            # every record again.
            client.put_object(Bucket=gateway.settings.bucket, Key=owner.space.index_base, Body=b"{not json")
        async with replica(gateway, clock) as core:
            repair = await core.index.compact(owner.space)
            assert repair.written and repair.sessions == 3
            assert [name for _, name, _ in await _listed(core, owner)] == ["changed", "n1", "n2"]

    asyncio.run(main())


def test_two_replicas_change_sessions_at_once_while_listing(gateway: Gateway, user: str) -> None:
    """Two replicas create, rename and delete sessions, and compact the index, all at once, while both list;
    afterwards both list exactly what the records say, and a full check finds nothing to repair."""
    clock = Clock()
    owner = gateway.owner(user)
    rng = random.Random(4)

    async def main() -> None:
        async with replica(gateway, clock) as one, replica(gateway, clock) as two:
            seed = [(await one.sessions.create(owner, name=f"seed {i}")).id for i in range(12)]
            listings: list[int] = []

            async def worker(core: Core, tag: str) -> None:
                live = list(seed)
                for step in range(12):
                    action = rng.choice(["create", "rename", "delete", "compact", "list"])
                    if action == "create":
                        live.append((await core.sessions.create(owner, name=f"{tag} {step} ü")).id)
                    elif action == "rename" and live:
                        with contextlib.suppress(NotFound):  # the other replica deleted it first
                            await core.sessions.update(owner, rng.choice(live), name=f"{tag} renamed {step}")
                    elif action == "delete" and live:
                        victim = live.pop(rng.randrange(len(live)))
                        with contextlib.suppress(NotFound):
                            await core.sessions.delete(owner, victim, purge=False)
                    elif action == "compact":
                        await core.index.compact(owner.space)
                    else:
                        listings.append(len(await _listed(core, owner, limit=5)))

            await asyncio.gather(worker(one, "A"), worker(two, "B"), worker(one, "C"), worker(two, "D"))
            truth = await _truth_of(one, owner)
            assert sorted(await _listed(one, owner)) == truth
            assert sorted(await _listed(two, owner)) == truth
            check = await one.index.compact(owner.space, full=True, dry_run=True)
            assert check.changed == []
            assert listings  # the listings ran while the others changed things

    asyncio.run(main())


async def _truth_of(core: Core, owner: Owner) -> list[tuple[str, str | None, str]]:
    index: SessionIndex = core.index
    ids = await index._all_sessions(owner.space)  # the records' own listing, not the index
    found = []
    for sid in ids:
        summary = await core.sessions.summary(owner.session(sid))
        if summary is not None:
            found.append((summary.id, summary.name, summary.state))
    return sorted(found)


def test_index_rebuild_command(own_gateway: Gateway, user: str) -> None:
    """`session-gateway index rebuild`: --dry-run reports a wrong index (exit 2), a run repairs it, a second dry run
    finds nothing."""
    gateway = own_gateway
    clock = Clock()
    owner = gateway.owner(user)
    client = gateway.backend.client()

    async def prepare() -> str:
        async with replica(gateway, clock) as core:
            sid = (await core.sessions.create(owner, name="before")).id
            await core.index.compact(owner.space)
            await core.sessions.update(owner, sid, name="after")
        return sid

    sid = asyncio.run(prepare())
    for item in client.list_object_versions(Bucket=gateway.settings.bucket, Prefix=owner.space.index_notes_prefix)[
        "Versions"
    ]:
        client.delete_object(Bucket=gateway.settings.bucket, Key=item["Key"], VersionId=item["VersionId"])
    env = policy_env(gateway.backend, gateway.settings.bucket, GATEWAY_KEY_ROOT=gateway.settings.key_root)

    def rebuild(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gateway", "index", "rebuild", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )

    dry = rebuild("--dry-run")
    assert dry.returncode == 2, dry.stderr
    assert f"would rewrite {owner.space.prefix}: 1 of 1 session(s) differed" in dry.stdout
    done = rebuild()
    assert done.returncode == 0, done.stderr
    assert f"rewrote {owner.space.prefix}" in done.stdout

    async def listed() -> list[str | None]:
        async with replica(gateway, clock) as core:
            return [item.name for item in (await core.sessions.list(owner, limit=5, cursor=None)).items]

    assert asyncio.run(listed()) == ["after"]
    again = rebuild("--dry-run")
    assert again.returncode == 0 and f"{owner.space.prefix}" not in again.stdout, again.stdout
    assert sid
