"""What the bucket's backend really does with the calls the gateway makes, learned by trying them once at start-up.

S3 implementations differ in ways that matter to a versioned write: Ceph RGW 16 drops tags given when a multipart
upload starts or an object is copied, leaves the version id out of copy answers and the ETag out of multipart
completions, and ignores `If-None-Match` on versioned buckets; moto and AWS do none of that. Rather than trust a
configured backend name, `probe` writes a few bytes under the gateway's probe prefix, reads back what happened and
removes every version it wrote. `GATEWAY_S3_FLAVOR`, when set, replaces the probe with a fixed answer.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from gateway.errors import GatewayError, PreconditionFailed
from gateway.keys import probe_key
from gateway.settings import Settings
from gateway.storage.store import ObjectInfo, Store

log = logging.getLogger(__name__)

_BODY = b"session-gateway probe\n"
_CONTENT_TYPE = "text/plain"
_TAG = "gateway-probe"


@dataclass(frozen=True)
class Capabilities:
    """Facts about the backend; each False means the gateway must work around it."""

    # Tags given to create_multipart_upload end up on the completed version.
    tags_on_multipart: bool
    # Tags given to copy_object (TaggingDirective REPLACE) end up on the copy.
    tags_on_copy: bool
    # copy_object's answer names the version it made.
    copy_reports_version: bool
    # complete_multipart_upload's answer carries the new version's ETag.
    multipart_reports_etag: bool
    # On a versioned bucket, PUT honours `If-None-Match: *` (refused once the key exists) and `If-Match` (accepted
    # for the current ETag, refused for another).
    conditional_put: bool
    # A single PUT's ETag is the MD5 of its bytes (not under SSE-KMS): a write can then be verified from S3's answer
    # alone, without reading the object back.
    etag_is_md5: bool


# What the gateway assumes of a backend it knows nothing about: every workaround on. Slower, never wrong.
LEAST = Capabilities(
    tags_on_multipart=False,
    tags_on_copy=False,
    copy_reports_version=False,
    multipart_reports_etag=False,
    conditional_put=False,
    etag_is_md5=False,
)
_BY_FLAVOR = {
    "aws": Capabilities(
        tags_on_multipart=True,
        tags_on_copy=True,
        copy_reports_version=True,
        multipart_reports_etag=True,
        conditional_put=True,
        # Not under SSE-KMS, which a bucket may apply by default: only the probe can tell.
        etag_is_md5=False,
    ),
    # Ceph RGW 16, as the probe finds it.
    "ceph": replace(LEAST, etag_is_md5=True),
    "generic": LEAST,
}


def for_flavor(flavor: str) -> Capabilities:
    """The fixed capabilities `GATEWAY_S3_FLAVOR` stands for."""
    try:
        return _BY_FLAVOR[flavor]
    except KeyError:
        raise ValueError(f"unknown backend flavor {flavor!r}; use one of {', '.join(_BY_FLAVOR)}") from None


async def discover(store: Store, settings: Settings) -> Capabilities:
    """The capabilities to use: the flavor's when `GATEWAY_S3_FLAVOR` is set, else probed.

    A probe that fails (the bucket is unreachable, or the credentials may not tag) leaves the least capabilities:
    every workaround on, which is correct on any backend.
    """
    if settings.s3_flavor is not None:
        return for_flavor(settings.s3_flavor)
    try:
        found = await probe(store, settings)
    except GatewayError:
        log.warning("could not probe the storage backend; assuming it honours nothing optional", exc_info=True)
        return LEAST
    log.info("storage backend probed: %s", found)
    return found


async def probe(store: Store, settings: Settings) -> Capabilities:
    """Try each capability on one fresh probe key, then remove every version written there.

    At most 15 S3 calls, none carrying more than a few bytes: up to four conditional PUTs (fewer once one shows
    the conditions are not honoured), a multipart upload with ONE part (S3 lets the only part be smaller than
    5 MiB), a copy, two tag reads, one listing of the key's versions and one delete per version written (four on
    moto and on Ceph RGW: 15 calls on moto, 13 on Ceph RGW). An upload left open by a failure is aborted.
    """
    key = probe_key(settings.key_root, secrets.token_hex(8))
    try:
        conditional_put, first = await _conditional_put(store, key)
        tags_on_multipart, multipart_reports_etag = await _multipart(store, key)
        copy_reports_version, tags_on_copy = await _copy(store, first)
    finally:
        await _remove_every_version(store, key)
    return Capabilities(
        tags_on_multipart=tags_on_multipart,
        tags_on_copy=tags_on_copy,
        copy_reports_version=copy_reports_version,
        multipart_reports_etag=multipart_reports_etag,
        conditional_put=conditional_put,
        etag_is_md5=first.etag.strip('"') == hashlib.md5(_BODY, usedforsecurity=False).hexdigest(),
    )


# The probe needs answers the store's write methods do not hand back (the ETag of a PUT or of a completed upload)
# and conditions they do not send, so it makes those calls through the store's own call path: same client, same
# error translation, same key observer.


async def _put(store: Store, key: str, **condition: str) -> dict[str, Any]:
    """The answer to a PUT of the probe body; a refused condition raises `PreconditionFailed`."""
    answer: dict[str, Any] = await store._call(
        "put_object", key, Key=key, Body=_BODY, ContentType=_CONTENT_TYPE, **condition
    )
    return answer


async def _refused(store: Store, key: str, **condition: str) -> bool:
    try:
        await _put(store, key, **condition)
    except PreconditionFailed:
        return True
    return False


async def _conditional_put(store: Store, key: str) -> tuple[bool, ObjectInfo]:
    """Whether PUT honours `If-None-Match: *` and `If-Match`, and the first version written (the copy's source)."""
    try:
        created = await _put(store, key, IfNoneMatch="*")
        honoured = True
    except PreconditionFailed:
        # The key is fresh: refusing here means the backend does not understand the condition.
        created = await _put(store, key)
        honoured = False
    first = ObjectInfo(
        key=key,
        version_id=_version(created),
        etag=str(created.get("ETag", "")),
        size=len(_BODY),
        last_modified=datetime.now(UTC),
        content_type=_CONTENT_TYPE,
    )
    # A digest of other bytes: an `If-Match` with it must be refused.
    stale = '"' + hashlib.md5(_BODY + b"stale", usedforsecurity=False).hexdigest() + '"'
    honoured = (
        honoured
        and await _refused(store, key, IfNoneMatch="*")
        and await _refused(store, key, IfMatch=stale)
        and not await _refused(store, key, IfMatch=first.etag)
    )
    return honoured, first


async def _multipart(store: Store, key: str) -> tuple[bool, bool]:
    """(tags given at the start are on the completed version, the completion's answer carries an ETag)."""
    upload_id = await store.start_multipart(key, content_type=_CONTENT_TYPE, metadata={}, tags={_TAG: "multipart"})
    try:
        part = await store.upload_part(key, upload_id, 1, _BODY)
        answer = await store._call(
            "complete_multipart_upload", key, Key=key, UploadId=upload_id, MultipartUpload={"Parts": [part]}
        )
    except BaseException:
        await store.abort_multipart(key, upload_id)
        raise
    version = _version(answer)
    tags = await store.get_tags(key, version)
    reports_etag = bool(str(answer.get("ETag") or "").strip('"'))
    return tags.get(_TAG) == "multipart", reports_etag


async def _copy(store: Store, source: ObjectInfo) -> tuple[bool, bool]:
    """(the copy's answer names its version, tags given to the copy are on it), copying as the gateway does."""
    version = await store.copy_version(source.key, source, metadata={}, tags={_TAG: "copy"})
    # Without a version id the copy can only be found as the key's current version; nobody else writes here.
    tags = await store.get_tags(source.key, version)
    return version is not None, tags.get(_TAG) == "copy"


async def _remove_every_version(store: Store, key: str) -> None:
    """Delete every version and delete marker of exactly `key`, so the probe leaves nothing in the bucket."""
    found = [entry async for page in store.version_pages(key) for entry in page if entry.key == key]
    for entry in found:
        await store.delete_version(key, entry.version_id)


def _version(answer: dict[str, Any]) -> str | None:
    value = answer.get("VersionId")
    return None if value in (None, "", "null") else str(value)
