"""How `/console/` is served: the built page and assets under a strict policy, and nothing else."""

from __future__ import annotations

import re

import httpx

from tests.conftest import Gateway


def test_console_assets_are_served_with_a_strict_policy_and_cached_by_name(gateway: Gateway) -> None:
    page = httpx.get(f"{gateway.url}/console/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-cache"
    assert "<script>" not in page.text and " style=" not in page.text
    again = httpx.get(f"{gateway.url}/console/", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304
    script = re.search(r'src="([^"]+\.js)"', page.text)
    assert script is not None
    asset = httpx.get(f"{gateway.url}/console/{script.group(1)}")
    assert asset.status_code == 200
    assert asset.headers["content-type"].startswith("text/javascript")
    assert "immutable" in asset.headers["cache-control"]
    assert httpx.get(f"{gateway.url}/console").headers["location"] == "/console/"
    for missing in ("nope.js", "../pyproject.toml", "%2e%2e/settings.py"):
        answer = httpx.get(f"{gateway.url}/console/{missing}")
        assert answer.status_code == 404, missing
        assert answer.headers["content-type"] == "application/problem+json"
