"""The tus 1.0 headers, read and written: the protocol as seen from HTTP, without I/O.

Only what the gateway supports is accepted: version 1.0.0, a known `Upload-Length` (no deferred length), SHA-256
checksums. Every refusal names the header (or, for `Upload-Metadata`, the key) it is about.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from gateway.errors import BadRequest, InvalidUploadMetadata, PreconditionFailed
from gateway.services.downloads import content_type_of

TUS_VERSION = "1.0.0"
EXTENSIONS = ("creation", "creation-with-upload", "termination", "expiration", "checksum")
CHECKSUM_ALGORITHM = "sha256"
OFFSET_MEDIA_TYPE = "application/offset+octet-stream"
# Long enough for a 1,024-byte path, a type and a tier in base64, with room for the keys other clients add.
MAX_METADATA_CHARS = 8192
PATH = "path"
CONTENT_TYPE = "content_type"
TIER = "tier"
# tus 1.0: a key is ASCII without spaces and commas, and must be unique.
_KEY = re.compile(r"[!-+\--~]+")
_NUMBER = re.compile(r"\d{1,19}")


@dataclass(frozen=True)
class Metadata:
    """What `Upload-Metadata` says: the file's path (not yet checked against the path rules, which need the session's
    keys), its content type, its tier (not yet checked against the policy), and the header as sent (HEAD repeats it).
    Keys other than these three are kept in `raw` and otherwise ignored: clients add their own (`filename`, ...)."""

    path: str
    content_type: str
    tier: str | None
    raw: str


def require_version(value: str | None) -> None:
    """Every tus request but OPTIONS names the protocol version; another is answered 412 with the one supported."""
    if value is None or value.strip() != TUS_VERSION:
        shown = "no Tus-Resumable header" if value is None else f"Tus-Resumable {value.strip()!r}"
        raise PreconditionFailed(
            f"{shown}: this server speaks tus {TUS_VERSION}",
            extra={"header": "Tus-Resumable", "tus_version": TUS_VERSION},
            headers={"Tus-Version": TUS_VERSION},
        )


def _number(name: str, value: str | None) -> int:
    if value is None:
        raise BadRequest(f"{name} is required", extra={"header": name})
    if not _NUMBER.fullmatch(value.strip()):
        raise BadRequest(f"{name} must be a whole number of bytes", extra={"header": name})
    return int(value.strip())


def upload_length(value: str | None, defer: str | None) -> int:
    if defer is not None:
        raise BadRequest(
            "Upload-Defer-Length is not supported: send Upload-Length", extra={"header": "Upload-Defer-Length"}
        )
    return _number("Upload-Length", value)


def upload_offset(value: str | None) -> int:
    return _number("Upload-Offset", value)


def _decoded(key: str, value: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidUploadMetadata(key, "the value is not base64") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        extra = {"rule": "utf-8"} if key == PATH else None
        raise InvalidUploadMetadata(key, "the value is not UTF-8 text", extra=extra) from None


def metadata(value: str | None) -> Metadata:
    """Read `Upload-Metadata`: comma-separated `key base64(value)` pairs; `path` is required."""
    raw = (value or "").strip()
    if len(raw) > MAX_METADATA_CHARS:
        raise InvalidUploadMetadata("", f"longer than {MAX_METADATA_CHARS} characters")
    found: dict[str, str] = {}
    for pair in raw.split(",") if raw else []:
        key, _, encoded = pair.strip().partition(" ")
        if not _KEY.fullmatch(key) or " " in encoded.strip():
            raise InvalidUploadMetadata("", "write comma-separated pairs of a key and its base64 value")
        if key in found:
            raise InvalidUploadMetadata(key, "the key appears twice")
        found[key] = _decoded(key, encoded.strip())
    path = found.get(PATH)
    if not path:
        raise InvalidUploadMetadata(PATH, "the file's path is required (base64 of its UTF-8 text)")
    try:
        content_type = content_type_of(found.get(CONTENT_TYPE))
    except BadRequest:
        raise InvalidUploadMetadata(CONTENT_TYPE, "not a media type (type/subtype[; parameter=value])") from None
    tier = found.get(TIER)
    if tier is not None and not tier:
        raise InvalidUploadMetadata(TIER, "names no tier; leave it out for the default tier")
    return Metadata(path, content_type, tier, raw)


def checksum(value: str | None) -> bytes | None:
    """`Upload-Checksum: sha256 <base64>`: the SHA-256 the PATCH's bytes must have."""
    if value is None:
        return None
    algorithm, _, encoded = value.strip().partition(" ")
    if algorithm.lower() != CHECKSUM_ALGORITHM:
        raise BadRequest(
            f"Upload-Checksum: only {CHECKSUM_ALGORITHM} is supported",
            extra={"header": "Upload-Checksum", "algorithms": [CHECKSUM_ALGORITHM]},
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 32:
        raise BadRequest("Upload-Checksum: a SHA-256 is 32 bytes in base64", extra={"header": "Upload-Checksum"})
    return digest


def http_date(moment: datetime) -> str:
    """`Upload-Expires` is an RFC 9110 HTTP-date."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def server_headers(max_bytes: int) -> dict[str, str]:
    """What OPTIONS tells a client about this server."""
    return {
        "Tus-Resumable": TUS_VERSION,
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": ",".join(EXTENSIONS),
        "Tus-Max-Size": str(max_bytes),
        "Tus-Checksum-Algorithm": CHECKSUM_ALGORITHM,
    }
