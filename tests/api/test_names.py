"""File names beyond ASCII through every file operation, on both backends: NFD, CJK, emoji, '%' and an encoded
slash that is part of a name. Header values built from them must stay encodable (RFC 3986 / RFC 6266)."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote, unquote

import httpx
import pytest

NAMES = [
    "rapports/e\u0301te\u0301 2026 re\u0301sume\u0301.txt",  # NFD: stored, listed and answered in NFC
    "数据/报告 第一季.md",
    "emoji/🎉 fête 👩\u200d💻.txt",
    "100%.txt",
    "a%2Fb",  # a '%2F' that is part of the name, not a folder separator
]


def _url(session_id: str, path: str) -> str:
    return f"/v1/sessions/{session_id}/files/{quote(path, safe='/')}"


@pytest.mark.parametrize("name", NAMES)
def test_every_file_operation_takes_the_name(api: httpx.Client, session_id: str, name: str) -> None:
    stored = unicodedata.normalize("NFC", name)
    url = _url(session_id, name)

    created = api.put(url, content=b"one", headers={"content-type": "text/plain"})
    assert created.status_code == 201, created.text
    assert created.json()["path"] == stored
    location = created.headers["location"]
    assert location.isascii()
    assert location == f"/v1/sessions/{session_id}/files/{quote(stored, safe='/')}"
    assert unquote(location.rsplit("/files/", 1)[1]) == stored
    assert api.get(location).content == b"one"

    second = api.put(url, content=b"two", headers={"content-type": "text/plain"})
    assert second.status_code == 200 and "location" not in second.headers

    got = api.get(url)
    assert got.content == b"two"
    disposition = got.headers["content-disposition"]
    assert disposition.isascii()
    encoded_name = quote(stored.rsplit("/", 1)[-1], safe="!#$&+-.^_`|~")
    assert disposition.endswith("filename*=UTF-8''" + encoded_name)
    head = api.head(url)
    assert head.status_code == 200 and head.headers["etag"] == second.json()["etag"]

    listed = api.get(f"/v1/sessions/{session_id}/files", params={"prefix": name.split("/")[0]})
    assert [item["path"] for item in listed.json()["items"]] == [stored]

    retagged = api.patch(url, json={"tier": "permanent"})
    assert retagged.status_code == 200, retagged.text
    assert retagged.json()["path"] == stored and retagged.json()["tier"] == "permanent"

    history = api.get(f"/v1/sessions/{session_id}/history", params={"path": name})
    assert history.status_code == 200, history.text
    assert history.json()["path"] == name
    first_version = history.json()["items"][-1]["version_id"]

    link = api.post(f"/v1/sessions/{session_id}/links", json={"path": name, "version_id": first_version})
    assert link.status_code == 201, link.text
    downloaded = httpx.get(link.json()["url"])
    assert downloaded.content == b"one"
    assert downloaded.headers["content-disposition"].endswith("filename*=UTF-8''" + encoded_name)

    restored = api.post(f"/v1/sessions/{session_id}/rollback", json={"path": name, "version_id": first_version})
    assert restored.status_code == 200, restored.text
    assert restored.json()["path"] == stored
    assert api.get(url).content == b"one"

    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    assert api.get(f"/v1/sessions/{session_id}/files").json()["items"] == []


def test_folders_with_such_names(api: httpx.Client, session_id: str) -> None:
    for name in NAMES:
        assert api.put(_url(session_id, f"dossier é/{name}"), content=b"x").status_code == 201
    folder = _url(session_id, "dossier e\u0301/")
    assert api.patch(folder, json={"default_tier": "persistent"}).json()["folder_tiers"] == {"dossier é/": "persistent"}
    assert api.patch(folder, json={"tier": "ephemeral", "recursive": True}).json()["files"] == len(NAMES)
    top = api.get(f"/v1/sessions/{session_id}/files", params={"prefix": "dossier e\u0301/", "delimiter": "/"}).json()
    assert sorted(top["prefixes"]) == ["dossier é/emoji/", "dossier é/rapports/", "dossier é/数据/"]
    assert sorted(item["path"] for item in top["items"]) == ["dossier é/100%.txt", "dossier é/a%2Fb"]
    assert api.delete(folder, params={"recursive": "true"}).status_code == 204
    assert api.get(f"/v1/sessions/{session_id}/files").json()["items"] == []
