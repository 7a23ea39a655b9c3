"""Conditional GET as RFC 9110 has it: weak comparison for If-None-Match, lists, and `*`."""

from __future__ import annotations

import httpx
import pytest

NAMES = ["cache/\u00e9t\u00e9.txt", "cache/e\u0301te\u0301 nfd.txt", "cache/\U0001f680.txt", "cache/100%.txt"]


@pytest.mark.parametrize("name", NAMES)
def test_if_none_match_weak_lists_and_star(api: httpx.Client, session_id: str, name: str) -> None:
    url = f"/v1/sessions/{session_id}/files/{name}"
    etag = api.put(url, content=b"cached body").headers["etag"]
    bare = etag.strip('"')
    for header in (etag, f"W/{etag}", f'"nope", {etag}', f'W/"nope" , W/{etag}', "*"):
        response = api.get(url, headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.headers["etag"] == etag
        assert "last-modified" in response.headers
        assert response.content == b""
    for header in ('"nope"', f'"{bare}x"', 'W/"nope", "other"'):
        assert api.get(url, headers={"If-None-Match": header}).status_code == 200, header


def test_star_on_a_missing_file_is_404(api: httpx.Client, session_id: str) -> None:
    response = api.get(f"/v1/sessions/{session_id}/files/cache/none.txt", headers={"If-None-Match": "*"})
    assert response.status_code == 404


def test_a_range_request_with_a_matching_tag_is_304(api: httpx.Client, session_id: str) -> None:
    url = f"/v1/sessions/{session_id}/files/cache/ranged.txt"
    etag = api.put(url, content=b"0123456789").headers["etag"]
    assert api.get(url, headers={"If-None-Match": etag, "Range": "bytes=0-3"}).status_code == 304
    partial = api.get(url, headers={"If-None-Match": '"other"', "Range": "bytes=0-3"})
    assert (partial.status_code, partial.content) == (206, b"0123")
