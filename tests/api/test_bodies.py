"""JSON request bodies: validation names the fields, hostile JSON is refused before anything is stored, and a
damaged session record never breaks the listing. On both backends."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from gateway.api.context import MAX_JSON_BYTES
from gateway.strict_json import MAX_DEPTH
from tests.conftest import Gateway

JSON = {"content-type": "application/json"}
HOSTILE = {
    "NaN": (b'{"metadata": {"x": NaN}}', "metadata.x"),
    "Infinity": (b'{"metadata": {"x": [1, Infinity]}}', "metadata.x.1"),
    "-Infinity": (b'{"name": "n", "metadata": {"x": -Infinity}}', "metadata.x"),
    "overflow": (b'{"metadata": {"big": 1e999}}', "metadata.big"),
    "surrogate in name": (b'{"name": "caf\\ud800"}', "name"),
    "surrogate in a metadata value": (b'{"metadata": {"note": ["ok", "\\udfff"]}}', "metadata.note.1"),
    "surrogate in a metadata key": (b'{"metadata": {"k\\udc00y": 1}}', "metadata.k\\udc00y"),
}


def _problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["type"] == kind
    assert problem["status"] == status
    return problem


def _stored(gateway: Gateway, user: str) -> list[str]:
    s3 = gateway.backend.client()
    listed = s3.list_object_versions(Bucket=gateway.settings.bucket, Prefix=gateway.owner(user).sessions_prefix)
    return sorted(item["Key"] for item in listed.get("Versions", []) + listed.get("DeleteMarkers", []))


def test_unknown_and_mistyped_fields_are_named(api: httpx.Client) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"nmae": "typo"}, "nmae"),
        ({"name": 5}, "name"),
        ({"name": "x" * 257}, "name"),
        ({"name": "line\nbreak"}, "name"),
        ({"metadata": []}, "metadata"),
        ({"metadata": {"big": "x" * 20000}}, "metadata"),
        ({"default_tier": 3}, "default_tier"),
    ]
    for body, field in cases:
        problem = _problem(api.post("/v1/sessions", json=body), 400, "/problems/invalid-body")
        assert field in {error["field"] for error in problem["errors"]}, (body, problem)
        assert problem["instance"] == "/v1/sessions"
    unknown = _problem(api.post("/v1/sessions", json={"nmae": 1}), 400, "/problems/invalid-body")
    assert "allowed: name, metadata, default_tier" in unknown["errors"][0]["message"]
    tier = _problem(api.post("/v1/sessions", json={"default_tier": "forever"}), 400, "/problems/invalid-body")
    assert tier["errors"] == [{"field": "default_tier", "message": tier["errors"][0]["message"]}]
    assert tier["valid_tiers"] == ["ephemeral", "standard", "persistent", "permanent"]
    assert api.get("/v1/sessions").json()["items"] == []


def test_every_json_route_names_the_field(api: httpx.Client, session_id: str) -> None:
    base = f"/v1/sessions/{session_id}"
    assert api.put(f"{base}/files/été.txt", content=b"x").status_code == 201
    cases = [
        ("PATCH", base, {"metadata": {"x": 1}, "state": "ended"}, "state"),
        ("PATCH", f"{base}/files/été.txt", {"tier": "standard", "recursive": "yes"}, "recursive"),
        ("PATCH", f"{base}/files/été.txt", {"tier": None}, "tier"),
        ("PATCH", f"{base}/files/été.txt", {"default_tier": None}, "default_tier"),
        ("PATCH", f"{base}/files/été.txt", {}, "tier"),
        ("PATCH", f"{base}/files/dossier/", {"tier": "standard"}, "recursive"),
        ("POST", f"{base}/rollback", {"path": "été.txt"}, "version_id"),
        ("POST", f"{base}/rollback", {"path": "été.txt", "version_id": "has space"}, "version_id"),
        ("POST", f"{base}/links", {"path": "été.txt", "expires_in": "60"}, "expires_in"),
        ("POST", f"{base}/links", {"path": "été.txt", "expires_in": 1.5}, "expires_in"),
        ("POST", f"{base}/links", {"path": "été.txt", "expires_in": True}, "expires_in"),
        ("POST", f"{base}/links", {"expires_in": 60}, "path"),
    ]
    for method, url, body, field in cases:
        problem = _problem(api.request(method, url, json=body), 400, "/problems/invalid-body")
        assert field in {error["field"] for error in problem["errors"]}, (method, url, body, problem)
    # Whole numbers written with a fraction are still whole numbers.
    assert api.post(f"{base}/links", json={"path": "été.txt", "expires_in": 60.0}).status_code == 201
    assert api.head(f"{base}/files/été.txt").headers["x-tier"] == "standard"  # nothing re-tagged


def test_a_null_default_tier_is_for_folders_only(api: httpx.Client, session_id: str) -> None:
    files = f"/v1/sessions/{session_id}/files"
    assert api.put(f"{files}/notes/100%25 sûr.txt", content=b"x").status_code == 201
    refused = api.patch(f"{files}/notes/100%25 sûr.txt", json={"default_tier": None, "tier": "permanent"})
    assert _problem(refused, 400, "/problems/invalid-body")["errors"][0]["field"] == "default_tier"
    assert api.head(f"{files}/notes/100%25 sûr.txt").headers["x-tier"] == "standard"  # the refusal changed nothing
    assert api.patch(f"{files}/notes/", json={"default_tier": "permanent"}).json()["folder_tiers"] == {
        "notes/": "permanent"
    }
    cleared = api.patch(f"{files}/notes/", json={"default_tier": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json() == {"path": "notes/", "folder_tiers": {}}
    retagged = api.patch(f"{files}/notes/", json={"tier": "ephemeral", "recursive": True}).json()
    assert retagged == {"path": "notes/", "tier": "ephemeral", "files": 1}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_json_is_refused_before_anything_is_stored(gateway: Gateway, user: str, name: str) -> None:
    body, field = HOSTILE[name]
    with gateway.client(user) as api:
        problem = _problem(api.post("/v1/sessions", content=body, headers=JSON), 400, "/problems/invalid-body")
        assert [error["field"] for error in problem["errors"]] == [field]
        assert _stored(gateway, user) == []
        sid = api.post("/v1/sessions", json={"name": "kept", "metadata": {"x": 1}}).json()["id"]
        patched = api.patch(f"/v1/sessions/{sid}", content=body, headers=JSON)
        assert _problem(patched, 400, "/problems/invalid-body")["errors"][0]["field"] == field
        listed = api.get("/v1/sessions")
        assert listed.status_code == 200
        assert [item["name"] for item in listed.json()["items"]] == ["kept"]
        assert api.get(f"/v1/sessions/{sid}").json()["metadata"] == {"x": 1}


def test_deep_nesting_is_refused_on_every_json_route(gateway: Gateway, user: str) -> None:
    with gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        before = _stored(gateway, user)
        within_limit = b'{"metadata": {"x": ' + b"[" * 20_000 + b"]" * 20_000 + b"}}"
        beyond_limit = b"[" * 100_000 + b"]" * 100_000  # larger than the limit too: refused for its depth first
        routes = [
            ("POST", "/v1/sessions"),
            ("PATCH", f"/v1/sessions/{sid}"),
            ("PATCH", f"/v1/sessions/{sid}/files/a.txt"),
            ("POST", f"/v1/sessions/{sid}/rollback"),
            ("POST", f"/v1/sessions/{sid}/links"),
        ]
        for method, url in routes:
            for body in (within_limit, beyond_limit):
                problem = _problem(api.request(method, url, content=body, headers=JSON), 400, "/problems/invalid-body")
                assert problem["errors"] == [{"field": "", "message": f"JSON nested deeper than {MAX_DEPTH} levels"}]
        nested = {"a": {"b": [[{"c": "ok"}]]}}
        assert api.patch(f"/v1/sessions/{sid}", json={"metadata": nested}).json()["metadata"] == nested
        assert api.get("/v1/sessions").status_code == 200
        assert len(_stored(gateway, user)) == len(before) + 1  # only the accepted change: one more record version


def test_bodies_over_the_limit_are_413(api: httpx.Client) -> None:
    body = json.dumps({"metadata": {"x": "y" * MAX_JSON_BYTES}}).encode()
    problem = _problem(api.post("/v1/sessions", content=body, headers=JSON), 413, "/problems/payload-too-large")
    assert problem["limit_bytes"] == MAX_JSON_BYTES
    assert api.get("/v1/sessions").json()["items"] == []


def test_other_malformed_bodies(api: httpx.Client) -> None:
    for body in [b"{nope", b"[1]", b'"text"', b"\xff\xfe", b'{"a": 1' + b"0" * 5000 + b"}"]:
        problem = _problem(api.post("/v1/sessions", content=body, headers=JSON), 400, "/problems/invalid-body")
        assert problem["errors"][0]["field"] == ""
    assert api.post("/v1/sessions", content=b"name=x", headers={"content-type": "text/plain"}).status_code == 415
    assert api.post("/v1/sessions", content=b"", headers=JSON).status_code == 201  # an empty body is {}


DAMAGED = {
    "not JSON": b"{oops",
    "NaN": b'{"id": "SID", "name": null, "created_at": "2026-01-01T00:00:00Z", "updated_at": '
    b'"2026-01-01T00:00:00Z", "state": "active", "metadata": {"x": NaN}}',
    "lone surrogate": b'{"id": "SID", "name": "\\ud800", "created_at": "2026-01-01T00:00:00Z", "updated_at": '
    b'"2026-01-01T00:00:00Z", "state": "active", "metadata": {}}',
    "wrong shape": b'{"id": "SID", "created_at": "yesterday", "updated_at": "2026-01-01T00:00:00Z", "metadata": {}}',
    "array": b"[]",
}


def test_damaged_records_are_skipped_by_the_listing(
    gateway: Gateway, api: httpx.Client, user: str, caplog: pytest.LogCaptureFixture
) -> None:
    good = api.post("/v1/sessions", json={"name": "intact ✓"}).json()["id"]
    s3 = gateway.backend.client()
    damaged = {}
    for kind, body in DAMAGED.items():
        sid = api.post("/v1/sessions", json={"name": kind}).json()["id"]
        key = gateway.owner(user).session(sid).record
        s3.put_object(Bucket=gateway.settings.bucket, Key=key, Body=body.replace(b"SID", sid.encode()))
        damaged[sid] = key
    with caplog.at_level(logging.WARNING, logger="gateway.services.sessions"):
        listed = api.get("/v1/sessions")
        assert listed.status_code == 200, listed.text
        assert [item["id"] for item in listed.json()["items"]] == [good]
        paged = api.get("/v1/sessions", params={"limit": "2"})
        assert paged.status_code == 200
    logged = caplog.text
    assert all(key in logged for key in damaged.values()), logged
    sid, other = list(damaged)[:2]
    problem = _problem(api.get(f"/v1/sessions/{sid}"), 500, "/problems/damaged-record")
    assert damaged[sid] not in json.dumps(problem)  # the key is for the log, not for the client
    with gateway.client(user, session_id=other) as bound:
        assert bound.get("/v1/sessions").json() == {"items": [], "next_cursor": None}
    assert api.delete(f"/v1/sessions/{sid}").status_code == 204  # a damaged session can still be deleted
    assert api.get(f"/v1/sessions/{sid}").status_code == 404
