"""`GET /v1/sessions` through HTTP: tags and external ids, lookup, filters named in refusals, and never another
user's session."""

from __future__ import annotations

import unicodedata

import httpx
import pytest

from tests.conftest import Gateway

NFD_TAG = unicodedata.normalize("NFD", "équipe")


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_tags_and_external_ids(api: httpx.Client) -> None:
    created = api.post(
        "/v1/sessions",
        json={"name": "Agent run é 🎉", "tags": [NFD_TAG, "équipe", "50%"], "external_ids": ["sdk:abc/1", "sdk:abc/1"]},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    # Tags are stored in NFC, once; external ids as given, once.
    assert body["tags"] == sorted(["50%", "équipe"]) and body["external_ids"] == ["sdk:abc/1"]
    assert (body["file_count"], body["bytes"], body["project"]) == (0, 0, None)
    assert body["last_activity_at"] == body["created_at"]
    sid = body["id"]
    other = api.post("/v1/sessions", json={"name": "other", "tags": ["x"]}).json()["id"]

    assert _ids(api.get("/v1/sessions", params={"external_id": "sdk:abc/1"})) == [sid]
    assert _ids(api.get("/v1/sessions", params={"external_id": "sdk:abc"})) == []
    assert _ids(api.get("/v1/sessions", params={"tag": NFD_TAG})) == [sid]  # either form finds the tag
    assert _ids(api.get("/v1/sessions", params=[("tag", "équipe"), ("tag", "50%")])) == [sid]
    assert _ids(api.get("/v1/sessions", params=[("tag", "équipe"), ("tag", "x")])) == []
    assert _ids(api.get("/v1/sessions", params={"q": "AGENT RUN E"})) == [sid]
    assert _ids(api.get("/v1/sessions", params={"order": "desc"})) == [other, sid]

    patched = api.patch(f"/v1/sessions/{sid}", json={"tags": [], "external_ids": ["sdk:def"]})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["tags"], patched.json()["external_ids"]) == ([], ["sdk:def"])
    assert patched.json()["last_activity_at"] > body["last_activity_at"]
    assert _ids(api.get("/v1/sessions", params={"tag": "équipe"})) == []
    assert _ids(api.get("/v1/sessions", params={"external_id": "sdk:def"})) == [sid]
    assert _ids(api.get("/v1/sessions", params={"sort": "last_activity", "order": "desc"})) == [sid, other]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"state": "open"}, "state"),
        ({"sort": "name"}, "sort"),
        ({"order": "up"}, "order"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"active_before": "2026-01-01T00:00:00"}, "active_before"),
        ({"q": "x" * 300}, "q"),
        ({"q": "a\x01"}, "q"),
        ([("q", "a"), ("q", "b")], "q"),
    ],
)
def test_refused_filters_name_their_parameter(api: httpx.Client, params: object, parameter: str) -> None:
    refused = api.get("/v1/sessions", params=params)  # type: ignore[arg-type]
    assert refused.status_code == 400
    problem = refused.json()
    assert problem["type"].endswith("/problems/invalid-parameter") and problem["parameter"] == parameter


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tags": [""]}, "tags"),
        ({"tags": ["x" * 65]}, "tags"),
        ({"tags": ["a\nb"]}, "tags"),
        ({"tags": [f"t{i}" for i in range(33)]}, "tags"),
        ({"external_ids": [""]}, "external_ids"),
        ({"external_ids": "one"}, "external_ids"),
    ],
)
def test_refused_tags_and_ids_name_their_field(api: httpx.Client, body: dict[str, object], field: str) -> None:
    refused = api.post("/v1/sessions", json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["errors"][0]["field"].split(".")[0].split("[")[0] == field
    assert _ids(api.get("/v1/sessions")) == []


def test_no_listing_shows_another_users_session(gateway: Gateway, user: str) -> None:
    with gateway.client(user) as mine, gateway.client(user + "-b") as theirs:
        own = mine.post("/v1/sessions", json={"name": "shared name", "tags": ["t"], "external_ids": ["e"]}).json()
        foreign = theirs.post("/v1/sessions", json={"name": "shared name", "tags": ["t"], "external_ids": ["e"]}).json()
        for params in [{}, {"q": "shared"}, {"tag": "t"}, {"external_id": "e"}, {"sort": "last_activity"}]:
            assert _ids(mine.get("/v1/sessions", params=params)) == [own["id"]]
            assert _ids(theirs.get("/v1/sessions", params=params)) == [foreign["id"]]
        # A session-bound token lists its own session, when the filters take it, and nothing else.
        bound = gateway.token(user, session_id=own["id"])
        with gateway.client(token=bound) as narrow:
            assert _ids(narrow.get("/v1/sessions")) == [own["id"]]
            assert _ids(narrow.get("/v1/sessions", params={"tag": "t"})) == [own["id"]]
            assert _ids(narrow.get("/v1/sessions", params={"tag": "nope"})) == []
        # A cursor of one user is refused to another, before any listing.
        for i in range(2):
            mine.post("/v1/sessions", json={"name": f"more {i}"})
        cursor = mine.get("/v1/sessions", params={"limit": "1"}).json()["next_cursor"]
        assert cursor
        refused = theirs.get("/v1/sessions", params={"limit": "1", "cursor": cursor})
        assert refused.status_code == 400 and refused.json()["type"].endswith("/problems/invalid-cursor")
