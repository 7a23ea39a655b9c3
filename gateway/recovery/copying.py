"""Bringing an exact version to another key (a snapshot's copy, or a file restored), in the fewest S3 calls.

A small version is read and written again through the one write step: one GetObject (which brings the type and
metadata along) and one PutObject, whose ETag the write step checks against the MD5 of what it sent. A server-side
copy of the same version costs a HeadObject for its type and metadata, the CopyObject, and on backends that leave
the new version's id out of the answer or drop tags on copies (Ceph RGW), a listing, a HeadObject and a tag write
more. Larger versions are copied server-side: no bytes pass through the gateway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.storage.preconditions import Precondition
from gateway.storage.store import ObjectInfo, Store
from gateway.storage.writes import UNCONDITIONAL, CopyOf, Prepared, Streamed, VersionWriter, Written

# Up to this size a version is read and written again rather than copied server-side.
REWRITE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Source:
    """An exact version to bring over; `info` when its type and metadata are known already."""

    key: str
    version_id: str | None
    size: int
    info: ObjectInfo | None = None


async def bring(
    store: Store,
    writer: VersionWriter,
    key: str,
    source: Source,
    *,
    tags: Mapping[str, str],
    precondition: Precondition = UNCONDITIONAL,
    prepared: Prepared | None = None,
) -> Written:
    """Write `source`'s bytes, type and metadata as a new version of `key`, with `tags`."""
    if source.size <= REWRITE_BYTES:
        stream = await store.get(source.key, version_id=source.version_id, believe_missing=True)
        try:
            info = stream.info
            return await writer.write(
                key,
                Streamed(stream.body, info.size),
                precondition=precondition,
                prepared=prepared,
                content_type=info.content_type,
                metadata=info.metadata,
                tags=tags,
            )
        finally:
            stream.close()
    info = source.info or await store.head(source.key, source.version_id, believe_missing=True)
    return await writer.write(
        key, CopyOf(info), precondition=precondition, prepared=prepared, metadata=info.metadata, tags=tags
    )
