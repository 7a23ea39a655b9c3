"""`read_file`: a part of a file (at most `MAX_READ_BYTES`), as UTF-8 text or base64, and where the rest begins.

The part is one ranged GET through the same `Files.open` as `GET .../files/{path}` (same retention judgement, same
grants), so no more than the part is ever fetched or held.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from typing import Any

from starlette.requests import Request

from gateway.agents.arguments import MAX_READ_BYTES, ReadFile
from gateway.api.context import reach_session, services
from gateway.api.models import FileVersion
from gateway.auth.tokens import Principal
from gateway.errors import InvalidBody, RangeNotSatisfiable
from gateway.keys import SessionKeys
from gateway.services.files import Opened
from gateway.services.grants import READ_ACCESS
from gateway.storage.store import ObjectStream

_TOTAL = re.compile(r"bytes \d+-\d+/(\d+)")
# The longest UTF-8 sequence is 4 bytes: a part cut inside one ends in at most 3 bytes of it.
_MAX_CUT = 3


async def read_part(request: Request, principal: Principal, args: ReadFile) -> dict[str, Any]:
    files = services(request).files
    wanted = min(args.length or MAX_READ_BYTES, MAX_READ_BYTES)

    async def read(keys: SessionKeys) -> tuple[SessionKeys, Opened, bytes]:
        try:
            opened = await files.open(
                keys,
                args.path,
                version_id=args.version_id,
                byte_range=f"bytes={args.offset}-{args.offset + wanted - 1}",
                if_none_match=None,
            )
        except RangeNotSatisfiable:
            if args.offset:
                raise
            # S3 refuses every range of an empty file; the whole of it is the answer (read no further than asked).
            opened = await files.open(keys, args.path, version_id=args.version_id, byte_range=None, if_none_match=None)
        return keys, opened, await _take(opened.stream, wanted)

    keys, opened, data = await reach_session(request, principal, args.session_id, READ_ACCESS, read)
    stream = opened.stream
    total = _total_size(stream)
    encoding, content, used = _rendered(data, args.encoding, more=args.offset + len(data) < total)
    more = args.offset + used < total
    file = files.file_version(keys, stream.info, None, opened.sha256)
    return {
        "file": FileVersion.of(dataclasses.replace(file, size=total)).model_dump(mode="json"),
        "offset": args.offset,
        "length": used,
        "encoding": encoding,
        "content": content,
        "truncated": more,
        "next_offset": args.offset + used if more else None,
        "limit_bytes": MAX_READ_BYTES,
    }


async def _take(stream: ObjectStream, wanted: int) -> bytes:
    """At most `wanted` bytes of the stream; the connection is released (or closed, if more was sent)."""
    data = bytearray()
    body = stream.body
    try:
        async for chunk in body:
            data += chunk[: wanted - len(data)]
            # A ranged answer holds no more than was asked: read to its end, so the connection can be reused.
            if len(data) >= wanted and stream.content_range is None:
                stream.close()
                break
    except BaseException:
        stream.close()
        raise
    finally:
        await body.aclose()
    return bytes(data)


def _total_size(stream: ObjectStream) -> int:
    """The whole file's size: from Content-Range when S3 answered a range, else the body is the whole file."""
    found = _TOTAL.fullmatch(stream.content_range or "")
    return int(found.group(1)) if found else stream.content_length


def _rendered(data: bytes, asked: str, *, more: bool) -> tuple[str, str, int]:
    """(encoding, content, bytes used). 'auto' gives text for UTF-8 without NUL, base64 for anything else."""
    if asked != "base64":
        text, used = _utf8(data, more=more)
        if text is not None and (asked == "text" or "\x00" not in text):
            return "text", text, used
        if asked == "text":
            raise InvalidBody.field("encoding", "these bytes are not UTF-8 text; read them with encoding 'base64'")
    return "base64", base64.b64encode(data).decode("ascii"), len(data)


def _utf8(data: bytes, *, more: bool) -> tuple[str | None, int]:
    """The bytes as text, and how many were used: a character the part's end cut in two is left for the next
    read (when something follows), so reading on from `next_offset` joins the text seamlessly."""
    try:
        return data.decode("utf-8"), len(data)
    except UnicodeDecodeError as exc:
        cut = exc.reason == "unexpected end of data" and exc.start >= max(1, len(data) - _MAX_CUT)
        if more and cut:
            # Everything before the first error decodes.
            return data[: exc.start].decode("utf-8"), exc.start
        return None, 0
