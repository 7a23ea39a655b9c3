"""Forking a session, now or as it was at a moment, on both backends: a new session record like the source's, with a
server-side copy of each file and a history of its own."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from gateway.wire import iso
from tests.api.test_moving import NAMES, get, new_session, nfc, problem, put, stored
from tests.conftest import Gateway


def listing(api: httpx.Client, sid: str) -> list[tuple[str, int, str | None, str | None]]:
    items = api.get(f"/v1/sessions/{sid}/files", params={"limit": "1000"}).json()["items"]
    return [(i["path"], i["size"], i["tier"], i["sha256"]) for i in items]


def after_the_second_of(moment: str) -> None:
    """Let the wall clock leave the second of `moment` (at most a second): some backends (moto) date versions to the
    second, and what is written after `moment` must not share its date. S3's clock is not the gateway's to set."""
    later = datetime.fromisoformat(moment).replace(microsecond=0) + timedelta(seconds=1)
    wait = (later - datetime.now(UTC)).total_seconds()
    if wait > 0:
        time.sleep(wait)


def history(api: httpx.Client, sid: str, path: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.get(f"/v1/sessions/{sid}/history", params={"path": path}).json()["items"]
    return found


def test_a_fork_has_the_sessions_settings_and_files(api: httpx.Client) -> None:
    sid = new_session(api, name="projet é🎉", metadata={"client": "ACME", "n": [1, 2]}, default_tier="persistent")
    folder = api.patch(f"/v1/sessions/{sid}/files/{quote('données/')}", json={"default_tier": "permanent"})
    assert folder.status_code == 200, folder.text
    for name in NAMES:
        put(api, sid, f"données/{name}", name.encode(), **{"content-type": "text/plain"})
        put(api, sid, name, b"root " + name.encode(), **{"x-tier": "standard"})
    put(api, sid, "supprimé.txt", b"gone")
    assert api.delete(f"/v1/sessions/{sid}/files/{quote('supprimé.txt')}").status_code == 204

    forked = api.post(f"/v1/sessions/{sid}/fork", json={})
    assert forked.status_code == 201, forked.text
    record = forked.json()
    fork = record["id"]
    assert fork != sid and forked.headers["location"] == f"/v1/sessions/{fork}"
    assert record["name"] == "projet é🎉 (fork)"
    assert record["metadata"] == {"client": "ACME", "n": [1, 2]}
    assert record["default_tier"] == "persistent"
    assert record["folder_tiers"] == {nfc("données/"): "permanent"}
    assert record["state"] == "active"
    assert api.get(f"/v1/sessions/{fork}").json() == record

    assert listing(api, fork) == listing(api, sid)
    assert {tier for _path, _size, tier, _sha in listing(api, fork)} == {"permanent", "standard"}
    for name in NAMES:
        copy = get(api, fork, f"données/{name}")
        assert copy.content == name.encode() and copy.headers["content-type"] == "text/plain"
    assert get(api, fork, "supprimé.txt").status_code == 404

    # Its own history from now on: writes to one session do not reach the other.
    put(api, fork, NAMES[0], b"changed in the fork")
    assert get(api, sid, NAMES[0]).content == b"root " + NAMES[0].encode()
    assert len(history(api, fork, NAMES[0])) == 2 and len(history(api, sid, NAMES[0])) == 1
    assert api.post(f"/v1/sessions/{fork}/fork", json={"name": "petit-fils"}).json()["name"] == "petit-fils"


def test_a_fork_at_a_moment_has_the_files_as_they_were(api: httpx.Client) -> None:
    sid = new_session(api)
    nfd = "e\u0301te\u0301.txt"
    put(api, sid, nfd, b"one")
    # moto lists a key's delete markers apart from its versions, so only their dates order them: not in one second.
    after_the_second_of(history(api, sid, nfd)[0]["last_modified"])
    assert api.delete(f"/v1/sessions/{sid}/files/{quote(nfd)}").status_code == 204
    put(api, sid, "a 100%.txt", b"one")
    put(api, sid, "b/🎉.txt", b"one")
    # The moment as S3 recorded it: the newest entry written so far.
    then = max(history(api, sid, p)[0]["last_modified"] for p in ("a 100%.txt", "b/🎉.txt", "été.txt"))
    after_the_second_of(then)
    put(api, sid, "a 100%.txt", b"two")
    assert api.delete(f"/v1/sessions/{sid}/files/{quote('b/🎉.txt')}").status_code == 204
    put(api, sid, "c.txt", b"new")
    put(api, sid, nfd, b"back")

    past = api.post(f"/v1/sessions/{sid}/fork", json={"at": then, "name": "hier"})
    assert past.status_code == 201, past.text
    fork = past.json()["id"]
    assert [path for path, *_ in listing(api, fork)] == ["a 100%.txt", "b/🎉.txt"]
    assert get(api, fork, "a 100%.txt").content == b"one"
    assert get(api, fork, "b/🎉.txt").content == b"one"

    now = api.post(f"/v1/sessions/{sid}/fork", json={"at": iso(datetime.now(UTC))}).json()["id"]
    assert [path for path, *_ in listing(api, now)] == ["a 100%.txt", "c.txt", "été.txt"]
    assert get(api, now, "été.txt").content == b"back"

    before_anything = api.post(f"/v1/sessions/{sid}/fork", json={"at": "2000-01-01T00:00:00+01:00"})
    assert before_anything.status_code == 201 and listing(api, before_anything.json()["id"]) == []


def test_bad_moments_and_names_are_400_and_make_nothing(gateway: Gateway, api: httpx.Client, user: str) -> None:
    sid = new_session(api, name="x")
    put(api, sid, "a.txt", b"x")
    before = stored(gateway, user)
    future = iso(datetime.now(UTC) + timedelta(hours=1))
    for body in (
        {"at": future},
        {"at": "yesterday"},
        {"at": "2026-01-01T00:00:00"},  # no offset
        {"at": "2026-02-30T00:00:00Z"},
        {"at": 1767225600},
        {"name": "a\nb"},
        {"name": "x" * 257},
        {"nom": "typo"},
    ):
        refused = problem(api.post(f"/v1/sessions/{sid}/fork", json=body), 400, "/problems/invalid-body")
        assert [e["field"] for e in refused["errors"]] == [next(iter(body))], (body, refused)
    assert stored(gateway, user) == before
    assert [s["id"] for s in api.get("/v1/sessions").json()["items"]] == [sid]


def test_default_names(api: httpx.Client) -> None:
    unnamed = new_session(api)
    assert api.post(f"/v1/sessions/{unnamed}/fork").json()["name"] == f"{unnamed} (fork)"
    long = new_session(api, name="é" * 256)
    name = api.post(f"/v1/sessions/{long}/fork", json={"name": None}).json()["name"]
    assert name == "é" * 249 + " (fork)" and len(name) == 256


def test_an_ended_session_can_be_forked(api: httpx.Client, session_id: str) -> None:
    put(api, session_id, "kept.txt", b"kept")
    put(api, session_id, "scratch.txt", b"scratch", **{"x-tier": "ephemeral"})
    assert api.post(f"/v1/sessions/{session_id}/end").status_code == 200
    forked = api.post(f"/v1/sessions/{session_id}/fork", json={})
    assert forked.status_code == 201, forked.text
    assert forked.json()["state"] == "active" and forked.json()["ended_at"] is None
    fork = forked.json()["id"]
    assert [path for path, *_ in listing(api, fork)] == ["kept.txt"]  # ending removed the ephemeral file
    assert put(api, fork, "new.txt", b"writable")["size"] == 8


def test_session_bound_tokens_cannot_fork(gateway: Gateway, user: str, api: httpx.Client, session_id: str) -> None:
    with gateway.client(user, session_id=session_id) as bound:
        assert problem(bound.post(f"/v1/sessions/{session_id}/fork", json={}), 403, "/problems/forbidden")
    assert [s["id"] for s in api.get("/v1/sessions").json()["items"]] == [session_id]
