"""Reading successful answers: JSON bodies into models, a file's headers into a FileVersion, ranges into bytes."""

from __future__ import annotations

import base64
import binascii
import json
import unicodedata
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from session_gateway_client.decoding import decode
from session_gateway_client.errors import UnexpectedAnswer
from session_gateway_client.models import FileVersion

T = TypeVar("T")
Reader = Callable[[httpx.Response], T]


def body_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UnexpectedAnswer(f"{response.request.method} {response.request.url.path}: not JSON") from None


def json_as(model: type[T]) -> Reader[T]:
    def read(response: httpx.Response) -> T:
        return decode(model, body_of(response))

    return read


def items_of(model: type[Any]) -> Reader[Any]:
    """The `items` of a page that is never continued (grants, shares): all of them, as a tuple."""

    def read(response: httpx.Response) -> Any:
        return decode(model, body_of(response)).items

    return read


def nothing(response: httpx.Response) -> None:
    return None


def content(response: httpx.Response) -> bytes:
    return response.content


def _header(response: httpx.Response, name: str) -> str:
    value = response.headers.get(name)
    if value is None:
        raise UnexpectedAnswer(f"{response.request.url.path}: the answer has no {name} header")
    return str(value)


def _sha256(repr_digest: str | None) -> str | None:
    """The hex SHA-256 in `Repr-Digest: sha-256=:BASE64:` (RFC 9530), when there is one."""
    for member in (repr_digest or "").split(","):
        name, _, value = member.strip().partition("=")
        if name.strip().lower() == "sha-256" and value.startswith(":") and value.endswith(":"):
            try:
                return base64.b64decode(value[1:-1], validate=True).hex()
            except binascii.Error:
                return None
    return None


def _size(response: httpx.Response) -> int:
    # A part's Content-Range ends with the whole file's size; otherwise Content-Length is it.
    ranged = response.headers.get("content-range")
    if ranged and "/" in ranged and ranged.rsplit("/", 1)[1].isdigit():
        return int(ranged.rsplit("/", 1)[1])
    return int(_header(response, "content-length"))


def file_from_headers(path: str) -> Reader[FileVersion]:
    """The file a GET or HEAD answered about, from its headers (the path as the gateway stores it: NFC)."""

    def read(response: httpx.Response) -> FileVersion:
        expires = response.headers.get("x-expires-at")
        try:
            last_modified = parsedate_to_datetime(_header(response, "last-modified"))
            return FileVersion(
                path=unicodedata.normalize("NFC", path),
                version_id=response.headers.get("x-version-id"),
                etag=_header(response, "etag"),
                size=_size(response),
                content_type=_header(response, "content-type"),
                last_modified=last_modified,
                tier=response.headers.get("x-tier"),
                expires_at=datetime.fromisoformat(expires) if expires else None,
                sha256=_sha256(response.headers.get("repr-digest")),
            )
        except ValueError as exc:
            raise UnexpectedAnswer(f"{response.request.url.path}: unreadable file headers ({exc})") from None

    return read


def part(start: int, end: int | None) -> Reader[bytes]:
    """The bytes of a range request: the part (206), or the range cut from a whole file the gateway sent (200)."""

    def read(response: httpx.Response) -> bytes:
        if response.status_code == 206:
            return response.content
        data = response.content
        return data[start:end] if start >= 0 else data[start:]

    return read
