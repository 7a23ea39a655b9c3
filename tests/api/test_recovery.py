"""Point-in-time restore and snapshots on both backends: a generated history of edits, deletes, creates and renames
restored to many moments equals what was there then, byte for byte; dry runs change nothing; restores undo; a
restore cut short is finished by the next call."""

from __future__ import annotations

import asyncio
import io
import json
import random
import zipfile
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from gateway import changes
from gateway.changes import Actor, Change, ChangeHook
from gateway.policy.config import load_configured_policy
from gateway.services.assembly import assemble
from gateway.services.sessions import new_session_id
from gateway.storage.store import Store
from gateway.wire import iso
from tests.api.test_forking import after_the_second_of
from tests.api.test_moving import NAMES, new_session, nfc, problem, put
from tests.conftest import Gateway

State = dict[str, tuple[bytes, str | None]]  # path -> (bytes, tier)


def state(api: httpx.Client, sid: str, prefix: str = "") -> State:
    found: State = {}
    cursor: str | None = None
    while True:
        params = {"limit": "1000", "prefix": prefix, **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/v1/sessions/{sid}/files", params=params).json()
        for item in page["items"]:
            body = api.get(f"/v1/sessions/{sid}/files/{quote(item['path'])}")
            assert body.status_code == 200, body.text
            found[item["path"]] = (body.content, item["tier"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def versions_written(api: httpx.Client, sid: str) -> int:
    """How many versions and delete markers the session's files have (a dry run must not add one)."""
    total = 0
    for path in state(api, sid):
        total += len(api.get(f"/v1/sessions/{sid}/history", params={"path": path}).json()["items"])
    return total


def now_past(api: httpx.Client) -> str:
    """A moment after everything written so far, from which the next write is in a later second (moto dates
    versions to the second)."""
    moment = iso(datetime.now(UTC))
    after_the_second_of(moment)
    return moment


def restore(api: httpx.Client, sid: str, **body: Any) -> dict[str, Any]:
    response = api.post(f"/v1/sessions/{sid}/restore", json=body)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def generated_history(api: httpx.Client, sid: str, steps: int, seed: int) -> list[tuple[str, State]]:
    """Random edits, deletes, creates, renames (moves) and re-tiers; after each step, its moment and the state."""
    rng = random.Random(seed)
    names = [*NAMES, "dossier/a.txt", "dossier/sous/b.bin", "z.txt"]
    moments: list[tuple[str, State]] = []
    for step in range(steps):
        current = list(state(api, sid))
        for _ in range(3):
            kind = rng.choice(["write", "write", "delete", "move", "tier"]) if current else "write"
            if kind == "write":
                path = rng.choice(names)
                put(
                    api,
                    sid,
                    path,
                    f"{path} v{step} {rng.random()}".encode(),
                    **{"x-tier": rng.choice(["standard", "persistent"])},
                )
            elif kind == "delete":
                path = rng.choice(current)
                assert api.delete(f"/v1/sessions/{sid}/files/{quote(path)}").status_code == 204
            elif kind == "move":
                path = rng.choice(current)
                target = f"déplacé/{step}-{path.rsplit('/', 1)[-1]}"
                moved = api.post(f"/v1/sessions/{sid}/move", json={"from": path, "to": target, "overwrite": True})
                assert moved.status_code == 200, moved.text
            else:
                path = rng.choice(current)
                api.patch(
                    f"/v1/sessions/{sid}/files/{quote(path)}", json={"tier": rng.choice(["standard", "permanent"])}
                )
            current = list(state(api, sid))
        moments.append((now_past(api), state(api, sid)))
    return moments


def test_a_generated_history_restored_to_many_moments(api: httpx.Client) -> None:
    sid = new_session(api)
    moments = generated_history(api, sid, steps=5, seed=8)
    latest = state(api, sid)
    # Backwards and forwards again: each restore lands on exactly the state of its moment.
    for moment, expected in [*reversed(moments[:-1]), moments[-1], moments[1]]:
        before = versions_written(api, sid)
        plan = restore(api, sid, at=moment, dry_run=True)
        assert plan["dry_run"] is True and plan["complete"] is False and plan["undo_snapshot"] is None
        assert versions_written(api, sid) == before  # a dry run changes nothing
        now = state(api, sid)
        assert set(plan["delete"]) == set(now) - set(expected)
        assert set(plan["restore"]) == {path for path in expected if now.get(path) != expected[path]}
        assert plan["counts"]["unchanged"] == len(expected) - len(plan["restore"])

        done = restore(api, sid, at=moment)
        assert done["complete"] is True and done["skipped"] == []
        assert (done["restore"], done["delete"]) == (plan["restore"], plan["delete"])
        assert state(api, sid) == expected
        again = restore(api, sid, at=moment)  # idempotent: nothing left to do
        assert again["counts"] == {"restore": 0, "delete": 0, "unchanged": len(expected)}
    assert latest == moments[-1][1]


def test_a_folder_alone_and_undo(api: httpx.Client) -> None:
    sid = new_session(api)
    for name in NAMES:
        put(api, sid, f"dossier/{name}", b"first " + name.encode())
        put(api, sid, name, b"outside " + name.encode())
    moment = now_past(api)
    put(api, sid, f"dossier/{NAMES[0]}", b"second")
    api.delete(f"/v1/sessions/{sid}/files/{quote('dossier/' + NAMES[1])}")
    put(api, sid, "dossier/nouveau 🎉.txt", b"new")
    put(api, sid, NAMES[2], b"outside, changed")
    before = state(api, sid)

    done = restore(api, sid, at=moment, prefix="dossier")
    assert done["prefix"] == "dossier/"
    assert done["delete"] == ["dossier/nouveau 🎉.txt"]
    assert done["restore"] == sorted(nfc(f"dossier/{name}") for name in NAMES[:2])
    after = state(api, sid)
    assert {p: v for p, v in after.items() if p.startswith("dossier/")} == {
        nfc(f"dossier/{name}"): (b"first " + name.encode(), "standard") for name in NAMES
    }
    assert after[nfc(NAMES[2])] == (b"outside, changed", "standard")  # outside the folder: untouched

    undo = api.post(f"/v1/sessions/{sid}/snapshots/{done['undo_snapshot']}/restore", json={})
    assert undo.status_code == 200, undo.text
    assert state(api, sid) == before
    snapshots = {s["name"]: s for s in api.get(f"/v1/sessions/{sid}/snapshots").json()["items"]}
    taken = snapshots[done["undo_snapshot"]]
    assert taken["automatic"] is True and taken["reason"] == "before-restore" and taken["expires_at"]
    assert taken["restore"]["completed_at"] is not None and taken["prefix"] == "dossier/"


def test_snapshots_by_name(api: httpx.Client, gateway: Gateway, user: str) -> None:
    sid = new_session(api)
    for name in NAMES:
        put(api, sid, name, name.encode() * 3, **{"x-tier": "persistent"})
    created = api.post(f"/v1/sessions/{sid}/snapshots", json={"name": "avant-v2.0"})
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/v1/sessions/{sid}/snapshots/avant-v2.0"
    snapshot = created.json()
    assert snapshot["state"] == "ready" and snapshot["file_count"] == len(NAMES) and snapshot["automatic"] is False
    assert snapshot["bytes"] == sum(len(name.encode()) * 3 for name in NAMES) and snapshot["expires_at"] is None
    # A named snapshot lives until deleted, longer than any tier but one that never removes versions: copies.
    copies = gateway.backend.client().list_objects_v2(
        Bucket=gateway.settings.bucket, Prefix=gateway.owner(user).session(sid).snapshot_copies("avant-v2.0") + "c/"
    )
    assert copies["KeyCount"] == len(NAMES)
    problem(api.post(f"/v1/sessions/{sid}/snapshots", json={"name": "avant-v2.0"}), 409, "/problems/conflict")

    # Its files, a page at a time, in path order.
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = api.get(
            f"/v1/sessions/{sid}/snapshots/avant-v2.0", params={"limit": "3", **({"cursor": cursor} if cursor else {})}
        ).json()
        pages += page["files"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [f["path"] for f in pages] == sorted(nfc(name) for name in NAMES)
    assert {f["tier"] for f in pages} == {"persistent"}

    for name in NAMES:
        put(api, sid, name, b"changed")
    put(api, sid, "extra.txt", b"extra")
    # The zip of a snapshot holds what it kept, with the files' own versions in its manifest.
    exported = api.get(f"/v1/sessions/{sid}/export.zip", params={"snapshot": "avant-v2.0"})
    assert exported.status_code == 200, exported.text
    archive = zipfile.ZipFile(io.BytesIO(exported.content))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["selection"]["snapshot"] == "avant-v2.0"
    assert {f["version_id"] for f in manifest["files"]} == {f["version_id"] for f in pages}
    for name in NAMES:
        assert archive.read(nfc(name)) == name.encode() * 3
    problem(
        api.get(f"/v1/sessions/{sid}/export.zip", params={"snapshot": "avant-v2.0", "at": iso(datetime.now(UTC))}),
        400,
        "/problems/invalid-parameter",
    )

    plan = api.post(f"/v1/sessions/{sid}/snapshots/avant-v2.0/restore", json={"dry_run": True}).json()
    assert plan["counts"] == {"restore": len(NAMES), "delete": 1, "unchanged": 0}
    done = api.post(f"/v1/sessions/{sid}/snapshots/avant-v2.0/restore").json()
    assert done["complete"] and done["snapshot"] == "avant-v2.0"
    assert state(api, sid) == {nfc(name): (name.encode() * 3, "persistent") for name in NAMES}

    assert api.delete(f"/v1/sessions/{sid}/snapshots/avant-v2.0").status_code == 204
    problem(api.get(f"/v1/sessions/{sid}/snapshots/avant-v2.0"), 404, "/problems/not-found")
    names = [s["name"] for s in api.get(f"/v1/sessions/{sid}/snapshots").json()["items"]]
    assert "avant-v2.0" not in names and all(name.startswith("auto-") for name in names)
    # Nothing of it is left in the bucket: neither its copies and manifest nor its record.
    keys = gateway.owner(user).session(sid)
    client = gateway.backend.client()
    for prefix in (keys.snapshot_copies("avant-v2.0"), keys.snapshot_record("avant-v2.0")):
        left = client.list_object_versions(Bucket=gateway.settings.bucket, Prefix=prefix)
        assert not left.get("Versions") and not left.get("DeleteMarkers"), prefix


@pytest.mark.parametrize(
    "name,rule",
    [
        ("é", "ASCII"),
        ("e\u0301", "ASCII"),
        ("🎉", "ASCII"),
        ("100%", "ASCII"),
        ("a/b", "ASCII"),
        (".hidden", "starting with a letter or digit"),
        ("x" * 65, "1 to 64"),
        ("auto-mine", "automatic"),
    ],
)
def test_snapshot_names_are_checked(api: httpx.Client, session_id: str, name: str, rule: str) -> None:
    body = problem(api.post(f"/v1/sessions/{session_id}/snapshots", json={"name": name}), 400, "/problems/invalid-body")
    assert body["errors"][0]["field"] == "name" and rule in body["errors"][0]["message"]


def test_refusals_and_other_users(gateway: Gateway, api: httpx.Client, session_id: str) -> None:
    put(api, session_id, "a.txt", b"a")
    assert api.post(f"/v1/sessions/{session_id}/snapshots", json={"name": "s1"}).status_code == 201
    future = "2999-01-01T00:00:00Z"
    body = problem(api.post(f"/v1/sessions/{session_id}/restore", json={"at": future}), 400, "/problems/invalid-body")
    assert body["errors"][0]["field"] == "at"
    body = problem(
        api.post(f"/v1/sessions/{session_id}/restore", json={"at": "yesterday"}), 400, "/problems/invalid-body"
    )
    assert body["errors"][0]["field"] == "at"
    problem(api.post(f"/v1/sessions/{session_id}/restore", json={}), 400, "/problems/invalid-body")
    body = problem(
        api.post(f"/v1/sessions/{session_id}/restore", json={"at": iso(datetime.now(UTC)), "prefix": "../x"}),
        400,
        "/problems/invalid-path",
    )

    # Another user (even with a grant to the session) reaches none of it: 404 like a session that is not there.
    with gateway.client("someone-else") as other:
        granted = api.post(f"/v1/sessions/{session_id}/grants", json={"user": "someone-else", "access": "write"})
        assert granted.status_code == 201, granted.text
        missing = new_session_id()  # a session nobody has
        for method, suffix, body_json in [
            ("GET", "/snapshots", None),
            ("GET", "/snapshots/s1", None),
            ("DELETE", "/snapshots/s1", None),
            ("POST", "/snapshots", {"name": "theirs"}),
            ("POST", "/snapshots/s1/restore", {}),
            ("POST", "/restore", {"at": iso(datetime.now(UTC))}),
        ]:
            theirs = other.request(method, f"/v1/sessions/{session_id}{suffix}", json=body_json)
            absent = other.request(method, f"/v1/sessions/{missing}{suffix}", json=body_json)
            assert theirs.status_code == absent.status_code == 404, (method, suffix, theirs.text, absent.text)
            assert {**theirs.json(), "instance": ""} == {**absent.json(), "instance": ""}
        assert other.get(f"/v1/sessions/{session_id}/export.zip", params={"snapshot": "s1"}).status_code == 404
    assert api.get(f"/v1/sessions/{session_id}/snapshots/s1").status_code == 200

    ended = new_session(api)
    put(api, ended, "x.txt", b"x")
    moment = now_past(api)
    assert api.post(f"/v1/sessions/{ended}/end").status_code == 200
    problem(api.post(f"/v1/sessions/{ended}/restore", json={"at": moment}), 409, "/problems/conflict")


def test_automatic_snapshots_before_destructive_operations(api: httpx.Client, gateway: Gateway, user: str) -> None:
    sid = new_session(api)
    for name in NAMES:
        put(api, sid, f"dossier/{name}", name.encode())
    put(api, sid, "seul.txt", b"alone")

    assert api.delete(f"/v1/sessions/{sid}/files/dossier/", params={"recursive": "true"}).status_code == 204
    moved = api.post(f"/v1/sessions/{sid}/move", json={"from": "seul.txt", "to": "ailleurs.txt"})
    assert moved.status_code == 200, moved.text
    taken = {s["reason"]: s for s in api.get(f"/v1/sessions/{sid}/snapshots").json()["items"]}
    assert taken["before-folder-delete"]["prefix"] == "dossier/"
    assert taken["before-folder-delete"]["file_count"] == len(NAMES)
    assert taken["before-move"]["paths"] == ["seul.txt"] and taken["before-move"]["file_count"] == 1
    # The standard tier keeps old versions for 30 days, longer than an automatic snapshot lives: no copies.
    keys = gateway.owner(user).session(sid)
    for snapshot in taken.values():
        copies = gateway.backend.client().list_objects_v2(
            Bucket=gateway.settings.bucket, Prefix=keys.snapshot_copies(snapshot["name"]) + "c/"
        )
        assert copies.get("KeyCount", 0) == 0

    # Restoring the folder's snapshot brings it back, and leaves the rest alone.
    back = api.post(f"/v1/sessions/{sid}/snapshots/{taken['before-folder-delete']['name']}/restore").json()
    assert back["counts"] == {"restore": len(NAMES), "delete": 0, "unchanged": 0}
    assert set(state(api, sid)) == {nfc(f"dossier/{name}") for name in NAMES} | {"ailleurs.txt"}

    # A deleted session comes back with its files from the snapshot taken before the delete.
    everything = state(api, sid)
    assert api.delete(f"/v1/sessions/{sid}").status_code == 204
    assert api.get(f"/v1/sessions/{sid}").status_code == 404
    left = api.get(f"/v1/sessions/{sid}/snapshots").json()["items"]
    before_delete = [s for s in left if s["reason"] == "before-session-delete"]
    assert len(before_delete) == 1 and before_delete[0]["file_count"] == len(everything)
    back = api.post(f"/v1/sessions/{sid}/snapshots/{before_delete[0]['name']}/restore").json()
    assert back["session_restored"] is True and back["complete"] is True
    assert api.get(f"/v1/sessions/{sid}").status_code == 200
    assert state(api, sid) == everything

    # Purged is gone for good, snapshots too.
    assert api.delete(f"/v1/sessions/{sid}", params={"purge": "true"}).status_code == 204
    assert api.get(f"/v1/sessions/{sid}/snapshots").status_code == 404


def test_a_restore_cut_short_is_finished_by_the_next_call(gateway: Gateway, api: httpx.Client, user: str) -> None:
    sid = new_session(api)
    for index in range(40):
        put(api, sid, f"f/{index:02d} é🎉.txt", f"first {index}".encode())
    moment = now_past(api)
    for index in range(40):
        put(api, sid, f"f/{index:02d} é🎉.txt", f"second {index}".encode())
    expected = state(api, sid, prefix="f/")
    keys = gateway.owner(user).session(sid)
    actor = Actor.user_of(None, user)
    at = datetime.fromisoformat(moment)

    async def main() -> tuple[int, Any]:
        async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
            hook = ChangeHook()
            core = assemble(store, gateway.settings, load_configured_policy(gateway.settings), hook=hook)
            restored: list[Change] = []
            task: asyncio.Task[Any] | None = None

            def count(change: Change) -> None:
                if change.action == changes.FILE_RESTORED:
                    restored.append(change)
                    if len(restored) == 10 and task is not None:
                        task.cancel()  # the replica stops here

            hook.subscribe(count)
            task = asyncio.create_task(core.restorer.to_moment(actor, keys, at=at, prefix="", dry_run=False))
            with pytest.raises(asyncio.CancelledError):
                await task
            first = len(restored)
            second = await core.restorer.to_moment(actor, keys, at=at, prefix="", dry_run=False)
            return first, second

    first, second = asyncio.run(main())
    # Writes under way when the task was stopped may have landed without being announced: at least ten were done.
    assert second.resumed is True and second.complete
    assert first == 10 and 0 < len(second.restore) <= 40 - first and second.unchanged == 40 - len(second.restore)
    snapshots = api.get(f"/v1/sessions/{sid}/snapshots").json()["items"]
    before_restore = [s for s in snapshots if s["reason"] == "before-restore"]
    assert len(before_restore) == 1 and before_restore[0]["restore"]["completed_at"] is not None
    assert second.undo_snapshot == before_restore[0]["name"]
    assert state(api, sid, prefix="f/") == {
        path: (f"first {int(path[2:4])}".encode(), tier) for path, (_bytes, tier) in expected.items()
    }


def test_snapshot_cursors_continue_only_their_own_listing(gateway: Gateway, api: httpx.Client) -> None:
    sid = new_session(api)
    for name in NAMES:
        put(api, sid, name, b"x")
    for snapshot in ("one", "two"):
        assert api.post(f"/v1/sessions/{sid}/snapshots", json={"name": snapshot}).status_code == 201
    first = api.get(f"/v1/sessions/{sid}/snapshots/one", params={"limit": "1"}).json()
    cursor = first["next_cursor"]
    assert cursor
    # Another snapshot, another user's token, a changed byte, a made-up string: the same 400 before any read.
    other_cursor = api.get(f"/v1/sessions/{sid}/snapshots/two", params={"cursor": cursor})
    problem(other_cursor, 400, "/problems/invalid-cursor")
    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    for bad in (tampered, "not-a-cursor", "%00🎉"):
        problem(api.get(f"/v1/sessions/{sid}/snapshots/one", params={"cursor": bad}), 400, "/problems/invalid-cursor")
    with gateway.client("someone-else") as other:
        theirs = other.get(f"/v1/sessions/{sid}/snapshots/one", params={"cursor": cursor})
        assert theirs.status_code == 404
    rest = api.get(f"/v1/sessions/{sid}/snapshots/one", params={"cursor": cursor, "limit": "10"}).json()
    assert [f["path"] for f in first["files"] + rest["files"]] == sorted(nfc(name) for name in NAMES)
    # Names a user can type but no snapshot can have: 404, never a 5xx.
    for name in ("100%25", "%C3%A9t%C3%A9", "e%CC%81", "%F0%9F%8E%89", "a%2Fb"):
        assert api.get(f"/v1/sessions/{sid}/snapshots/{name}").status_code == 404, name
