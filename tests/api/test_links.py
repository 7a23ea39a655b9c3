"""Presigned download links: served by S3 itself, named sensibly, and refused by S3 once tampered with or expired."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from gateway.api.app import create_app
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings


def _file_with_link(gateway: Gateway, user: str, **link: object) -> tuple[str, dict[str, str]]:
    with gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        api.put(
            f"/v1/sessions/{sid}/files/reports/q3 résumé.html",
            content=b"<b>v1</b>",
            headers={"content-type": "text/html"},
        )
        response = api.post(f"/v1/sessions/{sid}/links", json={"path": "reports/q3 résumé.html", **link})
        assert response.status_code == 201, response.text
        return sid, response.json()


def test_link_downloads_from_s3_as_an_attachment(gateway: Gateway, user: str) -> None:
    _sid, link = _file_with_link(gateway, user, expires_in=600)
    assert link["url"].startswith(gateway.backend.endpoint + "/")
    expires_at = datetime.fromisoformat(link["expires_at"].replace("Z", "+00:00"))
    assert 590 <= (expires_at - datetime.now(UTC)).total_seconds() <= 610
    response = httpx.get(link["url"])  # no Authorization: the signature is the credential
    assert response.status_code == 200
    assert response.content == b"<b>v1</b>"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''q3%20r%C3%A9sum%C3%A9.html" in disposition
    # S3 answers with the type the gateway signed, never the stored text/html.
    assert response.headers["content-type"] == "application/octet-stream"


def test_a_link_reveals_neither_tenant_nor_user(gateway: Gateway) -> None:
    tenant, user = "acme-corp", "alice.smith@example.com"
    with gateway.client(user, tenant=tenant) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        api.put(f"/v1/sessions/{sid}/files/résumé 100%.txt", content=b"cv")
        link = api.post(f"/v1/sessions/{sid}/links", json={"path": "résumé 100%.txt"}).json()
    url = unquote(link["url"]).lower()
    for revealing in (tenant, user, "acme", "alice", "smith", "example", quote(user).lower()):
        assert revealing not in url, revealing
    assert httpx.get(link["url"]).content == b"cv"


def test_links_to_safe_types_keep_their_type(gateway: Gateway, user: str) -> None:
    with gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        name = "images/\U0001f5bc e\u0301te\u0301 100%.png"
        api.put(f"/v1/sessions/{sid}/files/{name}", content=b"\x89PNG", headers={"content-type": "image/png"})
        link = api.post(f"/v1/sessions/{sid}/links", json={"path": name}).json()
    response = httpx.get(link["url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"].startswith("attachment;")


def test_link_to_an_old_version(gateway: Gateway, user: str) -> None:
    with gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        first = api.put(f"/v1/sessions/{sid}/files/a.txt", content=b"first").json()["version_id"]
        api.put(f"/v1/sessions/{sid}/files/a.txt", content=b"second")
        link = api.post(f"/v1/sessions/{sid}/links", json={"path": "a.txt", "version_id": first}).json()
    assert httpx.get(link["url"]).content == b"first"


def test_links_use_the_public_endpoint_when_set(backend: Backend, user: str) -> None:
    """Clients may reach S3 under another name than the gateway does: links are signed for that name."""
    public = backend.endpoint.replace("127.0.0.1", "localhost")
    settings = gateway_settings(backend, backend.new_bucket(), GATEWAY_S3_PUBLIC_ENDPOINT_URL=public)
    with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
        gateway = Gateway(backend=backend, settings=settings, url=url)
        _sid, link = _file_with_link(gateway, user)
    assert link["url"].startswith(public + "/")
    response = httpx.get(link["url"])
    assert response.status_code == 200
    assert response.content == b"<b>v1</b>"


def test_link_input_is_checked(gateway: Gateway, api: httpx.Client, session_id: str) -> None:
    api.put(f"/v1/sessions/{session_id}/files/a.txt", content=b"x")
    base = f"/v1/sessions/{session_id}/links"
    assert api.post(base, json={"path": "a.txt", "expires_in": 604_801}).status_code == 400
    assert api.post(base, json={"path": "a.txt", "expires_in": 0}).status_code == 400
    assert api.post(base, json={"path": "a.txt", "expires_in": "60"}).status_code == 400
    assert api.post(base, json={"path": "missing.txt"}).status_code == 404
    assert api.post(base, json={}).status_code == 400
    assert api.post(base, json={"path": "a.txt", "expires_in": 604_800}).status_code == 201


def _tamper(url: str, name: str, change: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query[name] = change
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.mark.rgw_only
def test_tampered_links_are_refused_by_s3(rgw_gateway: Gateway, user: str) -> None:
    _sid, link = _file_with_link(rgw_gateway, user)
    url = link["url"]
    assert httpx.get(url).status_code == 200
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    assert httpx.get(_tamper(url, "X-Amz-Signature", flipped)).status_code == 403
    assert httpx.get(_tamper(url, "X-Amz-Expires", "604800")).status_code == 403
    assert httpx.get(_tamper(url, "response-content-disposition", "inline")).status_code == 403
    # Pointing the signed URL at another key in the same bucket fails too.
    other = url.replace("q3%20r%C3%A9sum%C3%A9.html", "other.html")
    assert other != url
    assert httpx.get(other).status_code == 403


@pytest.mark.rgw_only
def test_expired_links_are_refused_by_s3(rgw_gateway: Gateway, user: str) -> None:
    _sid, link = _file_with_link(rgw_gateway, user, expires_in=1)
    time.sleep(2.5)
    assert httpx.get(link["url"]).status_code == 403
