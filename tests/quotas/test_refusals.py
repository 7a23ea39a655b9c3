"""Quota refusals at every level (session, user, tenant; bytes and files), each with nothing stored."""

from __future__ import annotations

from collections.abc import Iterator

from tests.conftest import Gateway
from tests.quotas.helpers import NAMES, client, new_session, put, versions_under


def _refused(gateway: Gateway, response: object, quota: str, limit: int, used: int, requested: int) -> None:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith("/quota-exceeded")
    assert (body["quota"], body["limit"], body["used"], body["requested"]) == (quota, limit, used, requested)


def _nothing_stored(gateway: Gateway, api_owner: str, tenant: str, session_id: str, path: str) -> None:
    keys = gateway.owner(api_owner, tenant).session(session_id)
    assert versions_under(gateway, keys.file(path)) == []


def test_session_bytes_and_files(quotas: Gateway) -> None:
    user = "user-session-limits"
    with client(quotas, "t-session", user) as api:
        sid = new_session(api)
        assert put(api, sid, NAMES[0], b"a" * 60).status_code == 201
        _refused(quotas, put(api, sid, NAMES[1], b"b" * 41), "session.bytes", 100, 60, 41)
        _nothing_stored(quotas, user, "t-session", sid, NAMES[1])
        assert put(api, sid, NAMES[2], b"c" * 40).status_code == 201  # exactly the limit
        assert put(api, sid, NAMES[3], b"").status_code == 201
        _refused(quotas, put(api, sid, NAMES[4], b""), "session.files", 3, 3, 1)
        _nothing_stored(quotas, user, "t-session", sid, NAMES[4])
        # Another session of the same user has its own room.
        other = new_session(api)
        assert put(api, other, NAMES[4], b"d" * 100).status_code == 201


def test_user_bytes_and_files_across_sessions(quotas: Gateway) -> None:
    user = "user-user-limits"
    with client(quotas, "t-user", user) as api:
        first, second = new_session(api), new_session(api)
        assert put(api, first, NAMES[0], b"a" * 100).status_code == 201
        _refused(quotas, put(api, second, NAMES[1], b"b" * 51), "user.bytes", 150, 100, 51)
        _nothing_stored(quotas, user, "t-user", second, NAMES[1])
        for name in NAMES[1:4]:
            assert put(api, second, name, b"").status_code == 201
        _refused(quotas, put(api, first, NAMES[4], b"x"), "user.files", 4, 4, 1)
        _nothing_stored(quotas, user, "t-user", first, NAMES[4])
    with client(quotas, "t-user") as other:  # another user of the tenant is not held back
        assert put(other, new_session(other), NAMES[0], b"a" * 150).status_code == 201


def test_tenant_bytes_and_files_across_users(quotas: Gateway) -> None:
    with client(quotas, "t-tenant-bytes", "alice") as alice, client(quotas, "t-tenant-bytes", "bob") as bob:
        assert put(alice, new_session(alice), NAMES[0], b"a" * 150).status_code == 201
        sid = new_session(bob)
        _refused(quotas, put(bob, sid, NAMES[2], b"b" * 51), "tenant.bytes", 200, 150, 51)
        _nothing_stored(quotas, "bob", "t-tenant-bytes", sid, NAMES[2])
    with client(quotas, "t-tenant-files", "carol") as carol, client(quotas, "t-tenant-files", "dave") as dave:
        sid = new_session(carol)
        for name in NAMES[:3]:
            assert put(carol, sid, name, b"z").status_code == 201
        other = new_session(dave)
        _refused(quotas, put(dave, other, NAMES[3], b"z"), "tenant.files", 3, 3, 1)
        _nothing_stored(quotas, "dave", "t-tenant-files", other, NAMES[3])


def test_overwrite_needs_only_the_difference(quotas: Gateway) -> None:
    with client(quotas, "t-session") as api:
        sid = new_session(api)
        assert put(api, sid, NAMES[3], b"a" * 90).status_code == 201
        assert put(api, sid, NAMES[3], b"b" * 100).status_code == 200  # 10 more bytes, no more files
        _refused(quotas, put(api, sid, NAMES[3], b"c" * 101), "session.bytes", 100, 100, 1)
        assert api.get(f"/v1/sessions/{sid}/files/{NAMES[3]}").content == b"b" * 100


def test_unknown_length_is_held_to_the_room_left(quotas: Gateway) -> None:
    user = "user-chunked"
    with client(quotas, "t-chunked", user) as api:
        sid = new_session(api)
        assert put(api, sid, NAMES[0], b"a" * 70).status_code == 201

        def body(size: int) -> Iterator[bytes]:
            for _ in range(size):
                yield b"x"

        refused = api.put(f"/v1/sessions/{sid}/files/{NAMES[2]}", content=body(31))
        assert refused.status_code == 413, refused.text
        assert refused.json()["quota"] == "session.bytes"
        _nothing_stored(quotas, user, "t-chunked", sid, NAMES[2])
        fits = api.put(f"/v1/sessions/{sid}/files/{NAMES[2]}", content=body(30))
        assert fits.status_code == 201, fits.text


def test_overrides_and_tenant_less_tokens(quotas: Gateway) -> None:
    with client(quotas, None) as api:  # [no_tenant]: one file per session
        sid = new_session(api)
        assert put(api, sid, NAMES[0], b"a").status_code == 201
        _refused(quotas, put(api, sid, NAMES[1], b"b"), "session.files", 1, 1, 1)
    with client(quotas, "t-unlimited") as api:  # no limit at all: nothing is counted
        sid = new_session(api)
        for name in NAMES:
            assert put(api, sid, name, b"u").status_code == 201
        usage = api.get("/v1/usage", params={"session": sid}).json()
        assert usage["session"] == {"bytes": {"used": 5, "limit": None}, "files": {"used": 5, "limit": None}}
