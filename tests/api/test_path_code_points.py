"""Over HTTP, on both backends: a path with a code point that would not display honestly is a 400 naming the rule,
and nothing is stored; names that display as themselves (CJK, emoji sequences, NFD, '%') work end to end."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx

from tests.conftest import Gateway, raw_request
from tests.test_keys import DISPLAYABLE_PATHS, REFUSED_CODE_POINTS


def _stored(gateway: Gateway, user: str, sid: str) -> list[str]:
    """Every version and delete marker under the session's files, straight from the bucket."""
    prefix = gateway.owner(user).session(sid).files_prefix
    listing = gateway.backend.client().list_object_versions(Bucket=gateway.settings.bucket, Prefix=prefix)
    return [item["Key"] for name in ("Versions", "DeleteMarkers") for item in listing.get(name, [])]


def test_refused_code_points_are_400_naming_the_rule_and_store_nothing(
    gateway: Gateway, api: httpx.Client, user: str, session_id: str
) -> None:
    headers = dict(api.headers)
    for path, rule in REFUSED_CODE_POINTS:
        raw = f"/v1/sessions/{session_id}/files/{quote(path.encode('utf-8'), safe='/')}"
        status, response_headers, body = raw_request(gateway.url, "PUT", raw, headers, b"spoof")
        assert status == 400, (ascii(path), body)
        assert response_headers["content-type"] == "application/problem+json"
        problem = json.loads(body)
        assert (problem["type"], problem["rule"]) == ("/problems/invalid-path", rule), ascii(path)
    assert _stored(gateway, user, session_id) == []


def test_refused_code_points_in_json_and_query_input(
    gateway: Gateway, api: httpx.Client, user: str, session_id: str
) -> None:
    base = f"/v1/sessions/{session_id}"
    for path, rule in [("a\u202eb", "bidi-control"), ("a\u200bb", "zero-width"), ("a\ue000", "private-use")]:
        for response in (
            api.get(f"{base}/files", params={"prefix": path}),
            api.get(f"{base}/history", params={"path": path}),
            api.post(f"{base}/links", json={"path": path}),
            api.post(f"{base}/rollback", json={"path": path, "version_id": "v1"}),
        ):
            assert response.status_code == 400, (response.request.url, ascii(path))
            assert response.json()["rule"] == rule
    assert _stored(gateway, user, session_id) == []


def test_displayable_names_round_trip(gateway: Gateway, api: httpx.Client, user: str, session_id: str) -> None:
    files = f"/v1/sessions/{session_id}/files"
    for path in DISPLAYABLE_PATHS:
        url = f"{files}/{quote(path.encode('utf-8'), safe='/')}"
        created = api.put(url, content=path.encode())
        assert created.status_code == 201, (ascii(path), created.text)
        assert created.json()["path"] == path
        assert created.headers["location"] == url
        assert api.get(url).content == path.encode()
    nfd_name = quote("cafe\u0301-nfd.txt")
    nfd = api.put(f"{files}/{nfd_name}", content=b"nfd")
    assert nfd.status_code == 201
    assert nfd.json()["path"] == "caf\u00e9-nfd.txt"
    listed = [item["path"] for item in api.get(files).json()["items"]]
    assert sorted(listed) == sorted([*DISPLAYABLE_PATHS, "caf\u00e9-nfd.txt"])
    assert len(_stored(gateway, user, session_id)) == len(DISPLAYABLE_PATHS) + 1
