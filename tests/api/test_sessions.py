from __future__ import annotations

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
