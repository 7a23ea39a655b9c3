"""Reading the past on both backends: a generated history of a session read back at many moments, three ways (each
file, the listing, an export), against what was recorded after each step; and what `at` refuses."""

from __future__ import annotations

import io
import json
import random
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from gateway.wire import iso
from tests.api.test_grants import NO_SESSION, _grant, _like_missing, _new
from tests.conftest import Gateway

# Non-ASCII, NFD (sent so, stored as NFC), emoji and '%' in names; folders two deep, and files beside them.
PATHS = (
    "café.txt",
    "docs/🎉 party%20.md",
    "docs/naïve/ü%.bin",
    "docs/naïve/straße.txt",
    "日本語/ファイル 😀.txt",
    "a b/c%.txt",
    "top 100%.txt",
)
NEVER_WRITTEN = "docs/never 🙈.txt"
STEPS = 120
# Moments checked at most (spread over the history): each is read every way, which is what the time goes into.
MOMENTS = 14


def url(sid: str, path: str) -> str:
    # Sent in NFD: the gateway stores and compares NFC, so every read must find the NFC file.
    return f"/v1/sessions/{sid}/files/{quote(unicodedata.normalize('NFD', path))}"


def moment_of(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Step:
    what: str
    state: dict[str, bytes]  # every file after the step: path -> bytes
    first: datetime  # S3's time of the step's first change, from the version listing
    last: datetime  # and of its last one


def _s3_time(api: httpx.Client, sid: str, path: str) -> datetime:
    """The time S3 gave the newest entry of `path` (a version or a delete marker), as the version listing has it:
    the clock the gateway judges `at` by."""
    response = api.get(f"/v1/sessions/{sid}/history", params={"path": path, "limit": 1})
    assert response.status_code == 200, response.text
    return moment_of(response.json()["items"][0]["last_modified"])


def generate_history(api: httpx.Client, sid: str, seed: int) -> list[Step]:
    """Writes, overwrites, deletes, re-creates and moves, chosen at random (seeded); the state and S3's times after
    each step."""
    rng = random.Random(seed)
    state: dict[str, bytes] = {}
    steps: list[Step] = []
    for number in range(STEPS):
        existing = sorted(state)
        free = [path for path in PATHS if path not in state]
        roll = rng.random()
        if existing and free and roll < 0.2:
            source, target = rng.choice(existing), rng.choice(free)
            response = api.post(f"/v1/sessions/{sid}/move", json={"from": source, "to": target})
            assert response.status_code == 200, response.text
            state[target] = state.pop(source)
            touched, what = [source, target], f"move {source} -> {target}"
        elif existing and roll < 0.4:
            path = rng.choice(existing)
            assert api.delete(url(sid, path)).status_code == 204
            del state[path]
            touched, what = [path], f"delete {path}"
        else:
            path = rng.choice(PATHS)
            data = f"{number} {path} ✓\n".encode() * rng.randint(1, 40)
            response = api.put(url(sid, path), content=data)
            assert response.status_code == (200 if path in state else 201), response.text
            state[path] = data
            touched, what = [path], f"write {path}"
        times = [_s3_time(api, sid, path) for path in touched]
        steps.append(Step(what, dict(state), min(times), max(times)))
    return steps


def moments(steps: list[Step]) -> list[tuple[datetime, dict[str, bytes]]]:
    """Moments to read at, each with the files expected then.

    A moment after step i must lie at or after the step's last change and before the next step's first one. Steps
    whose S3 time ties with the next step's have no such moment and are skipped: moto keeps times to the second, so
    on it most steps tie and only the last step of each second is checked; Ceph RGW keeps milliseconds. Both ends of
    the gap are used in turn, so `at` equal to a version's own time is read too.
    """
    found: list[tuple[datetime, dict[str, bytes]]] = [(steps[0].first - timedelta(microseconds=1), {})]
    for index, step in enumerate(steps):
        following = steps[index + 1] if index + 1 < len(steps) else None
        if following is not None and following.first <= step.last:
            continue  # a tie: no moment lies between the two steps
        if following is None or index % 2 == 0:
            found.append((step.last, step.state))
        else:
            found.append((following.first - timedelta(microseconds=1), step.state))
    if len(found) <= MOMENTS:
        return found
    spread = [found[round(i * (len(found) - 1) / (MOMENTS - 1))] for i in range(MOMENTS)]
    return spread


def pages(api: httpx.Client, sid: str, limit: int, **params: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Every page of a listing, `limit` entries at a time; items and folders."""
    items: list[dict[str, Any]] = []
    folders: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        query = {**params, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        response = api.get(f"/v1/sessions/{sid}/files", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) + len(page["prefixes"]) <= limit
        items += page["items"]
        folders += page["prefixes"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items, folders
        assert page["items"] or page["prefixes"], "a page with a cursor to more is never empty"
    raise AssertionError("the listing never ended")


def read_at(api: httpx.Client, sid: str, at: str, expected: dict[str, bytes]) -> None:
    """Each file, the listing (flat, and by folder) and the export at `at` all show `expected`, byte for byte."""
    versions: dict[str, str] = {}
    for path in (*PATHS, NEVER_WRITTEN):
        response = api.get(url(sid, path), params={"at": at})
        if path not in expected:
            assert response.status_code == 404, (path, at, response.text)
            assert response.json()["type"] == "/problems/not-found"
            continue
        assert response.status_code == 200, (path, at, response.text)
        assert response.content == expected[path], (path, at)
        assert response.headers["cache-control"] == "private, max-age=31536000, immutable"
        versions[path] = response.headers["x-version-id"]
    listed, folders = pages(api, sid, 3, at=at)
    assert folders == []
    assert [(item["path"], item["size"], item["version_id"]) for item in listed] == [
        (path, len(expected[path]), versions[path]) for path in sorted(expected)
    ]
    assert all(item["tier"] == "standard" and item["sha256"] for item in listed)
    top, folders = pages(api, sid, 2, at=at, delimiter="/")
    assert [item["path"] for item in top] == sorted(path for path in expected if "/" not in path)
    assert folders == sorted({path.split("/")[0] + "/" for path in expected if "/" in path})
    docs, folders = pages(api, sid, 1, at=at, prefix="docs/", delimiter="/")
    assert [item["path"] for item in docs] == sorted(p for p in expected if p.startswith("docs/") and p.count("/") == 1)
    assert folders == (["docs/naïve/"] if any(p.startswith("docs/naïve/") for p in expected) else [])
    response = api.get(f"/v1/sessions/{sid}/export.zip", params={"at": at})
    if not expected:
        assert response.status_code == 404, response.text
        return
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert {name: archive.read(name) for name in archive.namelist() if name != "manifest.json"} == expected
    assert {entry["path"]: entry["version_id"] for entry in manifest["files"]} == versions


def test_a_generated_history_reads_back_the_same_three_ways_at_every_moment(api: httpx.Client, session_id: str) -> None:
    steps = generate_history(api, session_id, seed=20260301)
    chosen = moments(steps)
    assert any(expected for _, expected in chosen), "at least one moment with files"
    for at, expected in chosen:
        read_at(api, session_id, iso(at), expected)
    # The last moment is now, as far as the files go: the listing of the past agrees with the listing of now.
    last = iso(steps[-1].last)
    assert pages(api, session_id, 1000, at=last) == pages(api, session_id, 1000)


def test_reads_at_a_moment_behave_as_reads_of_a_version(api: httpx.Client, session_id: str) -> None:
    path = "rapports/été 🎉 100%.txt"
    old, new = "first draft ✍\n".encode() * 50, "second draft 🙂\n".encode() * 20
    text = {"content-type": "text/plain; charset=utf-8"}
    assert api.put(url(session_id, path), content=old, headers=text).status_code == 201
    then = iso(_s3_time(api, session_id, path))
    history = api.get(f"/v1/sessions/{session_id}/history", params={"path": path}).json()["items"]
    assert api.put(url(session_id, path), content=new, headers=text).status_code == 200
    if moment_of(then) >= _s3_time(api, session_id, path):
        # Both writes share S3's second (moto): the moment cannot tell them apart, so it shows the second one.
        old, first_version = new, None
    else:
        first_version = history[0]["version_id"]
    whole = api.get(url(session_id, path), params={"at": then})
    assert whole.status_code == 200 and whole.content == old
    assert first_version is None or whole.headers["x-version-id"] == first_version
    assert whole.headers["cache-control"] == "private, max-age=31536000, immutable"
    # As the same version read by its id answers.
    pinned = api.get(url(session_id, path), params={"version_id": whole.headers["x-version-id"]})
    for name in ("content-disposition", "content-type", "etag", "last-modified", "content-length", "repr-digest"):
        assert whole.headers[name] == pinned.headers[name], name
    assert whole.headers["content-disposition"].startswith("inline; filename")
    assert "filename*=UTF-8''%C3%A9t%C3%A9%20%F0%9F%8E%89%20100%25.txt" in whole.headers["content-disposition"]
    part = api.get(url(session_id, path), params={"at": then}, headers={"Range": "bytes=3-9"})
    assert part.status_code == 206 and part.content == old[3:10]
    assert part.headers["content-range"] == f"bytes 3-9/{len(old)}"
    unchanged = api.get(url(session_id, path), params={"at": then}, headers={"If-None-Match": whole.headers["etag"]})
    assert unchanged.status_code == 304 and unchanged.headers["etag"] == whole.headers["etag"]
    head = api.head(url(session_id, path), params={"at": then})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(old))
    assert head.headers["x-version-id"] == whole.headers["x-version-id"]
    assert head.headers["etag"] == whole.headers["etag"] and head.headers["x-tier"] == "standard"
    assert head.headers["repr-digest"] == whole.headers["repr-digest"]
    # Before the file was written, and once it is deleted: 404, as for a missing file.
    before = iso(moment_of(then) - timedelta(seconds=1))
    assert api.get(url(session_id, path), params={"at": before}).status_code == 404
    assert api.head(url(session_id, path), params={"at": before}).status_code == 404
    assert api.delete(url(session_id, path)).status_code == 204
    gone = iso(_s3_time(api, session_id, path))
    assert api.get(url(session_id, path), params={"at": gone}).status_code == 404
    if moment_of(gone) > moment_of(then):  # else the delete shares S3's second with the writes (moto)
        assert api.get(url(session_id, path), params={"at": then}).content == old


def _refused(response: httpx.Response, parameter: str) -> None:
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"] == "/problems/invalid-parameter" and problem["parameter"] == parameter, problem


def test_refusals_name_the_field(api: httpx.Client, session_id: str) -> None:
    path = "x/é 😀 %.txt"
    assert api.put(url(session_id, path), content=b"x").status_code == 201
    version = api.get(url(session_id, path)).headers["x-version-id"]
    now = iso(_s3_time(api, session_id, path))
    future = iso(datetime.now(UTC) + timedelta(days=1))
    files = f"/v1/sessions/{session_id}/files"
    for bad in (future, "yesterday", "2026-03-01T09:30:00", "2026-13-01T00:00:00Z", ""):
        _refused(api.get(url(session_id, path), params={"at": bad}), "at")
        _refused(api.get(files, params={"at": bad}), "at")
        _refused(api.get(f"/v1/sessions/{session_id}/export.zip", params={"at": bad}), "at")
        assert api.head(url(session_id, path), params={"at": bad}).status_code == 400
    _refused(api.get(url(session_id, path), params={"at": now, "version_id": version}), "at")
    assert api.head(url(session_id, path), params={"at": now, "version_id": version}).status_code == 400
    # A cursor continues only the listing it came from: the same moment, prefix and delimiter, or the listing of now.
    assert api.put(url(session_id, "x/second.txt"), content=b"y").status_code == 201
    later = iso(_s3_time(api, session_id, "x/second.txt"))
    cursor = api.get(files, params={"at": later, "limit": 1}).json()["next_cursor"]
    now_cursor = api.get(files, params={"limit": 1}).json()["next_cursor"]
    assert cursor and now_cursor
    assert api.get(files, params={"at": later, "limit": 1, "cursor": cursor}).status_code == 200
    for params in (
        {"at": iso(moment_of(later) - timedelta(microseconds=1)), "cursor": cursor},
        {"cursor": cursor},
        {"at": later, "cursor": now_cursor},
        {"at": later, "cursor": cursor, "prefix": "x/"},
        {"at": later, "cursor": cursor, "delimiter": "/"},
    ):
        response = api.get(files, params={"limit": 1, **params})
        assert response.status_code == 400 and response.json()["type"] == "/problems/invalid-cursor", params


def test_a_session_not_yours_at_a_moment_is_like_a_missing_one(gateway: Gateway) -> None:
    _, owner = _new(gateway)
    _, stranger = _new(gateway)
    with owner, stranger:
        sid = str(owner.post("/v1/sessions", json={}).json()["id"])
        path = "privé/🔑 100%.txt"
        assert owner.put(url(sid, path), content=b"secret").status_code == 201
        at = iso(_s3_time(owner, sid, path))
        rest = url(sid, path).removeprefix(f"/v1/sessions/{sid}")
        _like_missing(stranger, sid, "GET", rest, params={"at": at})
        _like_missing(stranger, sid, "GET", "/files", params={"at": at})
        _like_missing(stranger, sid, "GET", "/export.zip", params={"at": at})
        assert stranger.head(url(sid, path), params={"at": at}).status_code == 404
        assert stranger.head(url(NO_SESSION, path), params={"at": at}).status_code == 404


def test_through_a_grant_the_past_of_the_granted_folder_only(gateway: Gateway) -> None:
    _, owner = _new(gateway)
    grantee_name, grantee = _new(gateway)
    with owner, grantee:
        sid = str(owner.post("/v1/sessions", json={}).json()["id"])
        inside, beside = "partagé 🎉/note 100%.txt", "privé/secret.txt"
        for path in (inside, beside):
            assert owner.put(url(sid, path), content=path.encode()).status_code == 201
        at = iso(max(_s3_time(owner, sid, path) for path in (inside, beside)))
        assert owner.put(url(sid, inside), content=b"later").status_code == 200
        # What the owner reads at that moment (the later write too, when it shares S3's second: moto).
        expected = inside.encode() if _s3_time(owner, sid, inside) > moment_of(at) else b"later"
        assert owner.get(url(sid, inside), params={"at": at}).content == expected
        _grant(owner, sid, grantee_name, "read", prefix="partagé 🎉/")
        response = grantee.get(url(sid, inside), params={"at": at})
        assert response.status_code == 200 and response.content == expected
        assert grantee.head(url(sid, inside), params={"at": at}).status_code == 200
        rest = url(sid, beside).removeprefix(f"/v1/sessions/{sid}")
        _like_missing(grantee, sid, "GET", rest, params={"at": at})
        listed, folders = pages(grantee, sid, 1, at=at)
        assert [item["path"] for item in listed] == [inside] and folders == []
        _, folders = pages(grantee, sid, 1, at=at, delimiter="/")
        assert folders == []  # the listing is narrowed to the granted folder, as it is now
