"""Session search against a generated population: every filter and both sort orders, paginated, compared with
what the population says; names with accents (NFC and NFD), emoji, '%' and scripts where case folding is subtle."""

from __future__ import annotations

import asyncio
import random
import unicodedata
from dataclasses import dataclass

import pytest

from gateway.errors import InvalidCursor
from gateway.index.query import CREATED, LAST_ACTIVITY, SessionQuery
from gateway.index.summaries import canonical_time, folded
from gateway.keys import Owner
from gateway.services.assembly import Core
from gateway.services.sessions import SessionListing
from tests.conftest import Gateway
from tests.index.harness import Clock, replica

NAMES = [
    "Rapport été",
    unicodedata.normalize("NFD", "rapport ÉTÉ final"),
    unicodedata.normalize("NFD", "Café crème"),
    "🎉 launch party",
    "100% done",
    "Große Straße",
    "plain",
    None,
    "ΣΊΣΥΦΟΣ",
    "naïve \uff26\uff35\uff2c\uff2c\uff37\uff29\uff24\uff34\uff28",  # fullwidth letters
]
TAGS = ["alpha", "béta", "🎯", "50%"]


@dataclass
class Known:
    """What the test made of one session, to judge listings by."""

    id: str
    name: str | None
    tags: set[str]
    state: str
    created_at: str
    active_at: str


async def _populate(core: Core, owner: Owner, clock: Clock, count: int, rng: random.Random) -> list[Known]:
    known: list[Known] = []
    for i in range(count):
        clock.advance(minutes=rng.randint(1, 90))
        tags = set(rng.sample(TAGS, rng.randint(0, 2)))
        name = NAMES[i % len(NAMES)]
        record = await core.sessions.create(owner, name=name, tags=sorted(tags), external_ids=[f"sdk-{i}"])
        known.append(Known(record.id, name, tags, "active", canonical_time(clock.now), canonical_time(clock.now)))
    # Later: some are renamed (activity), some ended, some archived, in a shuffled order.
    for item in rng.sample(known, count // 2):
        clock.advance(minutes=rng.randint(1, 30))
        choice = rng.choice(["rename", "end", "archive"])
        if choice == "rename":
            item.name = (item.name or "") + " v2"
            await core.sessions.update(owner, item.id, name=item.name)
        else:
            await core.sessions.end(owner, item.id)
            item.state = "ended"
            if choice == "archive":
                clock.advance(minutes=1)
                await core.sessions.archive(owner, item.id)
                item.state = "archived"
        item.active_at = canonical_time(clock.now)
    return known


def _expected(known: list[Known], query: SessionQuery) -> list[str]:
    def keep(item: Known) -> bool:
        return (
            (not query.states or item.state in query.states)
            and set(query.tags) <= {unicodedata.normalize("NFC", t) for t in item.tags}
            and (query.text is None or query.text in folded(item.name or ""))
            and (query.created_after is None or item.created_at > query.created_after)
            and (query.created_before is None or item.created_at < query.created_before)
            and (query.active_after is None or item.active_at > query.active_after)
            and (query.active_before is None or item.active_at < query.active_before)
        )

    def key(item: Known) -> tuple[str, str]:
        return (item.created_at if query.sort == CREATED else item.active_at, item.id)

    return [item.id for item in sorted(filter(keep, known), key=key, reverse=query.descending)]


async def _all_pages(core: Core, owner: Owner, query: SessionQuery, limit: int) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page: SessionListing = await core.sessions.list(owner, query=query, limit=limit, cursor=cursor)
        assert len(page.items) <= limit
        seen += [item.id for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return seen


def test_filters_and_orders_match_the_population(gateway: Gateway, user: str) -> None:
    rng = random.Random(9)
    clock = Clock()

    async def main() -> None:
        owner = gateway.owner(user)
        async with replica(gateway, clock) as core:
            known = await _populate(core, owner, clock, 36, rng)
            middle = sorted(k.created_at for k in known)[len(known) // 2]
            recent = sorted(k.active_at for k in known)[len(known) // 3]
            queries = [
                SessionQuery(),
                SessionQuery(descending=True),
                SessionQuery(sort=LAST_ACTIVITY),
                SessionQuery(sort=LAST_ACTIVITY, descending=True),
                SessionQuery(states=frozenset({"active"})),
                SessionQuery(states=frozenset({"ended", "archived"}), sort=LAST_ACTIVITY),
                SessionQuery(tags=("béta",)),
                SessionQuery(tags=("🎯", "50%")),
                SessionQuery(text=folded("ETE")),
                SessionQuery(text=folded("café")),  # NFC query, NFD name
                SessionQuery(text=folded("STRASSE")),
                SessionQuery(text=folded("σίσυφος")),
                SessionQuery(text=folded("full")),
                SessionQuery(text=folded("%")),
                SessionQuery(text=folded("🎉")),
                SessionQuery(created_after=middle),
                SessionQuery(created_before=middle, descending=True),
                SessionQuery(active_after=recent, sort=LAST_ACTIVITY, descending=True),
                SessionQuery(active_before=recent, states=frozenset({"active"})),
            ]
            for query in queries:
                expected = _expected(known, query)
                assert await _all_pages(core, owner, query, 5) == expected, query
            # The accent- and case-insensitive queries did find something (else the comparison proves little).
            assert len(_expected(known, SessionQuery(text=folded("ete")))) >= 4
            assert len(_expected(known, SessionQuery(text=folded("café")))) >= 3
            # External ids are looked up exactly.
            found = await core.sessions.list(owner, query=SessionQuery(external_id="sdk-7"), limit=10, cursor=None)
            assert [item.id for item in found.items] == [known[7].id]
            assert (
                await core.sessions.list(owner, query=SessionQuery(external_id="SDK-7"), limit=10, cursor=None)
            ).items == []

    asyncio.run(main())


def test_cursors_stay_stable_while_sessions_change(gateway: Gateway, user: str) -> None:
    """Sessions created, renamed and deleted between pages: every session that existed throughout and kept its
    place is seen exactly once, in order."""
    clock = Clock()

    async def main() -> None:
        owner = gateway.owner(user)
        async with replica(gateway, clock) as core:
            ids = []
            for i in range(20):
                clock.advance(minutes=1)
                ids.append((await core.sessions.create(owner, name=f"s{i}")).id)
            originals = list(ids)
            seen: list[str] = []
            cursor: str | None = None
            deleted: set[str] = set()
            step = 0
            while True:
                page = await core.sessions.list(owner, limit=4, cursor=cursor)
                seen += [item.id for item in page.items]
                cursor = page.next_cursor
                if cursor is None:
                    break
                # Between pages: one new session (created later: it sorts last), one rename, one delete ahead.
                step += 1
                clock.advance(minutes=1)
                ids.append((await core.sessions.create(owner, name=f"new {step}")).id)
                await core.sessions.update(owner, ids[step], name=f"renamed {step}")
                ahead = [sid for sid in originals[::-1] if sid not in seen and sid not in deleted][:1]
                for sid in ahead:
                    await core.sessions.delete(owner, sid, purge=False)
                    deleted.add(sid)
            assert len(seen) == len(set(seen))
            assert seen == sorted(seen)  # ids sort by creation, like the listing
            assert [sid for sid in ids if sid not in deleted] == seen

    asyncio.run(main())


@pytest.mark.parametrize("descending", [False, True])
def test_a_cursor_continues_only_its_own_listing(gateway: Gateway, user: str, descending: bool) -> None:
    clock = Clock()

    async def main() -> None:
        owner, other = gateway.owner(user), gateway.owner(user + "-other")
        async with replica(gateway, clock) as core:
            for i in range(3):
                clock.advance(minutes=1)
                await core.sessions.create(owner, name=f"n{i}", tags=["t"])
            query = SessionQuery(tags=("t",), descending=descending)
            page = await core.sessions.list(owner, query=query, limit=1, cursor=None)
            assert page.next_cursor is not None
            for wrong_owner, wrong_query in [
                (owner, SessionQuery(tags=("u",), descending=descending)),
                (owner, SessionQuery(tags=("t",), descending=not descending)),
                (other, query),
            ]:
                with pytest.raises(InvalidCursor):
                    await core.sessions.list(wrong_owner, query=wrong_query, limit=1, cursor=page.next_cursor)

    asyncio.run(main())
