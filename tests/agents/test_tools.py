"""The agent tools over `POST /mcp`, driven by the MCP SDK's own client against a running gateway."""

from __future__ import annotations

import asyncio
import base64
import unicodedata
from typing import Any
from urllib.parse import quote

import httpx
from mcp.client.session import ClientSession

from gateway.agents.arguments import MAX_READ_BYTES
from gateway.policy.config import load_configured_policy
from tests.agents.client import as_agent, call, connected_statelessly, problem
from tests.conftest import Gateway

FOLDER = "dossier é 😀 100%/"
TEXT_PATH = FOLDER + "cafe\u0301 notes.txt"  # NFD: stored and listed as NFC
STORED_TEXT_PATH = unicodedata.normalize("NFC", TEXT_PATH)
BINARY_PATH = "bin 😀%25/données.bin"
BINARY = bytes(range(256))
TOOL_NAMES = {
    "search_sessions",
    "list_files",
    "read_file",
    "write_file",
    "delete_file",
    "file_history",
    "rollback_file",
    "create_share_link",
}


def test_tools_are_listed_with_typed_schemas(gateway: Gateway, user: str) -> None:
    async def scenario(session: ClientSession) -> list[dict[str, Any]]:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(tools) == TOOL_NAMES
        for tool in tools.values():
            assert tool.description and len(tool.description) > 40
            schema = tool.input_schema
            assert schema["type"] == "object" and schema["additionalProperties"] is False
            assert all("type" in spec or "anyOf" in spec for spec in schema["properties"].values())
        read = tools["read_file"].input_schema
        assert set(read["required"]) == {"session_id", "path"}
        assert read["properties"]["encoding"]["enum"] == ["auto", "text", "base64"]
        assert tools["read_file"].annotations is not None and tools["read_file"].annotations.read_only_hint
        write = tools["write_file"].input_schema
        assert write["properties"]["tier"]["enum"] == list(load_configured_policy(gateway.settings).names)
        assert "'..'" in read["properties"]["path"]["description"]
        assert tools["delete_file"].annotations is not None and tools["delete_file"].annotations.destructive_hint

        return [tool.model_dump() for tool in tools.values()]

    listed = as_agent(gateway, gateway.token(user), scenario)

    async def stateless() -> None:
        # A client of the revision without a handshake is told the same tools, and calls them the same way.
        async with connected_statelessly(gateway, gateway.token(user)) as client:
            assert [tool.model_dump() for tool in (await client.list_tools()).tools] == listed
            found = await client.call_tool("search_sessions", {"q": "no session has this name 😀"})
            assert not found.is_error and found.structured_content == {"items": [], "next_cursor": None}

    asyncio.run(stateless())


def test_every_tool_on_names_with_accents_emoji_and_percent(gateway: Gateway, api: httpx.Client, user: str) -> None:
    sid = str(api.post("/v1/sessions", json={"name": "Rapport été 🎉 100%"}).json()["id"])

    async def scenario(session: ClientSession) -> dict[str, Any]:
        first = await call(session, "write_file", session_id=sid, path=TEXT_PATH, content="a😀b")
        assert first["created"] is True and first["file"]["path"] == STORED_TEXT_PATH
        assert first["file"]["content_type"] == "text/plain; charset=utf-8"
        whole = await call(session, "read_file", session_id=sid, path=TEXT_PATH)
        assert (whole["content"], whole["encoding"], whole["truncated"]) == ("a😀b", "text", False)
        assert whole["next_offset"] is None
        assert whole["file"]["size"] == 6 and whole["file"]["etag"] == first["file"]["etag"]
        # A range that cuts the emoji in two returns the text before it, and says where to go on.
        head = await call(session, "read_file", session_id=sid, path=STORED_TEXT_PATH, offset=0, length=3)
        assert (head["content"], head["length"], head["truncated"], head["next_offset"]) == ("a", 1, True, 1)
        tail = await call(session, "read_file", session_id=sid, path=TEXT_PATH, offset=head["next_offset"])
        assert (tail["content"], tail["length"], tail["truncated"], tail["file"]["size"]) == ("😀b", 5, False, 6)
        assert tail["limit_bytes"] == MAX_READ_BYTES

        second = await call(
            session, "write_file", session_id=sid, path=TEXT_PATH, content="deux", if_match=first["file"]["etag"]
        )
        assert second["created"] is False
        binary = await call(
            session,
            "write_file",
            session_id=sid,
            path=BINARY_PATH,
            content=base64.b64encode(BINARY).decode(),
            encoding="base64",
            create_only=True,
        )
        assert binary["file"]["size"] == 256 and binary["file"]["content_type"] == "application/octet-stream"
        start = await call(session, "read_file", session_id=sid, path=BINARY_PATH, length=16)
        assert start["encoding"] == "base64" and base64.b64decode(start["content"]) == BINARY[:16]
        assert (start["truncated"], start["next_offset"]) == (True, 16)
        end = await call(session, "read_file", session_id=sid, path=BINARY_PATH, offset=200, encoding="base64")
        assert base64.b64decode(end["content"]) == BINARY[200:] and end["truncated"] is False
        not_text = await problem(session, "read_file", session_id=sid, path=BINARY_PATH, encoding="text")
        assert (not_text["status"], not_text["field"]) == (400, "encoding")

        listing = await call(session, "list_files", session_id=sid, prefix=FOLDER)
        assert [item["path"] for item in listing["items"]] == [STORED_TEXT_PATH]
        top = await call(session, "list_files", session_id=sid, delimiter="/")
        assert top["items"] == [] and sorted(top["prefixes"]) == sorted([FOLDER, "bin 😀%25/"])

        history = await call(session, "file_history", session_id=sid, path=TEXT_PATH)
        versions = [entry["version_id"] for entry in history["items"]]
        assert versions == [second["file"]["version_id"], first["file"]["version_id"]]
        rolled = await call(session, "rollback_file", session_id=sid, path=TEXT_PATH, version_id=versions[-1])
        assert rolled["path"] == STORED_TEXT_PATH and rolled["size"] == 6
        again = await call(session, "read_file", session_id=sid, path=TEXT_PATH)
        assert again["content"] == "a😀b"

        found = await call(session, "search_sessions", q="rapport ete", state=["active"], order="desc")
        assert [item["id"] for item in found["items"]] == [sid]
        assert (await call(session, "search_sessions", state=["ended"]))["items"] == []

        link = await call(session, "create_share_link", session_id=sid, path=TEXT_PATH, max_downloads=1)
        assert link["path"] == STORED_TEXT_PATH and link["url"].startswith(gateway.url + "/s/")

        deleted = await call(session, "delete_file", session_id=sid, path=BINARY_PATH)
        assert deleted["deleted_files"] == 1
        gone = await problem(session, "read_file", session_id=sid, path=BINARY_PATH)
        assert (gone["status"], gone["type"]) == (404, "/problems/not-found")
        await call(session, "write_file", session_id=sid, path="tmp 😀/x 100%.txt", content="x")
        folder = await call(session, "delete_file", session_id=sid, path="tmp 😀/", recursive=True)
        assert folder["deleted_files"] == 1
        return link

    link = as_agent(gateway, gateway.token(user), scenario)
    # What the tools wrote is what the HTTP API serves, and the link opens without a login.
    with httpx.Client() as anonymous:
        assert anonymous.get(link["url"]).status_code == 303
    listing = api.get(f"/v1/sessions/{sid}/files").json()
    assert [item["path"] for item in listing["items"]] == [STORED_TEXT_PATH]
    assert api.get(f"/v1/sessions/{sid}/files/{quote(TEXT_PATH)}").content == "a😀b".encode()


def test_a_stale_etag_and_bad_arguments_are_tool_errors_with_the_problem(
    gateway: Gateway, api: httpx.Client, user: str, session_id: str
) -> None:
    async def scenario(session: ClientSession) -> None:
        old = await call(session, "write_file", session_id=session_id, path=TEXT_PATH, content="v1")
        new = await call(session, "write_file", session_id=session_id, path=TEXT_PATH, content="v2")
        stale = await problem(
            session, "write_file", session_id=session_id, path=TEXT_PATH, content="v3", if_match=old["file"]["etag"]
        )
        assert stale["type"] == "/problems/precondition-failed" and stale["status"] == 412
        assert stale["title"] and stale["detail"]
        taken = await problem(
            session, "write_file", session_id=session_id, path=TEXT_PATH, content="v3", create_only=True
        )
        assert taken["status"] == 412
        current = await call(session, "read_file", session_id=session_id, path=TEXT_PATH)
        assert current["content"] == "v2" and current["file"]["etag"] == new["file"]["etag"]

        negative = await problem(session, "read_file", session_id=session_id, path=TEXT_PATH, offset=-1)
        assert (negative["type"], negative["status"], negative["field"]) == ("/problems/invalid-body", 400, "offset")
        unknown = await problem(session, "list_files", session_id=session_id, recursive=True)
        assert unknown["field"] == "recursive" and "unknown field" in unknown["detail"]
        dots = await problem(session, "write_file", session_id=session_id, path="a/../b 😀.txt", content="x")
        assert (dots["type"], dots["field"]) == ("/problems/invalid-path", "path") and dots["rule"]
        not_base64 = await problem(
            session, "write_file", session_id=session_id, path=TEXT_PATH, content="%%", encoding="base64"
        )
        assert not_base64["field"] == "content"
        bad_time = await problem(session, "search_sessions", created_after="yesterday")
        assert (bad_time["type"], bad_time["field"]) == ("/problems/invalid-parameter", "created_after")
        beyond = await problem(session, "read_file", session_id=session_id, path=TEXT_PATH, offset=10)
        assert beyond["status"] == 416
        # S3 refuses any range of an empty file; reading one from its start is no error.
        await call(session, "write_file", session_id=session_id, path="empty 😀 %.txt", content="")
        empty = await call(session, "read_file", session_id=session_id, path="empty 😀 %.txt")
        assert (empty["content"], empty["length"], empty["file"]["size"], empty["truncated"]) == ("", 0, 0, False)

    as_agent(gateway, gateway.token(user), scenario)
    # Nothing of the refused writes is visible.
    assert api.get(f"/v1/sessions/{session_id}/files/{quote(TEXT_PATH)}").content == b"v2"


def test_one_read_returns_at_most_the_limit_and_says_where_the_rest_begins(
    gateway: Gateway, api: httpx.Client, user: str, session_id: str
) -> None:
    path = "grand fichier 😀 100%.bin"
    data = bytes(range(256)) * (MAX_READ_BYTES // 256) + b"tail \xf0\x9f\x98\x80"
    assert api.put(f"/v1/sessions/{session_id}/files/{quote(path)}", content=data).status_code == 201

    async def scenario(session: ClientSession) -> None:
        first = await call(session, "read_file", session_id=session_id, path=path, length=MAX_READ_BYTES + 1)
        assert (first["length"], first["limit_bytes"], first["file"]["size"]) == (
            MAX_READ_BYTES,
            MAX_READ_BYTES,
            len(data),
        )
        assert first["truncated"] is True and first["next_offset"] == MAX_READ_BYTES
        assert base64.b64decode(first["content"]) == data[:MAX_READ_BYTES]
        rest = await call(session, "read_file", session_id=session_id, path=path, offset=first["next_offset"])
        assert (rest["encoding"], rest["content"], rest["truncated"]) == ("text", "tail 😀", False)

    as_agent(gateway, gateway.token(user), scenario)
