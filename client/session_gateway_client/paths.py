"""Session ids and file paths as URL path segments (RFC 3986), byte for byte.

Every character of a segment but the unreserved ones is percent-encoded from its UTF-8 bytes, so names holding
`%`, spaces, `#`, `?`, non-ASCII letters, emoji, or the decomposed (NFD) form of an accented letter reach the
gateway exactly as given (it normalises them to NFC itself). The slashes of a file path stay: they separate its
folders. A `.` or `..` segment is encoded too (`%2E`), because HTTP clients would otherwise remove it from the URL
and send the request to another path; the gateway then refuses it with a 400 naming the rule.
"""

from __future__ import annotations

from urllib.parse import quote

_DOT_SEGMENTS = {".": "%2E", "..": "%2E%2E"}


def segment(text: str) -> str:
    """One URL path segment: `/` is encoded like every other reserved character."""
    return _DOT_SEGMENTS.get(text) or quote(text, safe="", encoding="utf-8", errors="strict")


def file_path(path: str) -> str:
    """A file or folder path (segments separated by `/`) for the end of a URL path."""
    return "/".join(segment(part) for part in path.split("/"))
