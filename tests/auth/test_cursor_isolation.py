"""Cursors over HTTP, on both backends: real cursors walk every listing; any other cursor is the same 400, answered
before the gateway asks S3 for anything."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from gateway.auth.cursors import MAX_CURSOR_CHARS
from tests.conftest import Gateway

NAMES = ["a.txt", "b%.txt", "e\u0301.txt", "\u00fc.md", "\u62a5\u544a.txt", "\U0001f600.txt", "docs/x.md", "docs/y.md"]
LISTS = ("list_objects_v2", "list_object_versions")


def _walk(api: httpx.Client, url: str, **params: str) -> tuple[list[Any], list[str]]:
    """Every item of a listing, page by page; also the cursors it handed out."""
    items: list[Any] = []
    cursors: list[str] = []
    cursor = None
    while True:
        response = api.get(url, params={**params, "limit": "2", **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items, cursors
        cursors.append(cursor)


@contextmanager
def _user_with_files(gateway: Gateway) -> Iterator[tuple[str, str, httpx.Client]]:
    """A new user with four sessions, one holding NAMES and four versions of h.txt, and a client for them."""
    user = f"cursor-{uuid.uuid4().hex[:8]}"
    with gateway.client(user) as api:
        for _ in range(3):
            api.post("/v1/sessions", json={})
        sid = api.post("/v1/sessions", json={"name": "listed"}).json()["id"]
        for name in NAMES:
            assert api.put(f"/v1/sessions/{sid}/files/{name}", content=name.encode()).status_code == 201
        for i in range(4):
            api.put(f"/v1/sessions/{sid}/files/h.txt", content=str(i).encode())
        yield user, sid, api


@pytest.fixture
def alice(gateway: Gateway) -> Iterator[tuple[str, str, httpx.Client]]:
    with _user_with_files(gateway) as found:
        yield found


def _refused(gateway: Gateway, response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, (response.request.url, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["type"] == "/problems/invalid-cursor"
    assert response.elapsed.total_seconds() < 5
    return problem


def _no_listing_since(gateway: Gateway, start: int) -> None:
    assert [op for op, _key in gateway.touched[start:] if op in LISTS] == []


def test_real_cursors_walk_every_listing(gateway: Gateway, alice: Any) -> None:
    _user, sid, api = alice
    files, file_cursors = _walk(api, f"/v1/sessions/{sid}/files")
    expected = sorted(["h.txt", *("\u00e9.txt" if n == "e\u0301.txt" else n for n in NAMES)], key=str.encode)
    assert [item["path"] for item in files] == expected
    assert len(file_cursors) == 4
    folders, _ = _walk(api, f"/v1/sessions/{sid}/files", prefix="docs/", delimiter="/")
    assert [item["path"] for item in folders] == ["docs/x.md", "docs/y.md"]
    history, history_cursors = _walk(api, f"/v1/sessions/{sid}/history", path="h.txt")
    assert len(history) == 4 and history_cursors
    assert len({item["version_id"] for item in history}) == 4
    sessions, session_cursors = _walk(api, "/v1/sessions")
    assert len(sessions) == 4 and sid in {item["id"] for item in sessions}
    assert session_cursors


def test_cursors_reveal_no_keys(gateway: Gateway, alice: Any) -> None:
    user, sid, api = alice
    _, cursors = _walk(api, f"/v1/sessions/{sid}/history", path="h.txt")
    _, more = _walk(api, f"/v1/sessions/{sid}/files")
    for cursor in cursors + more:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        for part in (user, sid, "h.txt", gateway.settings.key_root + "/t/"):
            assert part.encode() not in raw and part not in cursor


def test_another_users_cursor_is_refused(gateway: Gateway, alice: Any) -> None:
    _user, sid, api = alice
    _, file_cursors = _walk(api, f"/v1/sessions/{sid}/files")
    _, session_cursors = _walk(api, "/v1/sessions")
    _, history_cursors = _walk(api, f"/v1/sessions/{sid}/history", path="h.txt")
    with _user_with_files(gateway) as (_bob, bob_sid, bob):
        start = len(gateway.touched)
        _refused(gateway, bob.get(f"/v1/sessions/{bob_sid}/files", params={"cursor": file_cursors[0], "limit": "2"}))
        _refused(gateway, bob.get("/v1/sessions", params={"cursor": session_cursors[0], "limit": "2"}))
        _refused(
            gateway, bob.get(f"/v1/sessions/{bob_sid}/history", params={"path": "h.txt", "cursor": history_cursors[0]})
        )
        _no_listing_since(gateway, start)
    # Same user name, another tenant: another owner.
    with gateway.client(_user, tenant="elsewhere") as twin:
        twin_sid = twin.post("/v1/sessions", json={}).json()["id"]
        start = len(gateway.touched)
        _refused(gateway, twin.get("/v1/sessions", params={"cursor": session_cursors[0]}))
        _refused(gateway, twin.get(f"/v1/sessions/{twin_sid}/files", params={"cursor": file_cursors[0]}))
        _no_listing_since(gateway, start)


def test_cursors_belong_to_one_session_listing_and_route(gateway: Gateway, alice: Any) -> None:
    _user, sid, api = alice
    other_sid = api.post("/v1/sessions", json={}).json()["id"]
    api.put(f"/v1/sessions/{other_sid}/files/h.txt", content=b"x")
    files = f"/v1/sessions/{sid}/files"
    _, (file_cursor, *_) = _walk(api, files)
    _, (folder_cursor, *_) = _walk(api, files, delimiter="/")
    _, (history_cursor, *_) = _walk(api, f"/v1/sessions/{sid}/history", path="h.txt")
    _, (session_cursor, *_) = _walk(api, "/v1/sessions")
    start = len(gateway.touched)
    attempts = [
        api.get(f"/v1/sessions/{other_sid}/files", params={"cursor": file_cursor}),  # another session
        api.get(files, params={"cursor": file_cursor, "prefix": "docs/"}),  # another prefix
        api.get(files, params={"cursor": file_cursor, "delimiter": "/"}),  # another delimiter
        api.get(files, params={"cursor": folder_cursor}),
        api.get(files, params={"cursor": history_cursor}),  # another route
        api.get(files, params={"cursor": session_cursor}),
        api.get("/v1/sessions", params={"cursor": file_cursor}),
        api.get("/v1/sessions", params={"cursor": history_cursor}),
        api.get(f"/v1/sessions/{sid}/history", params={"path": "h.txt", "cursor": file_cursor}),
        api.get(f"/v1/sessions/{sid}/history", params={"path": "a.txt", "cursor": history_cursor}),  # another path
        api.get(f"/v1/sessions/{other_sid}/history", params={"path": "h.txt", "cursor": history_cursor}),
    ]
    details = {_refused(gateway, response)["detail"] for response in attempts}
    assert len(details) == 1
    _no_listing_since(gateway, start)
    # The same cursor still works where it belongs.
    assert api.get(files, params={"cursor": file_cursor, "limit": "2"}).status_code == 200


def _old_style(state: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


def test_forged_and_garbage_cursors_are_400_at_once(gateway: Gateway, alice: Any) -> None:
    _user, sid, api = alice
    _, (cursor, *_) = _walk(api, f"/v1/sessions/{sid}/files")
    flipped = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    forged = [
        flipped,
        cursor[:-2],
        "garbage!",
        "x" * (MAX_CURSOR_CHARS + 1000),
        "\u00e9t\u00e9",
        "\U0001f600",
        "%",
        "%2541",
        "e\u0301",
        _old_style({"token": "abc"}),
        _old_style({"key": "x", "version": "y"}),
    ]
    urls = [f"/v1/sessions/{sid}/files", "/v1/sessions"]
    start = len(gateway.touched)
    for value in forged:
        for url in urls:
            _refused(gateway, api.get(url, params={"cursor": value}))
        _refused(gateway, api.get(f"/v1/sessions/{sid}/history", params={"path": "h.txt", "cursor": value}))
    _no_listing_since(gateway, start)


def test_a_cursor_naming_another_users_key_answers_like_a_missing_one(gateway: Gateway, alice: Any) -> None:
    """The old cursor was S3 state in plain base64: on moto, the MD5 of a key that exists answered 200 where a
    missing key answered 503, so a cursor could test for other users' files."""
    _user, sid, api = alice
    with _user_with_files(gateway) as (_bob, bob_sid, _client):
        pass
    existing = gateway.owner(_bob).session(bob_sid).file("a.txt")
    missing = gateway.owner(_bob).session(bob_sid).file("no-such-file.txt")
    answers = []
    for key in (existing, missing):
        digest = hashlib.md5(key.encode()).hexdigest()  # noqa: S324 (the shape of the forged token, not security)
        for value in (_old_style({"token": digest}), digest, _old_style({"token": key})):
            response = api.get(f"/v1/sessions/{sid}/files", params={"cursor": value})
            problem = _refused(gateway, response)
            answers.append({k: v for k, v in problem.items() if k != "instance"})
    assert all(answer == answers[0] for answer in answers)
