"""Share links: opened without a login, re-checked on every opening, revocable, countable, and silent when refused."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import unicodedata
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest

from gateway.changes import ChangeHook
from gateway.errors import NotFound
from gateway.policy.config import load_configured_policy
from gateway.services.assembly import assemble
from gateway.storage.store import Store
from tests.conftest import Gateway

NAME = "reports/q3 re\u0301sume\u0301 😀 100%.html"  # NFD, emoji, '%'
UNKNOWN = "a" * 32


def _owner(gateway: Gateway) -> tuple[str, httpx.Client]:
    user = f"owner-{uuid.uuid4().hex[:8]}"
    return user, gateway.client(user, tenant="acme")


def _session_with_file(api: httpx.Client, content: bytes = b"<b>v1</b>") -> str:
    sid = str(api.post("/v1/sessions", json={"name": "to share"}).json()["id"])
    response = api.put(
        f"/v1/sessions/{sid}/files/{quote(NAME)}", content=content, headers={"content-type": "text/html"}
    )
    assert response.status_code == 201
    return sid


def _share(api: httpx.Client, sid: str, **body: object) -> dict[str, object]:
    fields = {"path": NAME, **body}
    response = api.post(f"/v1/sessions/{sid}/shares", json={k: v for k, v in fields.items() if v is not None})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    share: dict[str, object] = response.json()
    return share


def _open(gateway: Gateway, url: str, method: str = "GET") -> httpx.Response:
    with httpx.Client(timeout=30) as anonymous:  # no Authorization: the link is the credential
        return anonymous.request(method, url)


def _gone(response: httpx.Response, gateway: Gateway) -> None:
    unknown = _open(gateway, f"{gateway.url}/s/{UNKNOWN}")
    assert response.status_code == unknown.status_code == 404
    strip = {"instance"}
    assert {k: v for k, v in response.json().items() if k not in strip} == {
        k: v for k, v in unknown.json().items() if k not in strip
    }


def test_a_link_redirects_to_the_file_without_a_login(gateway: Gateway) -> None:
    _user, api = _owner(gateway)
    with api:
        sid = _session_with_file(api)
        share = _share(api, sid)
        assert share["url"] == f"{gateway.url}/s/{share['id']}"
        assert share["expires_at"] is None and share["downloads"] == 0 and share["max_downloads"] is None
        opened = _open(gateway, str(share["url"]))
        assert opened.status_code == 303
        assert opened.headers["cache-control"] == "no-store"
        assert opened.headers["referrer-policy"] == "no-referrer"
        download = httpx.get(opened.headers["location"])
        assert download.content == b"<b>v1</b>"
        assert download.headers["content-disposition"].startswith("attachment;")
        assert download.headers["content-type"] == "application/octet-stream"  # never rendered as a page
        # HEAD checks a link without spending a download.
        assert _open(gateway, str(share["url"]), "HEAD").status_code == 303
        listed = api.get(f"/v1/sessions/{sid}/shares").json()["items"]
        assert [(s["id"], s["downloads"]) for s in listed] == [(share["id"], 1)]


def test_downloads_are_counted_exactly_even_when_opened_at_once(gateway: Gateway) -> None:
    _user, api = _owner(gateway)
    with api:
        sid = _session_with_file(api)
        share = _share(api, sid, max_downloads=3)
    openers = 8
    barrier = threading.Barrier(openers)
    statuses: list[int] = []

    def open_once() -> None:
        barrier.wait()
        statuses.append(_open(gateway, str(share["url"])).status_code)

    threads = [threading.Thread(target=open_once) for _ in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [303] * 3 + [404] * 5
    _gone(_open(gateway, str(share["url"])), gateway)
    with gateway.client(str(_user), tenant="acme") as again:
        assert again.get(f"/v1/sessions/{sid}/shares").json()["items"][0]["downloads"] == 3


def test_revoked_links_answer_like_unknown_ones(gateway: Gateway) -> None:
    _user, api = _owner(gateway)
    with api:
        sid = _session_with_file(api)
        share = _share(api, sid)
        assert api.delete(f"/v1/sessions/{sid}/shares/{share['id']}").status_code == 204
        _gone(_open(gateway, str(share["url"])), gateway)
        assert api.get(f"/v1/sessions/{sid}/shares").json()["items"] == []
        assert api.delete(f"/v1/sessions/{sid}/shares/{share['id']}").status_code == 404
        for malformed in ("x", "A" * 32, "a" * 31, "%2e%2e", "😀"):
            _gone(_open(gateway, f"{gateway.url}/s/{quote(malformed)}"), gateway)


def test_a_link_to_a_version_keeps_it_and_a_deleted_file_closes_a_link(gateway: Gateway) -> None:
    _user, api = _owner(gateway)
    with api:
        sid = _session_with_file(api)
        first = api.get(f"/v1/sessions/{sid}/history", params={"path": NAME}).json()["items"][0]["version_id"]
        pinned = _share(api, sid, version_id=first)
        current = _share(api, sid)
        api.put(f"/v1/sessions/{sid}/files/{quote(NAME)}", content=b"v2")
        assert httpx.get(_open(gateway, str(pinned["url"])).headers["location"]).content == b"<b>v1</b>"
        assert httpx.get(_open(gateway, str(current["url"])).headers["location"]).content == b"v2"
        assert api.delete(f"/v1/sessions/{sid}/files/{quote(NAME)}").status_code == 204
        _gone(_open(gateway, str(current["url"])), gateway)


def test_only_the_owner_makes_and_sees_links(gateway: Gateway) -> None:
    owner_id, api = _owner(gateway)
    with api, gateway.client("bob", tenant="acme") as bob:
        sid = _session_with_file(api)
        api.post(f"/v1/sessions/{sid}/grants", json={"user": "bob", "access": "write"})
        for response in (
            bob.post(f"/v1/sessions/{sid}/shares", json={"path": NAME}),
            bob.get(f"/v1/sessions/{sid}/shares"),
        ):
            assert response.status_code == 404
    with gateway.client(owner_id, tenant="acme", session_id=sid) as bound:
        assert bound.post(f"/v1/sessions/{sid}/shares", json={"path": NAME}).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"path": NAME, "prefix": "reports/"}, "path"),
        ({}, "path"),
        ({"path": NAME, "expires_in": 0}, "expires_in"),
        ({"path": NAME, "max_downloads": 0}, "max_downloads"),
        ({"prefix": "reports/", "version_id": "v1"}, "version_id"),
        ({"path": "../x"}, "path"),
    ],
)
def test_link_input_is_checked(gateway: Gateway, body: dict[str, object], field: str) -> None:
    _user, api = _owner(gateway)
    with api:
        sid = _session_with_file(api)
        response = api.post(f"/v1/sessions/{sid}/shares", json=body)
        assert response.status_code == 400, response.text
        assert field in response.text
        assert api.post(f"/v1/sessions/{sid}/shares", json={"path": "missing.txt"}).status_code == 404


def test_an_expired_link_opens_nothing(gateway: Gateway) -> None:
    owner_id, api = _owner(gateway)
    with api:
        sid = _session_with_file(api)
    now = [datetime.now(UTC)]
    settings = gateway.settings

    async def scenario() -> bool:
        async with Store(settings, credentials=gateway.backend.credentials) as store:
            core = assemble(
                store,
                settings,
                load_configured_policy(settings),
                hook=ChangeHook(),
                clock=lambda: now[0],
                owner_key=gateway.owner_key,
            )
            assert core.shares is not None
            owner = gateway.owner(owner_id, "acme")
            share = await core.shares.create(
                owner, owner.session(sid), path=NAME, prefix=None, version_id=None, expires_in=3600, max_downloads=None
            )
            opened = (await core.shares.open(share.id)).url is not None
            now[0] += timedelta(hours=1)
            with pytest.raises(NotFound):
                await core.shares.open(share.id)
            return opened

    assert asyncio.run(scenario())


@pytest.mark.parametrize("purge", [False, True])
def test_deleting_a_session_closes_its_links_and_grants(gateway: Gateway, purge: bool) -> None:
    _user, api = _owner(gateway)
    with api, gateway.client("carol 😀", tenant="acme") as carol:
        sid = _session_with_file(api)
        share = _share(api, sid)
        api.post(f"/v1/sessions/{sid}/grants", json={"user": "carol 😀", "access": "read"})
        assert [g["session_id"] for g in carol.get("/v1/shared").json()["items"]] == [sid]
        assert api.delete(f"/v1/sessions/{sid}", params={"purge": str(purge).lower()}).status_code == 204
        _gone(_open(gateway, str(share["url"])), gateway)
        assert carol.get("/v1/shared").json()["items"] == []
    s3 = gateway.backend.client()
    for prefix in (
        f"{gateway.settings.key_root}/_gateway/shares/{share['id']}",
        gateway.owner("carol 😀", "acme").prefix,
    ):
        assert s3.list_objects_v2(Bucket=gateway.settings.bucket, Prefix=prefix).get("KeyCount") == 0, prefix


def test_a_folder_link_streams_its_files_as_a_zip_and_nothing_beside_them(gateway: Gateway) -> None:
    owner_id, api = _owner(gateway)
    with api:
        sid = _session_with_file(api)
        deep = quote("reports/sub/n\u0303 100%.txt")  # NFD
        api.put(f"/v1/sessions/{sid}/files/{deep}", content=b"deep")
        api.put(f"/v1/sessions/{sid}/files/private.txt", content=b"secret")
        folder = _share(api, sid, path=None, prefix="reports/")
        whole = _share(api, sid, path=None, prefix="", max_downloads=1)
    assert _open(gateway, str(folder["url"]), "HEAD").status_code == 200
    opened = _open(gateway, str(folder["url"]))
    assert opened.status_code == 200 and opened.headers["content-type"] == "application/zip"
    assert opened.headers["cache-control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(opened.content))
    names = sorted(archive.namelist())
    nfc = unicodedata.normalize("NFC", NAME)
    assert names == sorted([nfc, "reports/sub/\u00f1 100%.txt", "manifest.json"])
    assert archive.read(nfc) == b"<b>v1</b>"
    assert "private.txt" not in json.dumps(json.loads(archive.read("manifest.json")))
    everything = zipfile.ZipFile(io.BytesIO(_open(gateway, str(whole["url"])).content))
    assert "private.txt" in everything.namelist()
    _gone(_open(gateway, str(whole["url"])), gateway)  # its one download is spent
    with gateway.client(owner_id, tenant="acme") as again:
        counts = {s["id"]: s["downloads"] for s in again.get(f"/v1/sessions/{sid}/shares").json()["items"]}
    assert counts == {folder["id"]: 1, whole["id"]: 1}
