"""Copying and moving files and folders, inside a session and between two sessions of one caller, on both backends:
server-side copies that keep type, tier and SHA-256; moves that keep the source's history; conflicts refused before
anything is written."""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any
from urllib.parse import quote

import httpx

from tests.conftest import Gateway

# NFD accents, CJK, emoji and '%' in every set of names.
NAMES = ["e\u0301te\u0301 re\u0301sume\u0301.txt", "数据/报告.md", "emoji/🎉 party.txt", "100%.txt"]


def nfc(path: str) -> str:
    return unicodedata.normalize("NFC", path)


def put(api: httpx.Client, sid: str, path: str, data: bytes, **headers: str) -> dict[str, Any]:
    response = api.put(f"/v1/sessions/{sid}/files/{quote(path)}", content=data, headers=headers)
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def get(api: httpx.Client, sid: str, path: str, **params: str) -> httpx.Response:
    return api.get(f"/v1/sessions/{sid}/files/{quote(path)}", params=params)


def head(api: httpx.Client, sid: str, path: str) -> httpx.Response:
    return api.head(f"/v1/sessions/{sid}/files/{quote(path)}")


def stored(gateway: Gateway, user: str) -> list[tuple[str, str]]:
    """Every version and delete marker the user has in the bucket."""
    s3 = gateway.backend.client()
    entries: list[tuple[str, str]] = []
    for page in s3.get_paginator("list_object_versions").paginate(
        Bucket=gateway.settings.bucket, Prefix=gateway.owner(user).sessions_prefix
    ):
        for name in ("Versions", "DeleteMarkers"):
            entries += [(item["Key"], item["VersionId"]) for item in page.get(name, [])]
    return sorted(entries)


def new_session(api: httpx.Client, **body: Any) -> str:
    response = api.post("/v1/sessions", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == kind, body
    return body


def test_copying_a_file_keeps_its_bytes_type_tier_and_sha256(api: httpx.Client, session_id: str) -> None:
    for name in NAMES:
        data = f"contenu de {name}".encode()
        written = put(api, session_id, f"src/{name}", data, **{"content-type": "text/markdown", "x-tier": "persistent"})
        copied = api.post(f"/v1/sessions/{session_id}/copy", json={"from": f"src/{name}", "to": f"dst/{name} copie"})
        assert copied.status_code == 200, copied.text
        report = copied.json()
        assert report["to_session"] == session_id
        [item] = report["copied"]
        assert item["from"] == nfc(f"src/{name}") and item["to"] == nfc(f"dst/{name} copie")
        assert item["version_id"] and item["version_id"] != written["version_id"]
        target = get(api, session_id, f"dst/{name} copie")
        assert target.content == data
        assert target.headers["content-type"] == "text/markdown"
        assert target.headers["x-version-id"] == item["version_id"]
        described = head(api, session_id, f"dst/{name} copie")
        assert described.headers["x-tier"] == "persistent"
        digest = hashlib.sha256(data).digest()
        assert described.headers["repr-digest"] == head(api, session_id, f"src/{name}").headers["repr-digest"]
        assert described.headers["repr-digest"].startswith("sha-256=:")
        assert written["sha256"] == digest.hex()
        assert get(api, session_id, f"src/{name}").content == data  # a copy leaves the source


def test_a_file_into_a_folder_keeps_its_name(api: httpx.Client, session_id: str) -> None:
    put(api, session_id, "a/100% é🎉.txt", b"x")
    copied = api.post(f"/v1/sessions/{session_id}/copy", json={"from": "a/100% é🎉.txt", "to": "b/c/"})
    assert copied.status_code == 200, copied.text
    assert copied.json()["copied"][0]["to"] == "b/c/100% é🎉.txt"
    assert get(api, session_id, "b/c/100% é🎉.txt").content == b"x"


def test_copying_a_folder_copies_every_file_under_it(api: httpx.Client, session_id: str) -> None:
    for name in NAMES:
        put(api, session_id, f"dossier/{name}", name.encode(), **{"x-tier": "permanent"})
    put(api, session_id, "dossier-voisin.txt", b"not under the folder")
    for source, target in (("dossier/", "copie"), ("dossier", "autre/copie/")):  # a folder with or without '/'
        copied = api.post(f"/v1/sessions/{session_id}/copy", json={"from": source, "to": target})
        assert copied.status_code == 200, copied.text
        prefix = target.rstrip("/") + "/"
        items = copied.json()["copied"]
        assert sorted(i["to"] for i in items) == sorted(nfc(prefix + n) for n in NAMES)
        assert all(i["from"] == nfc("dossier/" + i["to"][len(prefix) :]) for i in items)
        listed = api.get(f"/v1/sessions/{session_id}/files", params={"prefix": prefix}).json()["items"]
        assert sorted(i["path"] for i in listed) == sorted(nfc(prefix + n) for n in NAMES)
        assert {i["tier"] for i in listed} == {"permanent"}
        for name in NAMES:
            assert get(api, session_id, prefix + name).content == name.encode()


def test_moving_a_folder_to_another_session_keeps_the_history(api: httpx.Client, session_id: str) -> None:
    other = new_session(api, name="destination")
    versions = {}
    for name in NAMES:
        put(api, session_id, f"dossier/{name}", b"first")
        versions[name] = put(api, session_id, f"dossier/{name}", b"second", **{"x-tier": "ephemeral"})["version_id"]
    moved = api.post(f"/v1/sessions/{session_id}/move", json={"from": "dossier/", "to": "reçu/", "to_session": other})
    assert moved.status_code == 200, moved.text
    report = moved.json()
    assert report["to_session"] == other
    assert sorted(i["to"] for i in report["moved"]) == sorted(nfc(f"reçu/{n}") for n in NAMES)
    for name in NAMES:
        assert get(api, session_id, f"dossier/{name}").status_code == 404
        assert get(api, other, f"reçu/{name}").content == b"second"
        assert head(api, other, f"reçu/{name}").headers["x-tier"] == "ephemeral"
        history = api.get(f"/v1/sessions/{session_id}/history", params={"path": f"dossier/{name}"}).json()["items"]
        assert [(e["is_delete_marker"], e["is_latest"]) for e in history] == [
            (True, True),
            (False, False),
            (False, False),
        ]
        old = get(api, session_id, f"dossier/{name}", version_id=versions[name])
        assert old.status_code == 200 and old.content == b"second"
        # The moved file starts a history of its own.
        moved_history = api.get(f"/v1/sessions/{other}/history", params={"path": f"reçu/{name}"}).json()["items"]
        assert len(moved_history) == 1
    assert api.get(f"/v1/sessions/{session_id}/files", params={"prefix": "dossier/"}).json()["items"] == []


def test_moving_a_file_within_a_session(api: httpx.Client, session_id: str) -> None:
    original = put(api, session_id, "brouillon 100%.md", b"draft", **{"content-type": "text/markdown"})
    moved = api.post(f"/v1/sessions/{session_id}/move", json={"from": "brouillon 100%.md", "to": "final/🎉.md"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["moved"] == [
        {"from": "brouillon 100%.md", "to": "final/🎉.md", "version_id": moved.json()["moved"][0]["version_id"]}
    ]
    assert get(api, session_id, "brouillon 100%.md").status_code == 404
    target = get(api, session_id, "final/🎉.md")
    assert target.content == b"draft" and target.headers["content-type"] == "text/markdown"
    assert head(api, session_id, "final/🎉.md").headers["repr-digest"] == (
        "sha-256=:" + __import__("base64").b64encode(bytes.fromhex(original["sha256"])).decode() + ":"
    )
    assert get(api, session_id, "brouillon 100%.md", version_id=original["version_id"]).content == b"draft"


def test_existing_targets_are_a_conflict_unless_overwritten(
    gateway: Gateway, api: httpx.Client, user: str, session_id: str
) -> None:
    for name in NAMES:
        put(api, session_id, f"src/{name}", b"new " + name.encode())
    put(api, session_id, f"dst/{NAMES[1]}", b"old")
    put(api, session_id, f"dst/{NAMES[3]}", b"old")
    before = stored(gateway, user)
    for route in ("copy", "move"):
        refused = api.post(f"/v1/sessions/{session_id}/{route}", json={"from": "src/", "to": "dst/"})
        body = problem(refused, 409, "/problems/target-exists")
        assert sorted(body["conflicts"]) == sorted(nfc(f"dst/{NAMES[i]}") for i in (1, 3))
        assert body["conflict_count"] == 2
        assert stored(gateway, user) == before  # nothing written, nothing deleted
    single = api.post(f"/v1/sessions/{session_id}/copy", json={"from": f"src/{NAMES[3]}", "to": f"dst/{NAMES[3]}"})
    assert problem(single, 409, "/problems/target-exists")["conflicts"] == [f"dst/{NAMES[3]}"]
    assert stored(gateway, user) == before

    replaced = api.post(f"/v1/sessions/{session_id}/copy", json={"from": "src/", "to": "dst/", "overwrite": True})
    assert replaced.status_code == 200, replaced.text
    assert len(replaced.json()["copied"]) == len(NAMES)
    for name in NAMES:
        assert get(api, session_id, f"dst/{name}").content == b"new " + name.encode()
    history = api.get(f"/v1/sessions/{session_id}/history", params={"path": f"dst/{NAMES[1]}"}).json()["items"]
    assert len(history) == 2  # the replaced file is still in the history


def test_a_deleted_target_is_no_conflict(api: httpx.Client, session_id: str) -> None:
    put(api, session_id, "src/a 100%.txt", b"new")
    put(api, session_id, "dst/a 100%.txt", b"old")
    assert api.delete(f"/v1/sessions/{session_id}/files/dst/a 100%25.txt").status_code == 204
    copied = api.post(f"/v1/sessions/{session_id}/copy", json={"from": "src/a 100%.txt", "to": "dst/a 100%.txt"})
    assert copied.status_code == 200, copied.text
    assert get(api, session_id, "dst/a 100%.txt").content == b"new"


def test_onto_itself_or_into_its_own_subfolder_is_400(
    gateway: Gateway, api: httpx.Client, user: str, session_id: str
) -> None:
    for name in NAMES:
        put(api, session_id, f"dossier/{name}", b"x")
    put(api, session_id, "dossier/b/x.txt", b"b")
    put(api, session_id, "dossier/b/b/x.txt", b"b/b")
    put(api, session_id, "dossier/c/y.txt", b"c")
    before = stored(gateway, user)
    cases = [
        {"from": "dossier/", "to": "dossier/"},
        {"from": "dossier", "to": "dossier"},
        {"from": "dossier/", "to": "dossier/sous-dossier/"},
        {"from": "dossier/", "to": "dossier/emoji"},
        {"from": f"dossier/{NAMES[0]}", "to": nfc(f"dossier/{NAMES[0]}")},  # the same file, in NFC
        # Into its parent, where a target would be one of the files being moved.
        {"from": "dossier/b/", "to": "dossier/"},
    ]
    for body in cases:
        for route in ("copy", "move"):
            refused = problem(api.post(f"/v1/sessions/{session_id}/{route}", json=body), 400, "/problems/invalid-body")
            assert [e["field"] for e in refused["errors"]] == ["to"], (body, refused)
    assert stored(gateway, user) == before
    # Into its parent without such an overlap, and into a sibling whose name starts the same, are fine.
    assert api.post(f"/v1/sessions/{session_id}/copy", json={"from": "dossier/c/", "to": "dossier/"}).status_code == 200
    assert get(api, session_id, "dossier/y.txt").content == b"c"
    assert api.post(f"/v1/sessions/{session_id}/copy", json={"from": "dossier/", "to": "dossier-2/"}).status_code == 200


def test_bad_bodies_and_missing_sources(api: httpx.Client, session_id: str) -> None:
    base = f"/v1/sessions/{session_id}"
    put(api, session_id, "a.txt", b"x")
    for body, field in [
        ({"to": "b"}, "from"),
        ({"from": "a.txt"}, "to"),
        ({"from": "a.txt", "to": "b", "overwrite": "yes"}, "overwrite"),
        ({"from": "a.txt", "to": "b", "extra": 1}, "extra"),
        ({"from": "", "to": "b"}, "from"),
    ]:
        refused = problem(api.post(f"{base}/copy", json=body), 400, "/problems/invalid-body")
        assert field in [e["field"] for e in refused["errors"]], (body, refused)
    unknown = problem(api.post(f"{base}/copy", json={"form": "a.txt", "to": "b"}), 400, "/problems/invalid-body")
    assert "allowed: from, to, to_session, overwrite" in unknown["detail"]
    path_rule = problem(api.post(f"{base}/copy", json={"from": "a/../b", "to": "c"}), 400, "/problems/invalid-path")
    assert path_rule["rule"] == "dot-segment"
    assert api.post(f"{base}/copy", json={"from": "missing 🎉.txt", "to": "b"}).status_code == 404
    assert api.post(f"{base}/move", json={"from": "missing/", "to": "b/"}).status_code == 404


def test_ended_sessions_can_be_copied_from_but_not_written(api: httpx.Client, session_id: str) -> None:
    active = new_session(api)
    put(api, session_id, "rapport é.txt", b"kept")
    assert api.post(f"/v1/sessions/{session_id}/end").status_code == 200
    out = f"/v1/sessions/{session_id}"
    copied = api.post(f"{out}/copy", json={"from": "rapport é.txt", "to": "copie.txt", "to_session": active})
    assert copied.status_code == 200, copied.text
    assert get(api, active, "copie.txt").content == b"kept"
    moved = api.post(f"{out}/move", json={"from": "rapport é.txt", "to": "x.txt", "to_session": active})
    assert problem(moved, 409, "/problems/conflict")
    assert get(api, session_id, "rapport é.txt").content == b"kept"
    assert get(api, active, "x.txt").status_code == 404
    into = api.post(f"/v1/sessions/{active}/copy", json={"from": "copie.txt", "to": "y.txt", "to_session": session_id})
    assert problem(into, 409, "/problems/conflict")
    within = api.post(f"{out}/copy", json={"from": "rapport é.txt", "to": "z.txt"})
    assert problem(within, 409, "/problems/conflict")


def test_scopes(gateway: Gateway, user: str, api: httpx.Client, session_id: str) -> None:
    put(api, session_id, "a.txt", b"x")
    for scope, needed in (("files:read", "files:write"), ("files:write", "files:read")):
        with gateway.client(user, scope=scope) as limited:
            for route in ("copy", "move", "fork"):
                body = {"from": "a.txt", "to": "b.txt"} if route != "fork" else {}
                refused = problem(
                    limited.post(f"/v1/sessions/{session_id}/{route}", json=body), 403, "/problems/insufficient-scope"
                )
                assert refused["required_scope"] == needed
    assert get(api, session_id, "b.txt").status_code == 404


def test_paths_at_the_key_limit(gateway: Gateway, api: httpx.Client, user: str, session_id: str) -> None:
    room = 1024 - len(gateway.owner(user).session(session_id).files_prefix.encode())
    longest = "d/" + "é" * ((room - 2 - len(" 🎉.txt".encode())) // 2) + " 🎉.txt"
    longest += "x" * (room - len(longest.encode()))
    assert len(longest.encode()) == room
    put(api, session_id, longest, b"long")
    copied = api.post(f"/v1/sessions/{session_id}/copy", json={"from": longest, "to": "court.txt"})
    assert copied.status_code == 200, copied.text
    assert get(api, session_id, "court.txt").content == b"long"
    before = stored(gateway, user)
    # A folder whose files would get keys over the limit at the target: 400 naming the rule, nothing written.
    refused = api.post(f"/v1/sessions/{session_id}/copy", json={"from": "d/", "to": "plus long/"})
    assert problem(refused, 400, "/problems/invalid-path")["rule"] == "too-long"
    assert stored(gateway, user) == before
