"""Copies, moves and forks at their edges, on both backends: the file limit, what the change hook hears, and a move
that fails part-way (a file written at a source while it is being moved), which must say what it did and lose
nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
import pytest

from gateway.api.app import create_app
from gateway.changes import FILE_DELETED, FILE_WRITTEN, SESSION_CREATED, Change, ChangeHook
from gateway.keys import SessionKeys
from gateway.settings import MiB
from tests.api.test_moving import NAMES, get, new_session, nfc, problem, put, stored
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings

LIMIT = 20


@dataclass
class Saboteur:
    """A change listener that, once armed for a session, writes over the source of the next file a move out of it
    copies: what a client writing to that path at that moment would do."""

    gateway: Gateway | None = None
    armed: dict[str, SessionKeys] = field(default_factory=dict)  # by session id
    hit: list[str] = field(default_factory=list)  # the paths written over

    def __call__(self, change: Change) -> None:
        origin = change.detail.get("moved_from")
        if change.action != FILE_WRITTEN or not origin or origin["session_id"] not in self.armed:
            return
        keys = self.armed.pop(origin["session_id"])
        assert self.gateway is not None
        s3 = self.gateway.backend.client()
        s3.put_object(Bucket=self.gateway.settings.bucket, Key=keys.file(origin["path"]), Body=b"written meanwhile")
        self.hit.append(origin["path"])


@dataclass
class Hooked:
    gateway: Gateway
    changes: list[Change]
    saboteur: Saboteur


@pytest.fixture(scope="module")
def hooked(backend: Backend) -> Iterator[Hooked]:
    settings = gateway_settings(
        backend,
        backend.new_bucket(),
        GATEWAY_MAX_BULK_FILES=str(LIMIT),
        GATEWAY_MULTIPART_THRESHOLD_BYTES=str(5 * MiB),
    )
    heard: list[Change] = []
    saboteur = Saboteur()
    app = create_app(settings, credentials=backend.credentials, hook=ChangeHook([heard.append, saboteur]))
    with ServerThread(app) as url:
        gateway = Gateway(backend=backend, settings=settings, url=url)
        saboteur.gateway = gateway
        yield Hooked(gateway, heard, saboteur)


@pytest.fixture
def client(hooked: Hooked, user: str) -> Iterator[httpx.Client]:
    with hooked.gateway.client(user) as api:
        yield api


def test_more_files_than_the_limit_are_413_before_anything_is_written(
    hooked: Hooked, client: httpx.Client, user: str
) -> None:
    sid = new_session(client)
    for index in range(LIMIT):
        put(client, sid, f"lot/{index:02d} {NAMES[index % len(NAMES)]}", b"x")
    assert client.post(f"/v1/sessions/{sid}/copy", json={"from": "lot/", "to": "copie/"}).status_code == 200
    put(client, sid, "lot/one more 🎉.txt", b"x")
    before = stored(hooked.gateway, user)
    for route in ("copy", "move"):
        refused = client.post(f"/v1/sessions/{sid}/{route}", json={"from": "lot", "to": "ailleurs"})
        assert problem(refused, 413, "/problems/too-many-files")["limit_files"] == LIMIT
    assert stored(hooked.gateway, user) == before
    # The session now holds 2 * LIMIT + 1 files: too many for a fork, which then leaves no session.
    assert problem(client.post(f"/v1/sessions/{sid}/fork", json={}), 413, "/problems/too-many-files")
    assert stored(hooked.gateway, user) == before
    assert [s["id"] for s in client.get("/v1/sessions").json()["items"]] == [sid]


def test_every_change_is_announced_with_its_actor(hooked: Hooked, client: httpx.Client, user: str) -> None:
    sid, other = new_session(client), new_session(client)
    for name in NAMES:
        put(client, sid, f"d/{name}", b"x")
    start = len(hooked.changes)
    assert client.post(f"/v1/sessions/{sid}/copy", json={"from": "d/", "to": "c/"}).status_code == 200
    move = {"from": "d/", "to": "m/", "to_session": other}
    moved = client.post(f"/v1/sessions/{sid}/move", json=move).json()["moved"]
    forked = client.post(f"/v1/sessions/{sid}/fork", json={}).json()["id"]
    heard = [c for c in hooked.changes[start:] if c.session_id in {sid, other, forked}]
    assert all(c.actor.kind == "user" and c.actor.user == user for c in heard)

    copies = [c for c in heard if c.action == FILE_WRITTEN and "copied_from" in c.detail]
    assert sorted(c.path or "" for c in copies) == sorted(nfc(f"c/{n}") for n in NAMES)
    assert all(c.session_id == sid and c.version_id and c.detail["copied_from"]["session_id"] == sid for c in copies)
    arrivals = [c for c in heard if c.action == FILE_WRITTEN and "moved_from" in c.detail]
    assert {(c.session_id, c.path, c.version_id) for c in arrivals} == {
        (other, m["to"], m["version_id"]) for m in moved
    }
    departures = [c for c in heard if c.action == FILE_DELETED]
    assert sorted(c.path or "" for c in departures) == sorted(nfc(f"d/{n}") for n in NAMES)
    assert all(c.session_id == sid and c.version_id and c.detail["moved_to"]["session_id"] == other for c in departures)
    # A fork: the new session first, then its files.
    fork_changes = [c for c in heard if c.session_id == forked]
    assert fork_changes[0].action == SESSION_CREATED
    assert sorted(c.path or "" for c in fork_changes[1:]) == sorted(nfc(f"c/{n}") for n in NAMES)
    assert all(c.action == FILE_WRITTEN and c.detail["forked_from"]["session_id"] == sid for c in fork_changes[1:])
    # Refusals announce nothing.
    count = len(hooked.changes)
    assert client.post(f"/v1/sessions/{sid}/copy", json={"from": "c/", "to": "c/x/"}).status_code == 400
    assert client.post(f"/v1/sessions/{sid}/copy", json={"from": "c/", "to": "c/"}).status_code == 400
    assert len(hooked.changes) == count


def test_a_source_written_during_its_move_is_kept(hooked: Hooked, client: httpx.Client, user: str) -> None:
    sid = new_session(client)
    name = "e\u0301te\u0301 🎉 100%.txt"
    put(client, sid, name, b"original")
    hooked.saboteur.armed[sid] = hooked.gateway.owner(user).session(sid)
    failed = client.post(f"/v1/sessions/{sid}/move", json={"from": name, "to": "ailleurs.txt"})
    body = problem(failed, 412, "/problems/precondition-failed")
    assert body["moved"] == [] and body["not_attempted"] == 0
    assert [(c["from"], c["to"]) for c in body["copied"]] == [(nfc(name), "ailleurs.txt")]
    assert [(f["from"], f["to"]) for f in body["failed"]] == [(nfc(name), "ailleurs.txt")]
    # Nothing lost: the copy is in place, and so is what was written at the source meanwhile.
    assert get(client, sid, "ailleurs.txt").content == b"original"
    assert get(client, sid, name).content == b"written meanwhile"


def test_a_move_that_fails_part_way_says_what_it_did(hooked: Hooked, client: httpx.Client, user: str) -> None:
    sid, other = new_session(client), new_session(client)
    paths = [f"lot/{index:02d} {NAMES[index % len(NAMES)]}" for index in range(LIMIT)]
    for path in paths:
        put(client, sid, path, path.encode())
    hooked.saboteur.armed[sid] = hooked.gateway.owner(user).session(sid)
    failed = client.post(f"/v1/sessions/{sid}/move", json={"from": "lot/", "to": "reçu/", "to_session": other})
    body = problem(failed, 412, "/problems/precondition-failed")
    moved = {m["from"] for m in body["moved"]}
    copied = {c["from"] for c in body["copied"]}
    [sabotaged] = [nfc(path) for path in hooked.saboteur.hit[-1:]]
    assert copied == {sabotaged} and [f["from"] for f in body["failed"]] == [sabotaged]
    assert len(moved) + len(copied) + body["not_attempted"] == LIMIT
    for raw in paths:
        path, content = nfc(raw), raw.encode()
        at_source = get(client, sid, path)
        at_target = get(client, other, "reçu/" + path.removeprefix("lot/"))
        if path in moved:
            assert at_source.status_code == 404 and at_target.content == content
        elif path in copied:
            assert at_source.content == b"written meanwhile" and at_target.content == content
        else:  # not attempted: untouched
            assert at_source.content == content and at_target.status_code == 404
    listed = client.get(f"/v1/sessions/{other}/files", params={"prefix": "reçu/"}).json()
    assert len(listed["items"]) == len(moved) + len(copied)


def test_a_multipart_upload_keeps_its_tier_and_sha256_when_copied(hooked: Hooked, client: httpx.Client) -> None:
    """The SHA-256 of a multipart upload lives in its tags, which some backends drop on copies (Ceph RGW)."""
    sid, other = new_session(client), new_session(client)
    data = bytes(range(256)) * (6 * MiB // 256)
    name = "gros fichier e\u0301 🎉 100%.bin"
    written = put(client, sid, name, data, **{"x-tier": "persistent"})
    source = client.head(f"/v1/sessions/{sid}/files/{quote(name)}")
    assert "-" in source.headers["etag"]  # a multipart upload
    body = {"from": name, "to": "copie/", "to_session": other}
    copied = client.post(f"/v1/sessions/{sid}/copy", json=body)
    assert copied.status_code == 200, copied.text
    target = client.head(f"/v1/sessions/{other}/files/{quote('copie/' + name)}")
    assert target.headers["x-tier"] == "persistent"
    assert target.headers["repr-digest"] == source.headers["repr-digest"]
    listed = client.get(f"/v1/sessions/{other}/files").json()["items"]
    assert [(i["path"], i["sha256"], i["size"]) for i in listed] == [
        (nfc("copie/" + name), written["sha256"], len(data))
    ]
    assert get(client, other, "copie/" + name).content == data
