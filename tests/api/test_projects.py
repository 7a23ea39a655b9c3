"""`/v1/projects`: create, read, list, change, delete; sessions in a project; refusals naming the field; projects
reached by their owner alone."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import Gateway

NAME = unicodedata.normalize("NFD", "Résumé 🎉 100% ñ")
FILE = "dossier/é 🎉 100%.txt"


def _create(api: httpx.Client, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/projects", json=body)
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


def _field(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return [error["field"] for error in response.json()["errors"]]


def test_create_read_list_change_delete(api: httpx.Client) -> None:
    body = _create(api, prefix="acme-2", name=NAME, metadata={"team": "ü"})
    pid = body["id"]
    assert pid.startswith("acme-2-") and len(pid) == len("acme-2-") + 8
    assert body["name"] == NAME  # names are kept as sent, like session names
    assert (body["cleanup_after_days"], body["warning_days"], body["pinned"]) == (30, 7, False)
    created = datetime.fromisoformat(body["created_at"])
    assert datetime.fromisoformat(body["cleanup_at"]) == created + timedelta(days=30)
    assert body["warnings"] == [] and body["session_count"] == 0 and body["keep_until"] is None
    assert api.get(f"/v1/projects/{pid}").json() == body
    assert _create(api)["id"].startswith("proj-")

    patched = api.patch(f"/v1/projects/{pid}", json={"name": "été", "metadata": {"team": None, "x": 1}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "été" and patched.json()["metadata"] == {"x": 1}
    # Fewer cleanup days than warning days: the warning days follow when they are not given.
    shorter = api.patch(f"/v1/projects/{pid}", json={"cleanup_after_days": 3}).json()
    assert (shorter["cleanup_after_days"], shorter["warning_days"]) == (3, 2)
    never = api.patch(f"/v1/projects/{pid}", json={"cleanup_after_days": None}).json()
    assert never["cleanup_after_days"] is None and never["cleanup_at"] is None and never["warnings"] == []

    listed = api.get("/v1/projects", params={"limit": "1"}).json()
    assert len(listed["items"]) == 1 and listed["next_cursor"]
    rest = api.get("/v1/projects", params={"limit": "5", "cursor": listed["next_cursor"]}).json()
    ids = [p["id"] for p in listed["items"] + rest["items"]]
    assert sorted(ids) == ids and pid in ids and len(ids) == 2 and rest["next_cursor"] is None

    assert api.delete(f"/v1/projects/{pid}").status_code == 204
    assert api.get(f"/v1/projects/{pid}").status_code == 404
    assert api.delete(f"/v1/projects/{pid}").status_code == 404


def test_sessions_in_a_project(api: httpx.Client) -> None:
    pid = _create(api, name="p")["id"]
    other = _create(api)["id"]
    first = api.post(f"/v1/projects/{pid}/sessions", json={"name": NAME, "tags": ["t"]})
    assert first.status_code == 201, first.text
    assert first.json()["project"] == pid and first.headers["location"] == f"/v1/sessions/{first.json()['id']}"
    second = api.post(f"/v1/projects/{pid}/sessions", json={"name": "deux"}).json()["id"]
    elsewhere = api.post(f"/v1/projects/{other}/sessions", json={}).json()["id"]
    loose = api.post("/v1/sessions", json={}).json()["id"]
    sid = first.json()["id"]
    assert api.put(f"/v1/sessions/{sid}/files/{quote(FILE)}", content=b"data").status_code == 201

    page = api.get(f"/v1/projects/{pid}/sessions").json()
    assert [s["id"] for s in page["items"]] == [sid, second]
    assert [s["id"] for s in api.get("/v1/sessions", params={"project": pid}).json()["items"]] == [sid, second]
    found = api.get(f"/v1/projects/{pid}/sessions", params={"q": "resume"}).json()["items"]
    assert [s["id"] for s in found] == [sid]
    one = api.get(f"/v1/projects/{pid}/sessions", params={"limit": "1", "sort": "created", "order": "desc"}).json()
    assert [s["id"] for s in one["items"]] == [second]
    more = api.get(f"/v1/projects/{pid}/sessions", params={"limit": "1", "cursor": one["next_cursor"], "order": "desc"})
    assert [s["id"] for s in more.json()["items"]] == [sid]
    assert _field_param(api.get(f"/v1/projects/{pid}/sessions", params={"project": other})) == "project"
    assert api.get(f"/v1/projects/{pid}").json()["session_count"] == 2

    # Deleting the project deletes its sessions, recoverably, and nothing else.
    assert api.delete(f"/v1/projects/{pid}").status_code == 204
    assert api.get(f"/v1/sessions/{sid}").status_code == 404
    assert api.get(f"/v1/sessions/{second}").status_code == 404
    assert api.get(f"/v1/sessions/{elsewhere}").status_code == 200
    assert api.get(f"/v1/sessions/{loose}").status_code == 200
    assert api.get(f"/v1/projects/{pid}/sessions").status_code == 404
    assert api.post(f"/v1/projects/{pid}/sessions", json={}).status_code == 404
    [snapshot] = [s["name"] for s in api.get(f"/v1/sessions/{sid}/snapshots").json()["items"]]
    assert api.post(f"/v1/sessions/{sid}/snapshots/{snapshot}/restore", json={}).status_code == 200
    assert api.get(f"/v1/sessions/{sid}/files/{quote(FILE)}").content == b"data"


def _field_param(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    found: str = response.json()["parameter"]
    return found


@pytest.mark.parametrize("prefix", ["Proj", "1abc", "a_b", "a" * 33, "", "é", "a b", "-a", 5, None])
def test_bad_prefixes_are_refused_naming_the_field(api: httpx.Client, prefix: object) -> None:
    assert _field(api.post("/v1/projects", json={"prefix": prefix})) == ["prefix"]


def test_bad_lifetimes_and_days_are_refused_naming_the_field(api: httpx.Client) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"cleanup_after_days": 0}, "cleanup_after_days"),
        ({"cleanup_after_days": 3651}, "cleanup_after_days"),
        ({"cleanup_after_days": "5"}, "cleanup_after_days"),
        ({"cleanup_after_days": 1.5}, "cleanup_after_days"),
        ({"cleanup_after_days": True}, "cleanup_after_days"),
        ({"warning_days": -1}, "warning_days"),
        ({"warning_days": None}, "warning_days"),
        ({"cleanup_after_days": 5, "warning_days": 5}, "warning_days"),
        ({"name": "a\u0007b"}, "name"),
        ({"colour": "red"}, "colour"),
    ]
    for body, field in cases:
        assert _field(api.post("/v1/projects", json=body)) == [field], body
    pid = _create(api, cleanup_after_days=10, warning_days=2)["id"]
    assert _field(api.patch(f"/v1/projects/{pid}", json={"warning_days": 10})) == ["warning_days"]
    for days in [0, 3651, "1", None, 2.5]:
        assert _field(api.post(f"/v1/projects/{pid}/extend", json={"days": days})) == ["days"], days
    assert _field(api.post(f"/v1/projects/{pid}/extend", json={})) == ["days"]
    assert _field(api.post(f"/v1/projects/{pid}/extend", json={"days": 3650})) == ["days"]  # past 3650 from now
    assert api.post(f"/v1/projects/{pid}/extend", json={"days": 30}).status_code == 200
    # Nothing of the refusals stuck.
    assert api.get(f"/v1/projects/{pid}").json()["warning_days"] == 2


def test_projects_are_their_owners_alone(gateway: Gateway, api: httpx.Client, user: str) -> None:
    pid = _create(api)["id"]
    sid = api.post(f"/v1/projects/{pid}/sessions", json={}).json()["id"]
    missing = pid[:-8] + ("0" * 8 if not pid.endswith("0" * 8) else "1" * 8)
    with gateway.client(user + "-other") as other:
        for method, path, body in [
            ("GET", f"/v1/projects/{pid}", None),
            ("PATCH", f"/v1/projects/{pid}", {"name": "x"}),
            ("DELETE", f"/v1/projects/{pid}", None),
            ("POST", f"/v1/projects/{pid}/pin", None),
            ("POST", f"/v1/projects/{pid}/unpin", None),
            ("POST", f"/v1/projects/{pid}/extend", {"days": 1}),
            ("POST", f"/v1/projects/{pid}/sessions", {}),
            ("GET", f"/v1/projects/{pid}/sessions", None),
        ]:
            theirs = other.request(method, path, json=body)
            mine_missing = api.request(method, path.replace(pid, missing), json=body)
            assert theirs.status_code == mine_missing.status_code == 404, (method, path)
            assert theirs.json()["detail"] == mine_missing.json()["detail"]
        assert other.get("/v1/projects").json()["items"] == []
    for bad in ["PROJ-12345678", "proj-1234567", "proj-1234567g", "proj_12345678", "%70roj-12345678x"]:
        assert api.get(f"/v1/projects/{bad}").status_code == 404, bad
    with gateway.client(token=gateway.token(user, session_id=sid)) as bound:
        assert bound.get(f"/v1/projects/{pid}").status_code == 403
        assert bound.get("/v1/projects").status_code == 403
        assert bound.post("/v1/projects", json={}).status_code == 403
    assert api.get(f"/v1/projects/{pid}").status_code == 200
    assert api.get(f"/v1/sessions/{sid}").status_code == 200


def test_pin_unpin_extend_answer_the_project(api: httpx.Client) -> None:
    body = _create(api, cleanup_after_days=10, warning_days=1)
    pid = body["id"]
    pinned = api.post(f"/v1/projects/{pid}/pin").json()
    assert pinned["pinned"] is True and pinned["cleanup_at"] is None
    assert api.post(f"/v1/projects/{pid}/pin").json()["pinned"] is True  # again: no change
    extended = api.post(f"/v1/projects/{pid}/extend", json={"days": 20}).json()
    assert extended["cleanup_at"] is None and extended["keep_until"] is not None
    unpinned = api.post(f"/v1/projects/{pid}/unpin").json()
    assert unpinned["pinned"] is False
    # Kept until twenty days on, which is later than ten days of inactivity from now.
    assert unpinned["cleanup_at"] == unpinned["keep_until"]
