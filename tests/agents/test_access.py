"""Who reaches what through `/mcp`: exactly what the same token reaches through the HTTP API."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import httpx
from mcp.client.session import ClientSession

from tests.agents.client import as_agent, call, problem
from tests.conftest import Gateway

TENANT = "acme"
PATH = "notes é 😀 100%/cafe\u0301.txt"
NO_SESSION = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


def _user() -> str:
    return f"usér-{uuid.uuid4().hex[:8]} 😀"


def _session_with_file(client: httpx.Client, name: str) -> str:
    sid = str(client.post("/v1/sessions", json={"name": name}).json()["id"])
    assert client.put(f"/v1/sessions/{sid}/files/{quote(PATH)}", content=name.encode()).status_code == 201
    return sid


# Every tool that names a session, with arguments that would succeed on a session of the caller's.
def _calls(sid: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("list_files", {"session_id": sid}),
        ("read_file", {"session_id": sid, "path": PATH}),
        ("write_file", {"session_id": sid, "path": PATH, "content": "x"}),
        ("delete_file", {"session_id": sid, "path": PATH}),
        ("file_history", {"session_id": sid, "path": PATH}),
        ("rollback_file", {"session_id": sid, "path": PATH, "version_id": "v1"}),
        ("create_share_link", {"session_id": sid, "path": PATH}),
    ]


async def _like_missing(session: ClientSession, sid: str, *, forbidden: frozenset[str] = frozenset()) -> None:
    """Each tool answers about `sid` exactly as about a session that does not exist: 404, except the tools the
    token may not use at all (`forbidden`: 403 whatever the session)."""
    for (tool, arguments), (_, missing) in zip(_calls(sid), _calls(NO_SESSION), strict=True):
        refused = await problem(session, tool, **arguments)
        assert refused == await problem(session, tool, **missing), tool
        assert refused["status"] == (403 if tool in forbidden else 404), tool


def test_another_users_session_answers_like_a_missing_one_and_a_grant_opens_what_it_opens(gateway: Gateway) -> None:
    owner, stranger, grantee = _user(), _user(), _user()
    with gateway.client(owner, tenant=TENANT) as http:
        sid = _session_with_file(http, "owner's")
        granted = http.post(f"/v1/sessions/{sid}/grants", json={"user": grantee, "access": "read"})
        assert granted.status_code == 201, granted.text

    gateway.touched.clear()
    as_agent(gateway, gateway.token(stranger, tenant=TENANT), lambda session: _like_missing(session, sid))
    # Not one key outside the stranger's own prefix was named to S3.
    own = gateway.owner(stranger, TENANT).prefix
    assert gateway.touched and [(op, key) for op, key in gateway.touched if not key.startswith(own)] == []

    async def as_grantee(session: ClientSession) -> None:
        read = await call(session, "read_file", session_id=sid, path=PATH)
        assert read["content"] == "owner's"
        assert [item["path"] for item in (await call(session, "list_files", session_id=sid))["items"]]
        # A read grant writes nothing, and shares nothing: the answers of a session that does not exist.
        for tool, arguments in (
            ("write_file", {"session_id": sid, "path": PATH, "content": "x"}),
            ("create_share_link", {"session_id": sid, "path": PATH}),
        ):
            missing = {**arguments, "session_id": NO_SESSION}
            assert await problem(session, tool, **arguments) == await problem(session, tool, **missing)

    as_agent(gateway, gateway.token(grantee, tenant=TENANT), as_grantee)


def test_a_session_bound_token_reaches_its_session_only(gateway: Gateway, user: str) -> None:
    with gateway.client(user) as http:
        bound_sid = _session_with_file(http, "bound é")
        other_sid = _session_with_file(http, "other é")
        token = gateway.token(user, session_id=bound_sid)
        # The HTTP API's answers to the same token, for comparison.
        http_listing = httpx.get(f"{gateway.url}/v1/sessions", headers={"Authorization": f"Bearer {token}"}).json()
        http_share = httpx.post(
            f"{gateway.url}/v1/sessions/{bound_sid}/shares",
            json={"path": PATH},
            headers={"Authorization": f"Bearer {token}"},
        )

    async def scenario(session: ClientSession) -> None:
        assert (await call(session, "read_file", session_id=bound_sid, path=PATH))["content"] == "bound é"
        await _like_missing(session, other_sid, forbidden=frozenset({"create_share_link"}))
        found = await call(session, "search_sessions")
        assert [item["id"] for item in found["items"]] == [bound_sid] == [item["id"] for item in http_listing["items"]]
        assert (await call(session, "search_sessions", q="other"))["items"] == []
        # It acts inside its session but does not hand it out: refused as the HTTP API refuses it.
        refused = await problem(session, "create_share_link", session_id=bound_sid, path=PATH)
        assert refused["status"] == http_share.status_code == 403
        assert {k: v for k, v in http_share.json().items() if k != "instance"} == refused

    as_agent(gateway, token, scenario)


def test_a_read_only_token_cannot_write(gateway: Gateway, user: str) -> None:
    with gateway.client(user) as http:
        sid = _session_with_file(http, "read only")

    async def scenario(session: ClientSession) -> None:
        assert (await call(session, "read_file", session_id=sid, path=PATH))["content"] == "read only"
        refused = await problem(session, "write_file", session_id=sid, path=PATH, content="x")
        assert (refused["status"], refused["type"], refused["required_scope"]) == (
            403,
            "/problems/insufficient-scope",
            "files:write",
        )

    as_agent(gateway, gateway.token(user, scope="files:read"), scenario)


def test_no_token_or_a_bad_one_is_the_http_apis_401(gateway: Gateway) -> None:
    with httpx.Client(base_url=gateway.url) as anonymous:
        for headers in ({}, {"Authorization": "Bearer not.a.token"}, {"Authorization": "Basic dXNlcg=="}):
            answer = anonymous.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **headers})
            api = anonymous.get("/v1/sessions", headers=headers)
            assert answer.status_code == api.status_code == 401
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.headers["www-authenticate"] == api.headers["www-authenticate"]
            body = answer.json()
            assert body.pop("instance") == "/mcp"
            assert body == {k: v for k, v in api.json().items() if k != "instance"}
        # Without MCP sessions there is nothing to GET or DELETE.
        assert anonymous.get("/mcp").status_code == 405
