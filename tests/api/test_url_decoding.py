"""The URL is decoded once, from its raw bytes: no spelling of the session id changes how the path is read."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Gateway, raw_request


@pytest.mark.parametrize("tail", ["bad%ffutf8.txt", "ok.txt", "%C3%A9t%C3%A9%20%F0%9F%9A%80%20100%25.txt"])
def test_an_encoded_session_id_is_no_session(gateway: Gateway, api: httpx.Client, session_id: str, tail: str) -> None:
    token = api.headers["authorization"]
    encoded = f"%{ord(session_id[0]):02X}{session_id[1:]}"
    for method in ("PUT", "GET", "DELETE"):
        status, _headers, body = raw_request(
            gateway.url, method, f"/v1/sessions/{encoded}/files/{tail}", {"Authorization": token}, b"x"
        )
        assert status == 404, (method, body)
    assert api.get(f"/v1/sessions/{session_id}/files").json()["items"] == []  # nothing was stored


def test_the_canonical_url_refuses_invalid_utf8(gateway: Gateway, api: httpx.Client, session_id: str) -> None:
    token = api.headers["authorization"]
    status, _headers, body = raw_request(
        gateway.url, "PUT", f"/v1/sessions/{session_id}/files/bad%ffutf8.txt", {"Authorization": token}, b"x"
    )
    assert status == 400
    assert b'"rule":"utf-8"' in body
    assert api.get(f"/v1/sessions/{session_id}/files").json()["items"] == []


def test_an_encoded_id_in_json_routes_is_no_session(gateway: Gateway, api: httpx.Client, session_id: str) -> None:
    token = api.headers["authorization"]
    encoded = f"{session_id[:-1]}%{ord(session_id[-1]):02X}"
    status, _headers, _body = raw_request(gateway.url, "GET", f"/v1/sessions/{encoded}", {"Authorization": token})
    assert status == 404
    status, _headers, _body = raw_request(
        gateway.url, "GET", f"/v1/sessions/{encoded}/history?path=a.txt", {"Authorization": token}
    )
    assert status == 404
