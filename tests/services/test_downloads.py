from __future__ import annotations

import pytest

from gateway.errors import BadRequest
from gateway.services.downloads import content_disposition, content_type_of, download_disposition, is_inline_safe


@pytest.mark.parametrize(
    ("value", "stored"),
    [(None, "application/octet-stream"), ("", "application/octet-stream"), ("text/plain; charset=utf-8", None)],
)
def test_content_types_kept_or_defaulted(value: str | None, stored: str | None) -> None:
    assert content_type_of(value) == (stored or value)


@pytest.mark.parametrize("value", ["text", "text/html\r\nSet-Cookie: a=b", "a/b; c", "x" * 300 + "/y", "a b/c"])
def test_malformed_content_types_are_refused(value: str) -> None:
    with pytest.raises(BadRequest):
        content_type_of(value)


@pytest.mark.parametrize(
    "value", ["text/html", "image/svg+xml", "application/xhtml+xml", "text/javascript", "application/xml", "TEXT/HTML"]
)
def test_active_content_is_never_inline(value: str) -> None:
    assert not is_inline_safe(value)
    assert download_disposition("a/page", value).startswith("attachment;")


def test_safe_types_are_inline() -> None:
    assert is_inline_safe("image/png")
    assert is_inline_safe("Text/Plain; charset=utf-8")


@pytest.mark.parametrize(
    ("name", "fallback", "encoded"),
    [
        ("report.pdf", "report.pdf", "report.pdf"),
        ("résumé.txt", "r_sum_.txt", "r%C3%A9sum%C3%A9.txt"),
        ('a"b\\c;d%e.txt', "a_b_c_d_e.txt", "a%22b%5Cc%3Bd%25e.txt"),
        ("\U0001f600", "_", "%F0%9F%98%80"),
        ("line\r\nbreak", "line__break", "line%0D%0Abreak"),
    ],
)
def test_content_disposition(name: str, fallback: str, encoded: str) -> None:
    header = content_disposition(name, inline=False)
    assert header == f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    assert "\r" not in header and "\n" not in header
