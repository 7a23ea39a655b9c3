"""An upload's state: one small JSON record under the upload's own prefix, the only thing replicas share about it.

It says whose upload it is (the creator's opaque owner prefix, so the record names nobody), where the file goes and
how (path, content type, tier, the precondition and the base it was checked against), how far it is (offset, the
parts of the S3 multipart upload with their ETags, the tail kept between two requests), and until when it lives.

Every change is a read, a pure change and a conditional write on the version read (`services.records.modify`, the
one read-change-write of the gateway's records): two requests that race on one offset cannot both move it. The
record's versions pile up while the upload runs; the completion removes all but the newest two, and the end of
the upload (termination, expiry) removes them all with the upload's prefix.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gateway import strict_json
from gateway.errors import Conflict, DamagedRecord, NotFound, ObjectMissing
from gateway.keys import UploadKeys
from gateway.services import records
from gateway.storage.preconditions import Precondition
from gateway.storage.store import Store
from gateway.storage.writes import CREATE_ONLY, VersionWriter
from gateway.wire import moment

log = logging.getLogger(__name__)
FORMAT = 1
NO_SUCH_UPLOAD = "no such upload"


@dataclass(frozen=True)
class Part:
    """A part of the S3 multipart upload: its number, the ETag S3 gave it, its size and its MD5 (hex)."""

    number: int
    etag: str
    size: int
    md5: str


@dataclass(frozen=True)
class Tail:
    """Bytes received after the last whole part, kept as a small object until the next request prepends them."""

    name: str
    version_id: str | None
    size: int


@dataclass(frozen=True)
class UploadState:
    creator: str
    path: str
    content_type: str
    tier: str | None
    metadata: str
    length: int
    part_size: int
    # The S3 multipart upload; None for an empty file, which is complete from its creation.
    multipart: str | None
    base: str | None
    if_match: tuple[str, ...] | None
    if_none_match: bool
    created_at: str
    expires_at: str
    offset: int = 0
    parts: tuple[Part, ...] = ()
    tail: Tail | None = None
    # Set once a request has every byte and is completing the file; the offset moves when the file exists.
    assembling_since: str | None = None
    version_id: str | None = None
    complete: bool = False
    # The ETag of the record this was read from (not stored): the first conditional change needs no read of its own.
    etag: str = field(default="", compare=False)

    @property
    def precondition(self) -> Precondition:
        tags = frozenset(self.if_match) if self.if_match is not None else None
        return Precondition(if_match=tags, if_none_match_any=self.if_none_match)

    def expires(self) -> datetime:
        return moment(self.expires_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "creator": self.creator,
            "path": self.path,
            "content_type": self.content_type,
            "tier": self.tier,
            "metadata": self.metadata,
            "length": self.length,
            "part_size": self.part_size,
            "multipart": self.multipart,
            "base": self.base,
            "if_match": list(self.if_match) if self.if_match is not None else None,
            "if_none_match": self.if_none_match,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "offset": self.offset,
            "parts": [[p.number, p.etag, p.size, p.md5] for p in self.parts],
            "tail": [self.tail.name, self.tail.version_id, self.tail.size] if self.tail else None,
            "assembling_since": self.assembling_since,
            "version_id": self.version_id,
            "complete": self.complete,
        }

    @classmethod
    def from_json(cls, data: object) -> UploadState:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not an upload state of this gateway")
        if_match = data["if_match"]
        tail = data["tail"]
        state = cls(
            creator=str(data["creator"]),
            path=str(data["path"]),
            content_type=str(data["content_type"]),
            tier=_optional(data["tier"]),
            metadata=str(data["metadata"]),
            length=_count(data["length"]),
            part_size=_count(data["part_size"]),
            multipart=_optional(data["multipart"]),
            base=_optional(data["base"]),
            if_match=tuple(str(tag) for tag in if_match) if isinstance(if_match, list) else None,
            if_none_match=data["if_none_match"] is True,
            created_at=str(data["created_at"]),
            expires_at=str(data["expires_at"]),
            offset=_count(data["offset"]),
            parts=tuple(Part(_count(n), str(e), _count(s), str(m)) for n, e, s, m in data["parts"]),
            tail=Tail(str(tail[0]), _optional(tail[1]), _count(tail[2])) if tail else None,
            assembling_since=_optional(data["assembling_since"]),
            version_id=_optional(data["version_id"]),
            complete=data["complete"] is True,
        )
        state.expires()  # a readable moment, or ValueError
        return state


def _optional(value: object) -> str | None:
    return None if value is None else str(value)


def _count(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("a count is a whole number")
    return value


def encode(state: UploadState) -> bytes:
    return json.dumps(state.to_json(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode(key: str, data: bytes) -> UploadState:
    try:
        return UploadState.from_json(strict_json.loads(data))
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        log.warning("upload state %s cannot be read: %s", key, exc)
        raise DamagedRecord("this upload's stored state cannot be read; end it with DELETE") from None


async def read(store: Store, upload: UploadKeys) -> UploadState:
    """The upload's state, with the ETag it was read at; 404 when there is none."""
    try:
        data, info = await store.read_bytes(upload.state)
    except ObjectMissing:
        raise NotFound(NO_SUCH_UPLOAD) from None
    return replace(decode(upload.state, data), etag=info.etag)


async def create(writer: VersionWriter, upload: UploadKeys, state: UploadState) -> None:
    await writer.write(upload.state, encode(state), precondition=CREATE_ONLY, content_type=records.RECORD_CONTENT_TYPE)


async def change(
    store: Store,
    writer: VersionWriter,
    upload: UploadKeys,
    apply: Callable[[UploadState], UploadState],
    *,
    known: UploadState | None = None,
) -> UploadState:
    """Apply `apply` to the state until it lands on the version it was computed from (first `known`, the state as
    the request read it, when it has its ETag); what `apply` raises (a 409 when the offset moved) ends the attempt
    with nothing written."""
    first = [known] if known is not None and known.etag else []

    async def current() -> tuple[UploadState, str]:
        found = first.pop() if first else await read(store, upload)
        return found, found.etag

    changed = await records.modify(writer, upload.state, current, apply, encode)
    return replace(changed, etag="")


def check_position(found: UploadState, offset: int) -> None:
    """tus: a request starts where the upload is (409 otherwise, with the offset to resume from)."""
    if found.assembling_since is not None:
        raise Conflict("the upload has all its bytes and is being completed", extra={"upload_offset": found.offset})
    if offset != found.offset:
        raise Conflict(
            f"the upload is at offset {found.offset}, not {offset}: resume from there",
            extra={"upload_offset": found.offset},
        )
