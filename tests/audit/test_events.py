"""The event feed from two replicas on one bucket: every change delivered once its batch has settled, in order per
session, resumable from any cursor; a batch that reached the bucket late is written again where readers look."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from tests.audit.harness import NFC_NAME, NFD_NAME, Clock, Replica, audit_settings, replica
from tests.conftest import Backend

# A flush interval longer than the test: batches are written when the test says so, the clock decides the rest.
FLUSH = 30
SETTLE = 40


async def _feed(gw: Replica, headers: dict[str, str], cursor: str | None, limit: int = 100) -> dict[str, Any]:
    params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
    answer = await gw.client.get("/v1/events", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _put(gw: Replica, headers: dict[str, str], sid: str, path: str, request_id: str) -> None:
    written = await gw.client.put(
        f"/v1/sessions/{sid}/files/{quote(path, safe='/')}",
        content=b"x",
        headers={**headers, "X-Request-Id": request_id},
    )
    assert written.status_code == 201, written.text


def test_feed_from_two_replicas_delivers_every_change_in_order(backend: Backend, user: str) -> None:
    clock = Clock()
    settings = audit_settings(
        backend,
        backend.new_bucket(),
        GATEWAY_AUDIT_FLUSH_SECONDS=str(FLUSH),
        GATEWAY_EVENTS_SETTLE_SECONDS=str(SETTLE),
    )

    async def main() -> None:
        async with replica(backend, settings, clock) as a, replica(backend, settings, clock) as b:
            own = a.headers(user)
            s1 = (await a.client.post("/v1/sessions", json={}, headers={**own, "X-Request-Id": "create-1"})).json()
            s2 = (await b.client.post("/v1/sessions", json={}, headers={**own, "X-Request-Id": "create-2"})).json()
            sids = [s1["id"], s2["id"]]
            for n in range(6):
                # Interleaved: each session written by both replicas in turn, the two sessions at once.
                first, second = (a, b) if n % 2 == 0 else (b, a)
                await _put(first, own, sids[0], f"{n}-{NFD_NAME}", f"s1-{n}")
                await _put(second, own, sids[1], f"{n}-{NFD_NAME}", f"s2-{n}")
                clock.advance(0.25)
            # B's batches first: the order batches reach the bucket in is not their records' order.
            await b.recorders.log.flush()
            await a.recorders.log.flush()
            nothing_yet = await _feed(a, own, None)
            assert nothing_yet["events"] == []  # not settled yet
            clock.advance(SETTLE + 1)

            events: list[dict[str, Any]] = []
            cursors: list[str] = []
            cursor = None
            for turn in range(20):
                page = await _feed((a, b)[turn % 2], own, cursor, limit=3)
                events += page["events"]
                cursor = page["next_cursor"]
                cursors.append(cursor)
                if not page["events"]:
                    break
            expected = {"create-1", "create-2", *(f"s{s}-{n}" for s in (1, 2) for n in range(6))}
            assert sorted(e["request_id"] for e in events) == sorted(expected)  # every change, once
            assert len({e["id"] for e in events}) == len(events)
            for number, sid in enumerate(sids, start=1):
                mine = [e for e in events if e["session"] == sid]
                assert [e["request_id"] for e in mine] == [f"create-{number}", *(f"s{number}-{n}" for n in range(6))]
                assert [e["path"] for e in mine[1:]] == [f"{n}-{NFC_NAME}" for n in range(6)]
            assert [e["at"] for e in events] == sorted(e["at"] for e in events)

            # From any cursor on, the same changes again: a client that lost its place resumes where it was.
            again = await _feed(b, own, cursors[1], limit=3)
            assert [e["id"] for e in again["events"]] == [e["id"] for e in events[6:9]]
            # A token bound to one session follows that session only.
            bound = await _feed(a, a.headers(user, session_id=sids[1]), None)
            assert [e["request_id"] for e in bound["events"]] == ["create-2", *(f"s2-{n}" for n in range(6))]
            assert (await _feed(a, a.headers(user + "-other"), None))["events"] == []

            # A replica whose batch reaches the bucket after readers passed its place (here: it was not written
            # before the settle window ran out) writes it again under a fresh name, where the cursor still looks.
            late_cursor = cursors[-1]
            await _put(a, own, sids[0], "late 😀%.txt", "late-a")
            clock.advance(0.5)
            await _put(b, own, sids[0], "on time.txt", "on-time-b")
            await b.recorders.log.flush()
            clock.advance(SETTLE + 1)
            passed = await _feed(a, own, late_cursor)
            assert [e["request_id"] for e in passed["events"]] == ["on-time-b"]
            await a.recorders.log.flush()
            assert (await _feed(b, own, passed["next_cursor"]))["events"] == []  # not settled at its new place yet
            clock.advance(SETTLE + 1)
            caught_up = await _feed(b, own, passed["next_cursor"])
            assert [e["request_id"] for e in caught_up["events"]] == ["late-a"]

    asyncio.run(main())
