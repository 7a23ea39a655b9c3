from __future__ import annotations

from urllib.parse import quote

import httpx

from tests.conftest import Gateway


def test_create_get_list_update_delete(api: httpx.Client) -> None:
    created = api.post("/v1/sessions", json={"name": "chat 1", "metadata": {"agent": "a1", "n": 1}})
    assert created.status_code == 201
    body = created.json()
    sid = body["id"]
    assert created.headers["location"] == f"/v1/sessions/{sid}"
    assert body["state"] == "active"
    assert body["name"] == "chat 1"
    assert body["metadata"] == {"agent": "a1", "n": 1}
    assert body["created_at"] == body["updated_at"]
    assert body["created_at"].endswith("Z")

    assert api.get(f"/v1/sessions/{sid}").json() == body

    patched = api.patch(f"/v1/sessions/{sid}", json={"name": "renamed", "metadata": {"n": None, "m": 2}})
    assert patched.status_code == 200
    assert patched.json()["name"] == "renamed"
    assert patched.json()["metadata"] == {"agent": "a1", "m": 2}
    assert api.get(f"/v1/sessions/{sid}").json()["name"] == "renamed"

    listed = api.get("/v1/sessions").json()
    assert [item["id"] for item in listed["items"]] == [sid]

    assert api.delete(f"/v1/sessions/{sid}").status_code == 204
    assert api.get(f"/v1/sessions/{sid}").status_code == 404
    assert api.get("/v1/sessions").json()["items"] == []


def test_session_ids_sort_by_creation_and_listing_paginates(api: httpx.Client) -> None:
    ids = [api.post("/v1/sessions", json={}).json()["id"] for _ in range(5)]
    assert ids == sorted(ids)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.get("/v1/sessions", params=params).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert pages == 3


def test_session_input_is_validated(api: httpx.Client) -> None:
    cases = [
        ({"name": 5}, 400),
        ({"name": "x" * 257}, 400),
        ({"metadata": []}, 400),
        ({"metadata": {"big": "x" * 20000}}, 400),
        ({"unknown": 1}, 400),
    ]
    for body, status in cases:
        response = api.post("/v1/sessions", json=body)
        assert response.status_code == status, body
        assert response.headers["content-type"] == "application/problem+json"
    bad_json = api.post("/v1/sessions", content=b"{nope", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400
    not_json = api.post("/v1/sessions", content=b"name=x", headers={"content-type": "text/plain"})
    assert not_json.status_code == 415
    array = api.post("/v1/sessions", json=[1])
    assert array.status_code == 400
    assert api.get("/v1/sessions", params={"limit": "0"}).status_code == 400
    assert api.get("/v1/sessions", params={"limit": "x"}).status_code == 400
    assert api.get("/v1/sessions", params={"cursor": "garbage!"}).status_code == 400


def test_unknown_and_malformed_session_ids_are_404(api: httpx.Client) -> None:
    for sid in ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "nope", "..", "%2e%2e"]:
        response = api.get(f"/v1/sessions/{sid}")
        assert response.status_code == 404, sid
        assert response.json()["status"] == 404


def test_delete_is_recoverable_and_purge_is_not(gateway: Gateway, api: httpx.Client, user: str) -> None:
    s3 = gateway.backend.client()
    bucket = gateway.settings.bucket
    kept = api.post("/v1/sessions", json={}).json()["id"]
    gone = api.post("/v1/sessions", json={}).json()["id"]
    for sid in (kept, gone):
        assert api.put(f"/v1/sessions/{sid}/files/a.txt", content=b"data").status_code == 201
        assert api.put(f"/v1/sessions/{sid}/files/d/b.txt", content=b"more").status_code == 201

    assert api.delete(f"/v1/sessions/{kept}").status_code == 204
    prefix = gateway.owner(user).session(kept).prefix
    versions = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    # Beside them, the snapshot taken before the delete (docs/recovery.md): its record (written as creating, then
    # ready) and its manifest; no copies, since the standard tier keeps old versions longer than the snapshot lives.
    snapshots = prefix + "snapshots/"
    kept_versions = [v for v in versions.get("Versions", []) if not v["Key"].startswith(snapshots)]
    assert len(kept_versions) == 3  # two files and the record, all still there
    assert len(versions.get("Versions", [])) - len(kept_versions) == 3
    assert len(versions.get("DeleteMarkers", [])) == 3
    current = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    assert current and all(item["Key"].startswith(snapshots) for item in current)

    assert api.delete(f"/v1/sessions/{gone}", params={"purge": "true"}).status_code == 204
    prefix = gateway.owner(user).session(gone).prefix
    versions = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    assert versions.get("Versions", []) == [] and versions.get("DeleteMarkers", []) == []
    assert api.delete(f"/v1/sessions/{gone}").status_code == 404


def test_states_active_ended_archived_and_back(api: httpx.Client) -> None:
    sid = api.post("/v1/sessions", json={"name": "états é🎉 100%"}).json()["id"]
    url = f"/v1/sessions/{sid}"
    kept = f"{url}/files/" + quote("notes/e\u0301te\u0301.txt")
    assert api.put(kept, content=b"kept").status_code == 201
    assert api.put(f"{url}/files/scratch.txt", content=b"x", headers={"X-Tier": "ephemeral"}).status_code == 201

    def refused(operation: str, state: str, allowed: list[str]) -> None:
        response = api.post(f"{url}/{operation}")
        assert response.status_code == 409, response.text
        body = response.json()
        assert body["type"] == "/problems/invalid-transition"
        assert (body["state"], body["allowed"]) == (state, allowed)

    # Active: only `end` moves it; the others are refused with what it allows, or change nothing.
    refused("archive", "active", ["end"])
    assert api.post(f"{url}/reactivate").json()["state"] == "active"
    ended = api.post(f"{url}/end").json()
    assert ended["state"] == "ended" and ended["ended_at"] and ended["archived_at"] is None
    assert api.get(f"{url}/files/scratch.txt").status_code == 404  # ephemeral files go when it ends

    archived = api.post(f"{url}/archive").json()
    assert archived["state"] == "archived" and archived["archived_at"] and archived["ended_at"] == ended["ended_at"]
    assert api.post(f"{url}/archive").json() == archived  # again: nothing changes
    refused("end", "archived", ["reactivate"])
    # Archived is read-only like ended: reads work, writes are refused.
    assert api.get(kept).content == b"kept"
    write = api.put(f"{url}/files/new.txt", content=b"no")
    assert write.status_code == 409 and write.json()["type"] == "/problems/conflict"
    assert api.get(url).json()["state"] == "archived"

    back = api.post(f"{url}/reactivate").json()
    assert back["state"] == "active" and back["ended_at"] is None and back["archived_at"] is None
    assert api.put(f"{url}/files/new.txt", content=b"yes").status_code == 201
    # Ended, then reactivated straight away, is allowed too.
    assert api.post(f"{url}/end").json()["state"] == "ended"
    assert api.post(f"{url}/reactivate").json()["state"] == "active"


def test_state_changes_of_other_users_sessions_are_not_found(gateway: Gateway, api: httpx.Client) -> None:
    sid = api.post("/v1/sessions", json={}).json()["id"]
    with gateway.client("another-user") as other:
        for operation in ("end", "archive", "reactivate"):
            response = other.post(f"/v1/sessions/{sid}/{operation}")
            assert response.status_code == 404, (operation, response.text)
    assert api.get(f"/v1/sessions/{sid}").json()["state"] == "active"
