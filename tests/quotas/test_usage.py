"""`GET /v1/usage` against the truth in the bucket, and every kind of change keeping the figures right: uploads,
overwrites, deletes (a file, a folder, a session), copies, moves, rollbacks and zip imports."""

from __future__ import annotations

import io
import zipfile

import httpx

from tests.conftest import Gateway
from tests.quotas.helpers import NAMES, client, current_files, new_session, put


def _usage(api: httpx.Client, session_id: str | None = None) -> dict[str, tuple[int, int]]:
    response = api.get("/v1/usage", params={"session": session_id} if session_id else {})
    assert response.status_code == 200, response.text
    body = response.json()
    return {
        scope: (body[scope]["bytes"]["used"], body[scope]["files"]["used"])
        for scope in ("tenant", "user", "session")
        if body.get(scope) is not None
    }


def test_figures_follow_every_change(quotas: Gateway) -> None:
    user = "user-figures"
    owner = quotas.owner(user, "t-usage")
    with client(quotas, "t-usage", user) as api:
        sid, other = new_session(api), new_session(api)
        keys = owner.session(sid)

        def check() -> None:
            figures = _usage(api, sid)
            assert figures["session"] == current_files(quotas, keys.files_prefix)
            assert figures["user"] == current_files(quotas, owner.sessions_prefix)

        for index, name in enumerate(NAMES):
            assert put(api, sid, name, b"x" * (10 * index + 1)).status_code == 201
        check()
        assert put(api, sid, NAMES[0], b"y" * 50).status_code == 200  # overwrite: bytes change, files do not
        check()
        history = api.get(f"/v1/sessions/{sid}/history", params={"path": NAMES[0]}).json()["items"]
        rolled = api.post(
            f"/v1/sessions/{sid}/rollback", json={"path": NAMES[0], "version_id": history[-1]["version_id"]}
        )
        assert rolled.status_code == 200, rolled.text
        check()
        assert api.delete(f"/v1/sessions/{sid}/files/{NAMES[1]}").status_code == 204
        check()
        copied = api.post(f"/v1/sessions/{sid}/copy", json={"from": "café/", "to": "copie/"})
        assert copied.status_code == 200, copied.text
        check()
        moved = api.post(f"/v1/sessions/{sid}/move", json={"from": NAMES[2], "to": "moved/", "to_session": other})
        assert moved.status_code == 200, moved.text
        check()
        assert _usage(api, other)["session"] == current_files(quotas, owner.session(other).files_prefix)
        assert api.delete(f"/v1/sessions/{sid}/files/日本語/", params={"recursive": "true"}).status_code == 204
        check()
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("zip/ü.txt", b"z" * 33)
            zipped.writestr("zip/%😀.txt", b"z" * 7)
        imported = api.post(
            f"/v1/sessions/{sid}/import", content=archive.getvalue(), headers={"content-type": "application/zip"}
        )
        assert imported.status_code == 201, imported.text
        check()


def test_deletes_give_room_back(quotas: Gateway) -> None:
    user = "user-room"
    with client(quotas, "t-deletes", user) as api:  # user_bytes 100, user_files 3
        sid = new_session(api)
        assert put(api, sid, NAMES[0], b"a" * 60).status_code == 201
        assert put(api, sid, "dir/" + NAMES[3], b"b" * 40).status_code == 201
        assert put(api, sid, NAMES[2], b"c").status_code == 413
        assert api.delete(f"/v1/sessions/{sid}/files/{NAMES[0]}").status_code == 204
        assert put(api, sid, NAMES[2], b"c" * 60).status_code == 201
        assert put(api, sid, NAMES[4], b"d").status_code == 413
        assert api.delete(f"/v1/sessions/{sid}/files/dir/", params={"recursive": "true"}).status_code == 204
        assert put(api, sid, NAMES[4], b"d" * 40).status_code == 201
        # A whole session deleted (or purged) gives its room back at once.
        assert api.delete(f"/v1/sessions/{sid}").status_code == 204
        other = new_session(api)
        assert _usage(api)["user"] == (0, 0)
        assert put(api, other, NAMES[1], b"e" * 100).status_code == 201
        assert api.delete(f"/v1/sessions/{other}", params={"purge": "true"}).status_code == 204
        assert _usage(api)["user"] == (0, 0)


def test_bulk_writes_are_refused_whole(quotas: Gateway) -> None:
    user = "user-bulk"
    owner = quotas.owner(user, "t-bulk")
    with client(quotas, "t-bulk", user) as api:  # user_bytes 100, user_files 4
        sid = new_session(api)
        for name in NAMES[:2]:
            assert put(api, sid, "src/" + name, b"s" * 30).status_code == 201
        before = current_files(quotas, owner.sessions_prefix)
        copied = api.post(f"/v1/sessions/{sid}/copy", json={"from": "src/", "to": "dst/"})
        assert copied.status_code == 413 and copied.json()["quota"] == "user.bytes", copied.text
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            for name in NAMES[2:]:
                zipped.writestr(name, b"z")
        imported = api.post(
            f"/v1/sessions/{sid}/import", content=archive.getvalue(), headers={"content-type": "application/zip"}
        )
        assert imported.status_code == 413 and imported.json()["quota"] == "user.files", imported.text
        assert current_files(quotas, owner.sessions_prefix) == before
        assert _usage(api)["user"] == before


def test_usage_of_a_session_not_yours_is_not_found(quotas: Gateway) -> None:
    with client(quotas, "t-usage") as api, client(quotas, "t-usage") as stranger:
        sid = new_session(api)
        assert stranger.get("/v1/usage", params={"session": sid}).status_code == 404
        assert stranger.get("/v1/usage", params={"session": "../x"}).status_code == 404
        with quotas.client("bound-user", tenant="t-usage", session_id=sid) as bound:
            assert bound.get("/v1/usage", params={"session": new_session(api)}).status_code == 404


def test_without_limits_the_tenant_is_not_counted(gateway: Gateway, user: str) -> None:
    """No limit anywhere: no ledger is kept, the caller's figures come from their files, and the tenant's are null
    (counting them would list every user's files on any user's request)."""
    with gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        for name, data in [("é🎉 100%.txt", b"12345"), ("b", b"xy")]:
            assert api.put(f"/v1/sessions/{sid}/files/{name.replace('%', '%25')}", content=data).status_code == 201
        body = api.get("/v1/usage", params={"session": sid}).json()
        assert body["tenant"] is None
        assert body["user"] == {"bytes": {"used": 7, "limit": None}, "files": {"used": 2, "limit": None}}
        assert body["session"] == body["user"]
        assert not any("_usage/" in key for _op, key in gateway.touched)  # no ledger is kept or read
