"""Digests of file bytes: what a client may promise (RFC 9530 `Content-Digest`/`Repr-Digest`, `Content-MD5`), what the
gateway computes while streaming, and what it tells readers (`Repr-Digest`).

The gateway computes the SHA-256 of every upload and the MD5 of each part as the bytes pass. SHA-256 is the file's
identity in the API (listings, history, `Repr-Digest`, dedup); MD5 is what S3 turns into the ETag, so comparing the
two proves the store holds exactly the bytes that were received.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import BadRequest, DigestMismatch

SHA256 = "sha-256"
# RFC 8941 dictionary members as RFC 9530 uses them: `alg=:base64:`, comma separated.
_MEMBER = re.compile(r"\s*([a-z0-9_.*-]+)\s*=\s*:([A-Za-z0-9+/=]*):\s*(?:;[^,]*)?\s*")


@dataclass(frozen=True)
class Expected:
    """Digests a client promised for the bytes it sends."""

    sha256: bytes | None = None
    md5: bytes | None = None

    @property
    def any(self) -> bool:
        return self.sha256 is not None or self.md5 is not None


def _decoded(value: str, header: str, size: int) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"{header}: the digest is not valid base64", extra={"header": header}) from exc
    if len(raw) != size:
        raise BadRequest(f"{header}: a digest of {size} bytes is expected", extra={"header": header})
    return raw


def _sha256_member(value: str, header: str) -> bytes | None:
    found = None
    for member in value.split(","):
        match = _MEMBER.fullmatch(member)
        if match is None:
            raise BadRequest(f"{header}: expected 'sha-256=:<base64>:'", extra={"header": header})
        if match.group(1) == SHA256:
            found = _decoded(match.group(2), header, 32)
    return found


def expected_from_headers(content_digest: str | None, repr_digest: str | None, content_md5: str | None) -> Expected:
    """The digests a request promises. Algorithms other than sha-256 are ignored, as RFC 9530 allows; the identity
    content coding is the only one accepted, so `Content-Digest` and `Repr-Digest` describe the same bytes."""
    sha256 = None
    for header, value in (("Content-Digest", content_digest), ("Repr-Digest", repr_digest)):
        if value is None:
            continue
        found = _sha256_member(value, header)
        if found is not None and sha256 is not None and found != sha256:
            raise DigestMismatch("Content-Digest and Repr-Digest disagree", extra={"header": header})
        sha256 = found or sha256
    md5 = _decoded(content_md5.strip(), "Content-MD5", 16) if content_md5 is not None else None
    return Expected(sha256=sha256, md5=md5)


def repr_digest(sha256_hex: str) -> str:
    """The `Repr-Digest` header value for a SHA-256 given in hex."""
    return f"{SHA256}=:{base64.b64encode(bytes.fromhex(sha256_hex)).decode('ascii')}:"


def is_sha256_hex(value: str | None) -> bool:
    return value is not None and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


@dataclass(frozen=True)
class PartDigest:
    """What S3 checks a part against: its MD5 (`Content-MD5`) or, when the request signature covers the bytes
    (S3 over plain HTTP), its SHA-256. One is enough; S3 refuses a part that does not match."""

    md5: bytes | None
    sha256_hex: str | None


@dataclass
class Hashing:
    """Digests of a body, a part at a time and in order: the whole body's SHA-256, each part's own digest for S3
    (see `PartDigest`), and the whole body's MD5 only when a client promised one. MD5 is the slowest of these
    (about 600 MB/s against SHA-256's 1.3 GB/s on CPUs with SHA extensions), so it is computed only where needed.
    """

    check_md5: bool = False
    sha256: Any = field(default_factory=hashlib.sha256)
    md5: Any = field(default_factory=lambda: hashlib.md5(usedforsecurity=False))
    # Each part's MD5, while every part has one (the multipart ETag is made of them).
    part_md5s: list[bytes] | None = field(default_factory=list)

    def add_part(self, data: bytes, *, signed: bool) -> PartDigest:
        """Hash the next part; `signed`: its SHA-256 goes into the request signature instead of an MD5.

        Safe to run in a worker thread (hashlib releases the GIL), one part at a time.
        """
        self.sha256.update(data)
        if self.check_md5:
            self.md5.update(data)
        if signed:
            self.part_md5s = None
            return PartDigest(None, hashlib.sha256(data).hexdigest())
        part_md5 = hashlib.md5(data, usedforsecurity=False).digest()
        if self.part_md5s is not None:
            self.part_md5s.append(part_md5)
        return PartDigest(part_md5, None)

    def check(self, expected: Expected) -> None:
        """Raise `DigestMismatch` when the bytes hashed so far are not those the client promised."""
        if expected.sha256 is not None and self.sha256.digest() != expected.sha256:
            raise DigestMismatch(
                "the body does not match its SHA-256 digest; nothing was stored", extra={"algorithm": SHA256}
            )
        if expected.md5 is not None and self.md5.digest() != expected.md5:
            raise DigestMismatch(
                "the body does not match its Content-MD5; nothing was stored", extra={"algorithm": "md5"}
            )


def single_etag(md5: bytes) -> str:
    """The ETag S3 gives an object stored by one PUT (no server-side encryption with customer or KMS keys)."""
    return md5.hex()


def multipart_etag(part_md5s: list[bytes]) -> str:
    """The ETag S3 gives an object completed from these parts: the MD5 of the parts' MD5s, a dash, their count."""
    return f"{hashlib.md5(b''.join(part_md5s), usedforsecurity=False).hexdigest()}-{len(part_md5s)}"


def bare_etag(etag: str) -> str:
    return etag.strip().removeprefix("W/").strip('"')
