"""Grants: an owner opens a session or one folder to another user of the tenant; nothing else becomes reachable."""

from __future__ import annotations

import asyncio
import io
import unicodedata
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest

from gateway.changes import ChangeHook
from gateway.policy.config import load_configured_policy
from gateway.services.assembly import assemble
from gateway.storage.store import Store
from tests.conftest import Gateway

TENANT = "acme"
SHARED = "shared é 😀 100%/"
SHARED_FILE = SHARED + "cafe\u0301 notes.txt"  # NFD: stored and compared as NFC
PRIVATE_FILE = "private/secret 🔑.txt"


def _new(gateway: Gateway, *, tenant: str = TENANT) -> tuple[str, httpx.Client]:
    user = f"usér-{uuid.uuid4().hex[:8]} 😀"
    return user, gateway.client(user, tenant=tenant)


def _session_with_files(owner: httpx.Client) -> str:
    sid = str(owner.post("/v1/sessions", json={"name": "shared work"}).json()["id"])
    for path in (SHARED_FILE, PRIVATE_FILE, SHARED + "sub/deeper.txt"):
        assert owner.put(f"/v1/sessions/{sid}/files/{quote(path)}", content=path.encode()).status_code == 201
    return sid


def _grant(owner: httpx.Client, sid: str, user: str, access: str, **extra: object) -> dict[str, object]:
    response = owner.post(f"/v1/sessions/{sid}/grants", json={"user": user, "access": access, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


NO_SESSION = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def _like_missing(client: httpx.Client, sid: str, method: str, rest: str, **kwargs: object) -> None:
    """The request answers exactly as the same request about a session that does not exist."""
    response = client.request(method, f"/v1/sessions/{sid}{rest}", **kwargs)  # type: ignore[arg-type]
    missing = client.request(method, f"/v1/sessions/{NO_SESSION}{rest}", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == missing.status_code == 404, (rest, response.text)
    strip = {"instance"}
    assert {k: v for k, v in response.json().items() if k not in strip} == {
        k: v for k, v in missing.json().items() if k not in strip
    }


def test_a_read_grant_opens_one_folder_and_nothing_beside_it(gateway: Gateway) -> None:
    owner_id, owner = _new(gateway)
    bob_id, bob = _new(gateway)
    with owner, bob:
        sid = _session_with_files(owner)
        grant = _grant(owner, sid, bob_id, "read", prefix=SHARED)
        assert grant["prefix"] == SHARED and grant["access"] == "read" and grant["expires_at"] is None
        base = f"/v1/sessions/{sid}"
        assert bob.get(f"{base}/files/{quote(SHARED_FILE)}").content == SHARED_FILE.encode()
        assert bob.head(f"{base}/files/{quote(SHARED_FILE)}").status_code == 200
        listing = bob.get(f"{base}/files", params={"prefix": ""}).json()["items"]
        assert sorted(item["path"] for item in listing) == sorted(
            p.replace("cafe\u0301", "caf\u00e9") for p in (SHARED_FILE, SHARED + "sub/deeper.txt")
        )
        history = bob.get(f"{base}/history", params={"path": SHARED_FILE}).json()["items"]
        assert len(history) == 1
        link = bob.post(f"{base}/links", json={"path": SHARED_FILE})
        assert link.status_code == 201 and httpx.get(link.json()["url"]).content == SHARED_FILE.encode()

        before = len(gateway.touched)
        _like_missing(bob, sid, "GET", f"/files/{quote(PRIVATE_FILE)}")
        owners_private = gateway.owner(owner_id, TENANT).session(sid).folder("private/")
        outside = [key for _op, key in gateway.touched[before:] if key.startswith(owners_private)]
        assert outside == [], "a key of the owner's outside the grant was named"
        _like_missing(bob, sid, "GET", f"/files/{quote(SHARED + 'absent.txt')}")
        _like_missing(bob, sid, "GET", "/history", params={"path": PRIVATE_FILE})
        _like_missing(bob, sid, "POST", "/links", json={"path": PRIVATE_FILE})
        _like_missing(bob, sid, "GET", "/files", params={"prefix": "private/"})
        # Read only: writes answer like a session that does not exist, and nothing is written.
        _like_missing(bob, sid, "PUT", f"/files/{quote(SHARED + 'new.txt')}", content=b"x")
        _like_missing(bob, sid, "DELETE", f"/files/{quote(SHARED_FILE)}")
        _like_missing(bob, sid, "POST", "/rollback", json={"path": SHARED_FILE, "version_id": "v"})
        # The session itself and its grants stay the owner's.
        _like_missing(bob, sid, "GET", "")
        _like_missing(bob, sid, "GET", "/grants")
        _like_missing(bob, sid, "POST", "/grants", json={"user": "eve", "access": "read"})
        assert owner.get(f"{base}/files/{quote(SHARED + 'new.txt')}").status_code == 404


def test_a_write_grant_lets_the_grantee_change_files_inside_only(gateway: Gateway) -> None:
    _owner_id, owner = _new(gateway)
    bob_id, bob = _new(gateway)
    with owner, bob:
        sid = _session_with_files(owner)
        _grant(owner, sid, bob_id, "write", prefix=SHARED)
        base = f"/v1/sessions/{sid}/files/"
        assert bob.put(base + quote(SHARED + "from bob 100%.txt"), content=b"hi").status_code == 201
        assert owner.get(base + quote(SHARED + "from bob 100%.txt")).content == b"hi"
        assert bob.put(base + quote(SHARED_FILE), content=b"edited").status_code == 200
        assert bob.delete(base + quote(SHARED + "sub/deeper.txt")).status_code == 204
        assert owner.get(base + quote(SHARED + "sub/deeper.txt")).status_code == 404
        assert bob.put(base + quote("private/planted.txt"), content=b"x").status_code == 404
        assert bob.delete(base + quote(PRIVATE_FILE)).status_code == 404
        assert bob.delete(base + "private/?recursive=true").status_code == 404
        assert owner.get(base + quote(PRIVATE_FILE)).content == PRIVATE_FILE.encode()
        assert owner.get(base + "private/planted.txt").status_code == 404
        # Nothing landed under the grantee's own prefix either.
        assert bob.get("/v1/sessions").json()["items"] == []


def test_other_tenants_other_users_and_revocation(gateway: Gateway) -> None:
    _owner_id, owner = _new(gateway)
    bob_id, bob = _new(gateway)
    with owner, bob, gateway.client(bob_id, tenant="other") as bob_elsewhere, gateway.client("eve") as eve:
        sid = _session_with_files(owner)
        grant = _grant(owner, sid, bob_id, "read")
        path = f"/v1/sessions/{sid}/files/{quote(PRIVATE_FILE)}"
        assert bob.get(path).status_code == 200  # no prefix: the whole session
        assert bob_elsewhere.get(path).status_code == 404  # the same sub in another tenant is someone else
        assert eve.get(path).status_code == 404
        shared = bob.get("/v1/shared").json()["items"]
        assert [(g["id"], g["session_id"]) for g in shared] == [(grant["id"], sid)]
        assert bob_elsewhere.get("/v1/shared").json()["items"] == []
        assert [g["id"] for g in owner.get(f"/v1/sessions/{sid}/grants").json()["items"]] == [grant["id"]]
        assert owner.delete(f"/v1/sessions/{sid}/grants/{grant['id']}").status_code == 204
        assert bob.get(path).status_code == 404
        assert bob.get("/v1/shared").json()["items"] == []
        assert owner.get(f"/v1/sessions/{sid}/grants").json()["items"] == []
        assert owner.delete(f"/v1/sessions/{sid}/grants/{grant['id']}").status_code == 404
        # Once revoked, the user may be granted again.
        _grant(owner, sid, bob_id, "write")
        assert bob.put(path, content=b"again").status_code == 200


def test_grant_input_is_checked(gateway: Gateway) -> None:
    owner_id, owner = _new(gateway)
    bob_id, bob = _new(gateway)
    with owner, bob:
        sid = _session_with_files(owner)
        url = f"/v1/sessions/{sid}/grants"
        cases = {
            "user": {"user": owner_id, "access": "read"},
            "access": {"user": bob_id, "access": "admin"},
            "prefix": {"user": bob_id, "access": "read", "prefix": "../up/"},
            "expires_at": {"user": bob_id, "access": "read", "expires_at": "2001-01-01T00:00:00Z"},
        }
        for field, body in cases.items():
            response = owner.post(url, json=body)
            assert response.status_code == 400, (field, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert field in response.text, (field, response.text)
        for moment in ("tomorrow", "2030-01-01", "2030-01-01T00:00:00"):
            response = owner.post(url, json={"user": bob_id, "access": "read", "expires_at": moment})
            assert response.status_code == 400 and "expires_at" in response.text, moment
        _grant(owner, sid, bob_id, "read")
        assert owner.post(url, json={"user": bob_id, "access": "write"}).status_code == 409
        assert owner.delete(f"{url}/not-a-grant").status_code == 404
        assert owner.post("/v1/sessions/01ARZ3NDEKTSV4RRFFQ69G5FAV/grants", json={"user": bob_id, "access": "read"})
        assert bob.get("/v1/shared").status_code == 200


def test_an_expired_grant_opens_nothing(gateway: Gateway) -> None:
    _owner_id, owner = _new(gateway)
    bob_id, _bob = _new(gateway)
    with owner:
        sid = _session_with_files(owner)
    now = [datetime.now(UTC)]
    settings = gateway.settings

    async def scenario() -> tuple[bool, bool, int]:
        async with Store(settings, credentials=gateway.backend.credentials) as store:
            core = assemble(store, settings, load_configured_policy(settings), hook=ChangeHook(), clock=lambda: now[0])
            owner_of = gateway.owner(_owner_id, TENANT)
            grantee = gateway.owner(bob_id, TENANT)
            keys = owner_of.session(sid)
            await core.grants.create(
                owner_of, keys, user=bob_id, access="write", prefix="", expires_at=now[0] + timedelta(hours=1)
            )
            before = await core.grants.resolve(grantee, sid, "write") is not None
            now[0] += timedelta(hours=1)
            after = await core.grants.resolve(grantee, sid, "read") is not None
            listed = len(await core.grants.of_session(keys))  # the owner still sees it, with its end
            return before, after, listed

    before, after, listed = asyncio.run(scenario())
    assert before and not after and listed == 1


@pytest.mark.parametrize("access", ["read", "write"])
def test_a_session_bound_token_cannot_hand_out_its_session(gateway: Gateway, access: str) -> None:
    owner_id, owner = _new(gateway)
    with owner:
        sid = _session_with_files(owner)
    with gateway.client(owner_id, tenant=TENANT, session_id=sid) as bound:
        response = bound.post(f"/v1/sessions/{sid}/grants", json={"user": "bob", "access": access})
        assert response.status_code == 403


def test_a_grantee_copies_out_what_is_granted_and_nothing_else(gateway: Gateway) -> None:
    _owner_id, owner = _new(gateway)
    bob_id, bob = _new(gateway)
    with owner, bob:
        sid = _session_with_files(owner)
        _grant(owner, sid, bob_id, "read", prefix=SHARED)
        mine = bob.post("/v1/sessions", json={}).json()["id"]
        copied = bob.post(f"/v1/sessions/{sid}/copy", json={"from": SHARED_FILE, "to": "mine.txt", "to_session": mine})
        assert copied.status_code == 200, copied.text
        assert bob.get(f"/v1/sessions/{mine}/files/mine.txt").content == SHARED_FILE.encode()
        outside = {"from": PRIVATE_FILE, "to": "stolen.txt", "to_session": mine}
        _like_missing(bob, sid, "POST", "/copy", json=outside)
        # Read access: moving out (which deletes in the owner's session) or copying inside it is refused.
        _like_missing(bob, sid, "POST", "/move", json={"from": SHARED_FILE, "to": "moved.txt", "to_session": mine})
        _like_missing(bob, sid, "POST", "/copy", json={"from": SHARED_FILE, "to": SHARED + "dup.txt"})
        assert owner.get(f"/v1/sessions/{sid}/files/{quote(SHARED_FILE)}").status_code == 200
        assert bob.get(f"/v1/sessions/{mine}/files/stolen.txt").status_code == 404


def test_a_grantee_exports_only_what_is_granted(gateway: Gateway) -> None:
    _owner_id, owner = _new(gateway)
    bob_id, bob = _new(gateway)
    with owner, bob:
        sid = _session_with_files(owner)
        _grant(owner, sid, bob_id, "read", prefix=SHARED)
        whole = bob.get(f"/v1/sessions/{sid}/export.zip")
        assert whole.status_code == 200, whole.text
        names = zipfile.ZipFile(io.BytesIO(whole.content)).namelist()
        assert "manifest.json" in names and not [n for n in names if n.startswith("private/")]
        assert unicodedata.normalize("NFC", SHARED_FILE) in names
        _like_missing(bob, sid, "GET", "/export.zip", params={"prefix": "private/"})
        _like_missing(bob, sid, "GET", "/export.zip", params={"path": PRIVATE_FILE})
