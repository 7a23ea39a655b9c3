"""The served OpenAPI document describes real answers: every JSON response below, from a live gateway on both
backends, is validated (jsonschema, draft 2020-12) against the schema the document gives for its route and status."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from gateway.api.models import FILE_PATH_PATTERN, FOLDER_PATH_PATTERN, IMPORT_FOLDER_PATTERN, PREFIX_PATTERN
from gateway.api.openapi import openapi_document
from gateway.errors import InvalidPath
from gateway.imports.names import folder_of
from gateway.keys import Owner
from tests.conftest import Gateway


class Conformance:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.checked: set[tuple[str, str, int]] = set()

    def check(self, response: httpx.Response, method: str, template: str) -> Any:
        operation = self.document["paths"][template][method.lower()]
        status = response.status_code
        assert str(status) in operation["responses"], (method, template, status, response.text)
        described = operation["responses"][str(status)]
        for name, header in described.get("headers", {}).items():
            assert not header["required"] or name.lower() in response.headers, (method, template, name)
        self.checked.add((method, template, status))
        if "content" not in described:
            assert response.content == b""
            return None
        media = response.headers["content-type"].split(";")[0]
        if "*/*" in described["content"]:
            return None
        assert media in described["content"], (method, template, media)
        schema = {**described["content"][media]["schema"], "components": self.document["components"]}
        body = response.json()
        errors = [e.message for e in Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(body)]
        assert errors == [], (method, template, status, body)
        return body


@pytest.fixture
def conformance(gateway: Gateway) -> Conformance:
    document = httpx.get(f"{gateway.url}/openapi.json").json()
    Draft202012Validator.check_schema({"$defs": document["components"]["schemas"]})
    return Conformance(document)


def test_real_answers_match_the_document(conformance: Conformance, gateway: Gateway, api: httpx.Client) -> None:
    check = conformance.check
    sessions, session = "/v1/sessions", "/v1/sessions/{sid}"
    files, file = session + "/files", session + "/files/{path}"
    created = check(api.post(sessions, json={"name": "doc ✓", "metadata": {"k": [1, None]}}), "POST", sessions)
    sid = created["id"]
    check(api.post(sessions, json={"name": 1}), "POST", sessions)
    check(api.post(sessions, content=b"x=1", headers={"content-type": "text/plain"}), "POST", sessions)
    check(
        api.post(sessions, content=b'{"name": "' + b"x" * 70_000 + b'"}', headers={"content-type": "application/json"}),
        "POST",
        sessions,
    )
    check(api.get(sessions, params={"limit": "1"}), "GET", sessions)
    check(api.get(sessions, params={"cursor": "nope"}), "GET", sessions)
    check(api.get(f"{sessions}/{sid}"), "GET", session)
    check(api.get(f"{sessions}/01ARZ3NDEKTSV4RRFFQ69G5FAV"), "GET", session)
    check(api.patch(f"{sessions}/{sid}", json={"default_tier": "persistent"}), "PATCH", session)
    base = f"{sessions}/{sid}/files"
    first = check(api.put(f"{base}/dossier/e\u0301te\u0301 🎉.txt", content=b"one"), "PUT", file)
    check(api.put(f"{base}/dossier/e\u0301te\u0301 🎉.txt", content=b"two"), "PUT", file)
    check(api.put(f"{base}/dossier/x", content=b"x", headers={"if-match": '"nope"'}), "PUT", file)
    check(api.put(f"{base}/a/../b", content=b"x"), "PUT", file)
    check(api.get(f"{base}/dossier/été 🎉.txt"), "GET", file)
    check(api.get(f"{base}/dossier/été 🎉.txt", headers={"range": "bytes=0-0"}), "GET", file)
    check(api.get(f"{base}/dossier/été 🎉.txt", headers={"range": "bytes=10-"}), "GET", file)
    check(
        api.get(f"{base}/dossier/été 🎉.txt", headers={"if-none-match": first["etag"].replace("x", "y")}), "GET", file
    )
    check(api.head(f"{base}/dossier/été 🎉.txt"), "HEAD", file)
    check(api.get(f"{base}/missing"), "GET", file)
    check(api.get(base, params={"delimiter": "/"}), "GET", files)
    check(api.get(base, params={"prefix": "dossier/", "limit": "1"}), "GET", files)
    check(api.patch(f"{base}/dossier/été 🎉.txt", json={"tier": "permanent"}), "PATCH", file)
    check(api.patch(f"{base}/dossier/", json={"tier": "standard", "recursive": True}), "PATCH", file)
    check(api.patch(f"{base}/dossier/", json={"default_tier": "ephemeral"}), "PATCH", file)
    check(api.patch(f"{base}/dossier/", json={"colour": "red"}), "PATCH", file)
    history = check(
        api.get(f"{sessions}/{sid}/history", params={"path": "dossier/été 🎉.txt"}), "GET", "/v1/sessions/{sid}/history"
    )
    rollback = {"path": "dossier/été 🎉.txt", "version_id": history["items"][-1]["version_id"]}
    check(api.post(f"{sessions}/{sid}/rollback", json=rollback), "POST", session + "/rollback")
    check(api.post(f"{sessions}/{sid}/links", json={"path": "dossier/été 🎉.txt"}), "POST", session + "/links")
    check(
        api.post(f"{sessions}/{sid}/links", json={"path": "dossier/été 🎉.txt", "expires_in": 0}),
        "POST",
        session + "/links",
    )
    check(api.delete(f"{base}/dossier/", params={"recursive": "true"}), "DELETE", file)
    check(api.post(f"{sessions}/{sid}/end"), "POST", session + "/end")
    check(api.put(f"{base}/after-the-end.txt", content=b"x"), "PUT", file)
    with gateway.client() as anonymous:
        check(anonymous.get(sessions), "GET", sessions)
    with gateway.client("someone", scope="files:read") as reader:
        check(reader.post(sessions, json={}), "POST", sessions)
    check(api.delete(f"{sessions}/{sid}"), "DELETE", session)
    statuses = {status for _method, _template, status in conformance.checked}
    assert statuses >= {200, 201, 206, 400, 401, 403, 404, 409, 412, 413, 415, 416}


def test_copy_move_and_fork_answers_match_the_document(conformance: Conformance, api: httpx.Client) -> None:
    check = conformance.check
    session = "/v1/sessions/{sid}"
    sid = api.post("/v1/sessions", json={"name": "source"}).json()["id"]
    other = api.post("/v1/sessions", json={}).json()["id"]
    base = f"/v1/sessions/{sid}"
    api.put(f"{base}/files/dossier/e\u0301te\u0301 🎉 100%25.txt", content=b"one")
    copied = check(api.post(f"{base}/copy", json={"from": "dossier/", "to": "copie/"}), "POST", session + "/copy")
    assert copied["copied"][0]["to"] == "copie/été 🎉 100%.txt"
    check(api.post(f"{base}/copy", json={"from": "dossier/", "to": "copie/"}), "POST", session + "/copy")
    check(api.post(f"{base}/copy", json={"from": "dossier/", "to": "dossier/x/"}), "POST", session + "/copy")
    check(api.post(f"{base}/copy", json={"from": "nothing/", "to": "x/"}), "POST", session + "/copy")
    move = {"from": "copie/", "to": "copie/", "to_session": other}
    check(api.post(f"{base}/move", json=move), "POST", session + "/move")
    check(api.post(f"{base}/fork", json={"at": "2026-01-01T00:00:00Z"}), "POST", session + "/fork")
    check(api.post(f"{base}/fork", json={"at": "soon"}), "POST", session + "/fork")
    checked = {(template, status) for _method, template, status in conformance.checked}
    assert checked == {
        (session + "/copy", 200),
        (session + "/copy", 409),
        (session + "/copy", 400),
        (session + "/copy", 404),
        (session + "/move", 200),
        (session + "/fork", 201),
        (session + "/fork", 400),
    }


def test_export_answers_match_the_document(conformance: Conformance, api: httpx.Client) -> None:
    check = conformance.check
    sid = api.post("/v1/sessions", json={"name": "export ✓"}).json()["id"]
    assert api.put(f"/v1/sessions/{sid}/files/e\u0301te\u0301 🎉%.txt", content=b"x").status_code == 201
    archive, exports, one = (
        "/v1/sessions/{sid}/export.zip",
        "/v1/sessions/{sid}/exports",
        "/v1/sessions/{sid}/exports/{export_id}",
    )
    check(api.get(f"/v1/sessions/{sid}/export.zip", params={"redact": "true"}), "GET", archive)
    check(api.get(f"/v1/sessions/{sid}/export.zip", params={"at": "noon"}), "GET", archive)
    check(api.get(f"/v1/sessions/{sid}/export.zip", params={"prefix": "none/"}), "GET", archive)
    accepted = check(api.post(f"/v1/sessions/{sid}/exports", json={"paths": ["été 🎉%.txt"]}), "POST", exports)
    check(api.post(f"/v1/sessions/{sid}/exports", json={"at": "2999-01-01T00:00:00Z"}), "POST", exports)
    check(
        api.post(f"/v1/sessions/{sid}/exports", content=b"x", headers={"content-type": "text/plain"}), "POST", exports
    )
    deadline = time.monotonic() + 60
    while check(api.get(f"/v1/sessions/{sid}/exports/{accepted['id']}"), "GET", one)["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    check(api.get(f"/v1/sessions/{sid}/exports/01ARZ3NDEKTSV4RRFFQ69G5FAV"), "GET", one)
    statuses = {(template, status) for _method, template, status in conformance.checked}
    assert statuses >= {(archive, 200), (archive, 400), (archive, 404), (exports, 202), (exports, 400), (one, 200)}


def test_the_document_is_generated_from_the_policy_and_models() -> None:
    document = openapi_document(("short", "long"))
    schemas = document["components"]["schemas"]
    assert schemas["TierName"]["enum"] == ["short", "long"]
    entry = schemas["FileEntry"]
    assert {"tier", "expires_at", "version_id"} <= set(entry["required"]) and "content_type" not in entry["properties"]
    assert "tier" in schemas["HistoryEntry"]["required"]
    for name in ("SessionCreate", "SessionUpdate", "TierChange", "RollbackInput", "LinkInput", "TransferInput"):
        assert schemas[name]["additionalProperties"] is False, name
    assert schemas["Problem"]["additionalProperties"] is True  # RFC 9457 extension members
    put = document["paths"]["/v1/sessions/{sid}/files/{path}"]["put"]
    assert {p["name"] for p in put["parameters"]} == {"sid", "path", "If-Match", "If-None-Match", "X-Tier", "tier"}
    assert put["responses"]["201"]["headers"]["Location"]["required"] is True
    assert put["responses"]["412"]["content"]["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
    assert document["security"] == [{"bearer": []}]
    # `from` is the wire name of the source, in the request and in the report.
    assert schemas["TransferInput"]["required"] == ["from", "to"]
    assert schemas["Transfer"]["required"] == ["from", "to", "version_id"]
    assert schemas["ForkInput"]["properties"]["at"]["anyOf"][0]["format"] == "date-time"


CODE_POINT_RULES = {
    "bidi-control",
    "zero-width",
    "line-separator",
    "format-character",
    "noncharacter",
    "private-use",
    "unassigned",
}
SAMPLES = [
    "a", "a/b", "é/😀 x", ".a", "..a", "...", "a.", "a..", " ", "a /b", "100%", "a%2Fb", "数据/报告",
    "", ".", "..", "a/./b", "a/../b", "/a", "a/", "a//b", "a\\b", "a\x00b", "a\x1fb", "a\x7fb", "a\x85b", "a\u0301",
    "\u200b", "a/\u00a0/b",
]  # fmt: skip

OWNER_KEY = bytes(32)


@pytest.mark.parametrize("sample", SAMPLES)
def test_the_path_patterns_say_what_the_path_rules_do(sample: str) -> None:
    keys = Owner(root="gw", tenant="t", user="u", owner_key=OWNER_KEY).session("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    validator = Draft202012Validator({"type": "string", "pattern": FILE_PATH_PATTERN})

    def accepted(check: Any) -> bool:
        """Whether the path rules a pattern can state accept the sample (code-point rules are stated in words)."""
        try:
            check(sample)
        except InvalidPath as refused:
            return refused.rule in CODE_POINT_RULES
        return True

    assert validator.is_valid(sample) == accepted(keys.file)
    folder_validator = Draft202012Validator({"type": "string", "pattern": FOLDER_PATH_PATTERN})
    assert folder_validator.is_valid(sample) == (
        accepted(keys.file) or (sample.endswith("/") and accepted(keys.folder))
    )
    prefix_validator = Draft202012Validator({"type": "string", "pattern": PREFIX_PATTERN})
    assert prefix_validator.is_valid(sample) == accepted(keys.listing)
    import_validator = Draft202012Validator({"type": "string", "pattern": IMPORT_FOLDER_PATTERN})
    assert import_validator.is_valid(sample) == accepted(lambda folder: folder_of(keys, folder))
