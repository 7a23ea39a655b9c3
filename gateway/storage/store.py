"""The store adapter: the only module that talks to S3.

It speaks in keys built by `gateway.keys`, returns plain dataclasses, and translates every S3 failure into the
gateway's exception tree with one table (`translate`). The calls on every request's path (GetObject, HeadObject,
GetObjectTagging, PutObject, UploadPart) go through the lean client in `gateway.storage.s3http`; all others
through aiobotocore.
Bulk walks use botocore paginators; retries are botocore's standard mode, which the lean client follows too.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlencode
from xml.etree import ElementTree

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.credentials import AioCredentials
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError
from botocore.httpsession import get_cert_path

from gateway import errors
from gateway.settings import Settings
from gateway.storage.s3errors import translate
from gateway.storage.s3http import (
    UNSIGNED_PAYLOAD,
    LeanS3,
    S3Refusal,
    Signer,
    Target,
    parse_tags,
    parse_versions,
    payload_sha256,
    refusal_in,
    tagging_xml,
)

T = TypeVar("T")
META_PREFIX = "x-amz-meta-"
CURRENT_READ_ATTEMPTS = 5
# A PUT that Ceph RGW 16 answers 404 (every version of the key being deleted at that moment) is sent again this often.
PUT_ATTEMPTS = 4
DELETE_BATCH = 1000
# Entries per page when looking for a version near the top of a key's history.
LISTED_PAGE = 32
MAX_COPY_BYTES = 5 * 1024**3
COPY_PART_BYTES = 512 * 1024**2

KeyObserver = Callable[[str, str], None]


class CallMeter(Protocol):
    """Told of every S3 call once it is answered: its operation, how long it took (retries included) and the
    gateway's exception for a failure (None on success). The metrics of `gateway.telemetry` are one."""

    def s3_call(self, operation: str, seconds: float, error: Exception | None) -> None: ...


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    version_id: str | None
    etag: str
    size: int
    last_modified: datetime
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionEntry:
    key: str
    version_id: str
    is_latest: bool
    is_delete_marker: bool
    etag: str | None
    size: int | None
    last_modified: datetime


@dataclass(frozen=True)
class PendingUpload:
    """A multipart upload that was started and neither completed nor aborted."""

    key: str
    upload_id: str
    initiated: datetime


@dataclass(frozen=True)
class ObjectStream:
    info: ObjectInfo
    body: AsyncGenerator[bytes, None]
    content_length: int
    content_range: str | None
    # Releases the connection when the body will not be read (a generator never started cannot close it).
    close: Callable[[], None]


@dataclass(frozen=True)
class ListingPage:
    objects: list[ObjectInfo]
    prefixes: list[str]
    # S3's token for the next page, raw: callers seal it (gateway.auth.cursors) before a client sees it.
    continuation: str | None


@dataclass(frozen=True)
class VersionsPage:
    entries: list[VersionEntry]
    # The version id the next page starts after, or None on the last page.
    next_after: str | None


@dataclass(frozen=True)
class BucketState:
    exists: bool
    versioning: str | None


# Some S3 front ends (moto's server, any WSGI framework that parses forms) read a request body whose type is a
# form as form fields, and store nothing. Such types are stored as plain bytes, the client's type kept in metadata.
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
STORED_TYPE_METADATA = "gateway-content-type"


def _stored_type(content_type: str, metadata: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The Content-Type and metadata to send S3 for a body of `content_type`."""
    if content_type.split(";", 1)[0].strip().lower() in _FORM_TYPES:
        return "application/octet-stream", {**metadata, STORED_TYPE_METADATA: content_type}
    return content_type, dict(metadata)


def _header_info(key: str, headers: Mapping[str, str]) -> ObjectInfo:
    """What a HEAD or GET answer's headers say of the version."""
    metadata = {
        name[len(META_PREFIX) :].lower(): value
        for name, value in headers.items()
        if name.lower().startswith(META_PREFIX)
    }
    content_type = metadata.pop(STORED_TYPE_METADATA, None) or headers.get("content-type")
    return ObjectInfo(
        key=key,
        version_id=_version(headers.get("x-amz-version-id")),
        etag=headers.get("etag", ""),
        size=int(headers.get("content-length", 0)),
        last_modified=parsedate_to_datetime(headers["last-modified"]),
        content_type=content_type or "application/octet-stream",
        metadata=metadata,
    )


def _http_date(raw: str | None) -> datetime:
    try:
        return parsedate_to_datetime(raw) if raw else datetime.now(UTC).replace(microsecond=0)
    except (TypeError, ValueError):
        return datetime.now(UTC).replace(microsecond=0)


def _version_query(version_id: str | None) -> dict[str, str | None]:
    return {"versionId": version_id} if version_id else {}


def _tagging(tags: Mapping[str, str] | None) -> dict[str, str]:
    return {"Tagging": urlencode(dict(tags))} if tags else {}


def _version(value: object) -> str | None:
    # S3 reports objects written before versioning as version "null".
    return None if value in (None, "", "null") else str(value)


# botocore parses ListObjectVersions into two lists, versions and delete markers, losing how they interleave. The
# order matters (it is the order of writes), and timestamps cannot restore it: they tie within a second on some
# backends. So the raw response is read once more for the order of the entries.
_ENTRY_ORDER = re.compile(rb"<(?:Version|DeleteMarker)>.*?<VersionId>(.*?)</VersionId>", re.DOTALL)
ORDER_FIELD = "GatewayEntryOrder"


def _record_entry_order(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    body = response_dict.get("body")
    if isinstance(body, bytes) and response_dict.get("status_code") == 200:
        customized_response_dict[ORDER_FIELD] = [
            html.unescape(match.group(1).decode("utf-8")) for match in _ENTRY_ORDER.finditer(body)
        ]


def _next_key_of_listed_entry(parsed: dict[str, Any], **_: Any) -> None:
    """Where the next page of a version listing starts: the key of the version it names, as the page listed it.

    Under `EncodingType=url` (which botocore asks for) Ceph RGW encodes every `Key` but not `NextKeyMarker`, which
    botocore then decodes all the same: a key with `%20` in its name came back with a space, and the next page
    started somewhere else (or at the same place again, and pagination stopped with an error).
    """
    version = parsed.get("NextVersionIdMarker")
    if not version or not parsed.get("IsTruncated"):
        return
    for name in ("Versions", "DeleteMarkers"):
        for item in parsed.get(name, []):
            if item.get("VersionId") == version:
                parsed["NextKeyMarker"] = item["Key"]
                return


def _entries(page: Mapping[str, Any], key: str | None) -> list[VersionEntry]:
    """Versions and delete markers of one page, merged in S3's order: newest first within a key."""
    found = [
        VersionEntry(
            key=item["Key"],
            version_id=str(item.get("VersionId") or "null"),
            is_latest=bool(item.get("IsLatest")),
            is_delete_marker=marker,
            etag=None if marker else str(item.get("ETag", "")),
            size=None if marker else int(item.get("Size", 0)),
            last_modified=item["LastModified"],
        )
        for marker, items in ((False, page.get("Versions", [])), (True, page.get("DeleteMarkers", [])))
        for item in items
        if key is None or item["Key"] == key
    ]
    position = {version_id: index for index, version_id in enumerate(page.get(ORDER_FIELD, []))}
    # Some backends (moto) list all versions before all delete markers; the latest entry is always marked, though.
    found.sort(key=lambda entry: (entry.key, not entry.is_latest, position.get(entry.version_id, len(position))))
    return found


def _passes_key(page: Mapping[str, Any], key: str) -> bool:
    """Whether a listing page for prefix `key` reaches other keys, so `key`'s history ends in it.

    Versions of one key are contiguous and come before the longer keys that share the prefix.
    """
    return any(item["Key"] != key for name in ("Versions", "DeleteMarkers") for item in page.get(name, []))


class Store:
    """An S3 bucket seen through one aiobotocore client. Use `async with Store(...)`."""

    def __init__(
        self,
        settings: Settings,
        *,
        credentials: tuple[str, str] | None = None,
        observer: KeyObserver | None = None,
        meter: CallMeter | None = None,
        max_copy_bytes: int = MAX_COPY_BYTES,
        copy_part_bytes: int = COPY_PART_BYTES,
    ) -> None:
        self.bucket = settings.bucket
        self._settings = settings
        self._credentials = credentials
        self._observer = observer
        self._meter = meter
        self._max_copy_bytes = max_copy_bytes
        self._copy_part_bytes = copy_part_bytes
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._presigner: Any = None
        self._lean: LeanS3 | None = None
        # Whether a tag read of the current version names the version it read (Ceph RGW 16's does not); learned
        # from the first such answer, None until then.
        self.tags_name_versions: bool | None = None

    async def __aenter__(self) -> Store:
        session = get_session()
        self._client = await self._stack.enter_async_context(
            session.create_client("s3", **self._client_args(self._settings.s3_endpoint_url))
        )
        self._client.meta.events.register("before-parse.s3.ListObjectVersions", _record_entry_order)
        # Last: after botocore has decoded the URL-encoded keys of the answer.
        self._client.meta.events.register_last("after-call.s3.ListObjectVersions", _next_key_of_listed_entry)
        public = self._settings.s3_public_endpoint_url
        self._presigner = self._client
        if public and public != self._settings.s3_endpoint_url:
            self._presigner = await self._stack.enter_async_context(
                session.create_client("s3", **self._client_args(public))
            )
        credentials = AioCredentials(*self._credentials) if self._credentials else await session.get_credentials()
        endpoint = self._settings.s3_endpoint_url
        target = Target.of(endpoint or self._client.meta.endpoint_url, self.bucket, path_style=endpoint is not None)
        self._lean = await self._stack.enter_async_context(
            LeanS3(
                target,
                Signer(credentials, self._settings.s3_region),
                max_connections=self._settings.s3_max_connections,
                max_attempts=self._settings.s3_max_attempts,
                ca_bundle=get_cert_path(session.get_config_variable("ca_bundle") or True),
            )
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    def _client_args(self, endpoint: str | None) -> dict[str, Any]:
        config = AioConfig(
            region_name=self._settings.s3_region,
            signature_version="s3v4",
            retries={"mode": "standard", "max_attempts": self._settings.s3_max_attempts},
            max_pool_connections=self._settings.s3_max_connections,
            s3={"addressing_style": "path" if endpoint else "auto"},
            # Newer checksum trailers cost CPU and are not understood by every S3 (Ceph RGW 16).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        args: dict[str, Any] = {"config": config, "endpoint_url": endpoint}
        if self._credentials:
            args["aws_access_key_id"], args["aws_secret_access_key"] = self._credentials
        return args

    def _metered(self, operation: str, started: float, error: Exception | None) -> None:
        if self._meter is not None:
            self._meter.s3_call(operation, time.perf_counter() - started, error)

    async def _call(self, operation: str, key: str = "", **params: Any) -> Any:
        if self._observer is not None:
            self._observer(operation, key)
        started = time.perf_counter()
        try:
            answer = await getattr(self._client, operation)(Bucket=self.bucket, **params)
        except (ClientError, BotoCoreError) as exc:
            failure = translate(exc)
            self._metered(operation, started, failure)
            raise failure from exc
        self._metered(operation, started, None)
        return answer

    def _pages(self, operation: str, prefix: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        if self._observer is not None:
            self._observer(operation, prefix)
        paginator = self._client.get_paginator(operation)
        return self._translated(operation, paginator.paginate(Bucket=self.bucket, Prefix=prefix, **params))

    async def _translated(self, operation: str, pages: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        """The pages of a walk, each one an S3 call of its own (metered as one)."""
        iterator = aiter(pages)
        while True:
            started = time.perf_counter()
            try:
                page = await anext(iterator)
            except StopAsyncIteration:
                return
            except (ClientError, BotoCoreError) as exc:
                failure = translate(exc)
                self._metered(operation, started, failure)
                raise failure from exc
            self._metered(operation, started, None)
            yield page

    # Bucket

    async def bucket_state(self) -> BucketState:
        try:
            await self._call("head_bucket")
        except errors.ObjectMissing:
            return BucketState(exists=False, versioning=None)
        response = await self._call("get_bucket_versioning")
        return BucketState(exists=True, versioning=response.get("Status"))

    async def create_versioned_bucket(self) -> None:
        params: dict[str, Any] = {}
        if self._settings.s3_region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self._settings.s3_region}
        try:
            await self._call("create_bucket", **params)
        except errors.StoreError as exc:
            cause = exc.__cause__
            code = cause.response.get("Error", {}).get("Code") if isinstance(cause, ClientError) else None
            if code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise
        await self._call("put_bucket_versioning", VersioningConfiguration={"Status": "Enabled"})

    # Single objects

    async def _object_call(
        self,
        operation: str,
        method: str,
        key: str | None,
        *,
        observed: str = "",
        params: Mapping[str, str | None] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        payload_hash: str | None = None,
    ) -> aiohttp.ClientResponse:
        """One call on the lean client about `key` (or the bucket, None, listing `observed`); a 2xx response
        whose body the caller reads or releases."""
        if self._observer is not None:
            self._observer(operation, key or observed)
        assert self._lean is not None, "use Store inside `async with`"
        started = time.perf_counter()
        try:
            if payload_hash is None:
                payload_hash = await payload_sha256(body)
            response = await self._lean.request(
                method, key, params=params, headers=headers, body=body, payload_hash=payload_hash
            )
        except (S3Refusal, aiohttp.ClientError, TimeoutError, BotoCoreError) as exc:
            failure = translate(exc)
            self._metered(operation, started, failure)
            raise failure from exc
        self._metered(operation, started, None)
        return response

    async def head(self, key: str, version_id: str | None = None, *, believe_missing: bool = False) -> ObjectInfo:
        """A version's metadata (the current one by default). `believe_missing` takes a 404 for the current
        version at its word, for callers that read the key's history beside it."""

        async def fetch(version: str | None) -> ObjectInfo:
            response = await self._object_call("head_object", "HEAD", key, params=_version_query(version))
            response.release()
            return _header_info(key, response.headers)

        if believe_missing or version_id is not None:
            return await fetch(version_id)
        return await self._current(fetch, key)

    async def _current(self, fetch: Callable[[str | None], Awaitable[T]], key: str) -> T:
        """A read of the current version that does not mistake a moment of re-linking for a deleted object.

        While a key's newest version is removed, Ceph RGW 16 answers 404 for the key although an older version is
        about to become current; under load the moment can last long. A 404 is only believed when the history
        agrees; otherwise the newest version the history lists is read by its id, which is what was current when
        it was listed. Should that version be withdrawn meanwhile, the history is read again.
        """
        try:
            return await fetch(None)
        except errors.ObjectMissing as exc:
            missing = exc
        for attempt in range(CURRENT_READ_ATTEMPTS):
            if attempt:
                await asyncio.sleep(0.01 * attempt)  # the listed version was being removed: let the index catch up
            latest = await self.latest_entry(key)
            if latest is None or latest.is_delete_marker:
                break
            try:
                return await fetch(latest.version_id)
            except errors.ObjectMissing as exc:
                missing = exc
        raise missing

    async def get(
        self,
        key: str,
        *,
        version_id: str | None = None,
        byte_range: str | None = None,
        believe_missing: bool = False,
    ) -> ObjectStream:
        """A version's bytes (the current one by default); `believe_missing` as for `head`."""
        headers = {}
        if byte_range:
            headers["range"] = byte_range

        async def fetch(version: str | None) -> aiohttp.ClientResponse:
            return await self._object_call("get_object", "GET", key, params=_version_query(version), headers=headers)

        direct = version_id is not None or believe_missing
        response = await (fetch(version_id) if direct else self._current(fetch, key))
        try:
            info = _header_info(key, response.headers)
        except (KeyError, ValueError) as exc:
            response.close()
            raise errors.StoreError("the storage backend answered a read without the object's headers") from exc
        return ObjectStream(
            info=info,
            body=self._chunks(response),
            content_length=info.size,
            content_range=response.headers.get("content-range"),
            close=response.close,
        )

    @staticmethod
    async def _chunks(response: aiohttp.ClientResponse) -> AsyncGenerator[bytes, None]:
        try:
            # Each piece as it arrived from S3: gathering pieces into larger ones would copy every byte once more.
            async for chunk, _ in response.content.iter_chunks():
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise translate(exc) from exc
        finally:
            response.release()

    async def read_bytes(self, key: str, *, believe_missing: bool = False) -> tuple[bytes, ObjectInfo]:
        """Read a small object whole (records the gateway keeps)."""
        stream = await self.get(key, believe_missing=believe_missing)
        data = b"".join([chunk async for chunk in stream.body])
        return data, stream.info

    async def read_if_changed(self, key: str, etag: str | None) -> tuple[bytes, ObjectInfo] | None:
        """A small object whole, or None when its current ETag is still `etag` (S3 answers 304 and no body): a
        reader that caches what it parsed pays one short call while nothing changed."""
        if etag is None:
            return await self.read_bytes(key)
        try:
            response = await self._object_call("get_object", "GET", key, headers={"if-none-match": etag})
        except errors.NotModified:
            return None
        except errors.ObjectMissing:
            return await self.read_bytes(key)  # believed only when the history agrees (`_current`)
        try:
            info = _header_info(key, response.headers)
            return await response.read(), info
        finally:
            response.release()

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        metadata: Mapping[str, str],
        tags: Mapping[str, str] | None = None,
        content_md5: bytes | None = None,
        sha256_hex: str | None = None,
    ) -> ObjectInfo:
        """Write a whole object; returns what S3 reported of the new version.

        `last_modified` is the response's Date (S3 gives no LastModified here); it is within the second of the
        object's own, which is what HTTP dates carry anyway. With `content_md5`, S3 refuses bytes damaged on the way.
        `sha256_hex`, when the caller hashed `data` already, spares hashing it again for the signature.
        """
        stored_type, stored_metadata = _stored_type(content_type, metadata)
        headers = {
            "content-type": stored_type,
            **{META_PREFIX + name: value for name, value in stored_metadata.items()},
        }
        if tags:
            headers["x-amz-tagging"] = urlencode(dict(tags))
        payload_hash = self._vouch(content_md5, headers) or sha256_hex
        for attempt in range(PUT_ATTEMPTS):
            try:
                response = await self._object_call(
                    "put_object", "PUT", key, headers=headers, body=data, payload_hash=payload_hash
                )
                break
            except errors.ObjectMissing:
                # Ceph RGW answers NoSuchKey to a PUT that lands while another request deletes every version of the
                # key (seen on the index's notes): no version was made, and the bytes are at hand to send again.
                if attempt + 1 == PUT_ATTEMPTS:
                    raise errors.StoreError("the storage backend kept refusing to write this object") from None
                await asyncio.sleep(0.01 * (attempt + 1))
        response.release()
        return ObjectInfo(
            key=key,
            version_id=_version(response.headers.get("x-amz-version-id")),
            etag=response.headers.get("etag", ""),
            size=len(data),
            last_modified=_http_date(response.headers.get("date")),
            content_type=content_type,
            metadata=dict(metadata),
        )

    @property
    def signs_payloads(self) -> bool:
        """Whether request signatures cover the bytes sent (S3 over plain HTTP), so writers may pass their SHA-256."""
        assert self._lean is not None
        return not self._lean.secure

    def _vouch(self, content_md5: bytes | None, headers: dict[str, str]) -> str | None:
        """Add the body's `Content-MD5` to `headers`; return the payload hash to sign, or None to sign its SHA-256.

        As botocore does it: over HTTPS a `Content-MD5` is enough; over plain HTTP the signature covers the bytes.
        """
        if content_md5 is None:
            return None
        headers["content-md5"] = base64.b64encode(content_md5).decode("ascii")
        assert self._lean is not None
        return UNSIGNED_PAYLOAD if self._lean.secure else None

    async def get_tags(self, key: str, version_id: str | None = None) -> dict[str, str]:
        return (await self.get_tags_and_version(key, version_id))[0]

    async def get_tags_and_version(self, key: str, version_id: str | None = None) -> tuple[dict[str, str], str | None]:
        """Tags of a version, and its version id when the backend says (Ceph RGW 16 does not).

        On the lean client: listings, HEADs and exports read tags file by file, and botocore's own work per call
        cost more than the call itself.
        """
        params: dict[str, str | None] = {"tagging": None, **_version_query(version_id)}
        response = await self._object_call("get_object_tagging", "GET", key, params=params)
        try:
            tags = parse_tags(await response.read())
        except (ElementTree.ParseError, KeyError) as exc:
            raise errors.StoreError("the storage backend answered a tag read this gateway cannot read") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise translate(exc) from exc
        finally:
            response.release()
        named = _version(response.headers.get("x-amz-version-id"))
        if version_id is None:
            self.tags_name_versions = named is not None
        return tags, named

    async def put_tags(self, key: str, tags: Mapping[str, str], version_id: str | None = None) -> None:
        """Replace the tags of one version (the current one by default) without touching its data.

        On the lean client, like the copies it follows (Ceph RGW drops tags on copies, so every copy needs one).
        """
        body = tagging_xml(tags)
        headers = {"content-type": "application/xml"}
        payload_hash = self._vouch(hashlib.md5(body).digest(), headers)  # noqa: S324 (S3 asks for Content-MD5)
        params: dict[str, str | None] = {"tagging": None, **_version_query(version_id)}
        response = await self._object_call(
            "put_object_tagging", "PUT", key, params=params, headers=headers, body=body, payload_hash=payload_hash
        )
        response.release()

    async def delete(self, key: str) -> None:
        """Put a delete marker on `key` (history is kept)."""
        await self.delete_marking(key)

    async def delete_version(self, key: str, version_id: str) -> None:
        """Remove one version for good."""
        await self._call("delete_object", key, Key=key, VersionId=version_id)

    async def copy_version(
        self, key: str, source: ObjectInfo, *, metadata: Mapping[str, str], tags: Mapping[str, str] | None = None
    ) -> str | None:
        """Copy `source` (an exact version of `key`) onto the head of `key`, as a new version."""
        copy_source = {"Bucket": self.bucket, "Key": source.key, "VersionId": source.version_id or "null"}
        stored_type, stored_metadata = _stored_type(source.content_type, metadata)
        if source.size <= self._max_copy_bytes:
            return await self._copy_object(key, source, stored_type, stored_metadata, tags)
        upload_id = await self.start_multipart(key, content_type=source.content_type, metadata=metadata, tags=tags)
        try:
            parts = []
            for number, start in enumerate(range(0, source.size, self._copy_part_bytes), start=1):
                end = min(start + self._copy_part_bytes, source.size) - 1
                response = await self._call(
                    "upload_part_copy",
                    key,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=copy_source,
                    CopySourceRange=f"bytes={start}-{end}",
                )
                parts.append({"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]})
            return await self.complete_multipart(key, upload_id, parts)
        except BaseException:
            await self.abort_multipart(key, upload_id)
            raise

    async def _copy_object(
        self,
        key: str,
        source: ObjectInfo,
        stored_type: str,
        stored_metadata: Mapping[str, str],
        tags: Mapping[str, str] | None,
    ) -> str | None:
        """One CopyObject on the lean client: copies, moves, forks, snapshots and restores make one per file."""
        version = quote(source.version_id or "null", safe="")
        headers = {
            "x-amz-copy-source": f"/{quote(self.bucket, safe='')}/{quote(source.key, safe='/~')}?versionId={version}",
            "x-amz-metadata-directive": "REPLACE",
            "content-type": stored_type,
            **{META_PREFIX + name: value for name, value in stored_metadata.items()},
        }
        if tags is not None:
            headers["x-amz-tagging-directive"] = "REPLACE"
            if tags:
                headers["x-amz-tagging"] = urlencode(dict(tags))
        response = await self._object_call("copy_object", "PUT", key, headers=headers)
        try:
            body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise translate(exc) from exc
        finally:
            response.release()
        failed = refusal_in(response.headers, body)
        if failed is not None:
            raise translate(failed)
        return _version(response.headers.get("x-amz-version-id"))

    # Multipart uploads

    async def start_multipart(
        self, key: str, *, content_type: str, metadata: Mapping[str, str], tags: Mapping[str, str] | None = None
    ) -> str:
        stored_type, stored_metadata = _stored_type(content_type, metadata)
        response = await self._call(
            "create_multipart_upload",
            key,
            Key=key,
            ContentType=stored_type,
            Metadata=stored_metadata,
            **_tagging(tags),
        )
        return str(response["UploadId"])

    async def upload_part(
        self,
        key: str,
        upload_id: str,
        number: int,
        data: bytes,
        *,
        content_md5: bytes | None = None,
        sha256_hex: str | None = None,
    ) -> dict[str, Any]:
        """Send one part; `sha256_hex`, when the caller hashed the part already, spares hashing it again."""
        headers: dict[str, str] = {}
        payload_hash = self._vouch(content_md5, headers) or sha256_hex
        response = await self._object_call(
            "upload_part",
            "PUT",
            key,
            params={"partNumber": str(number), "uploadId": upload_id},
            headers=headers,
            body=data,
            payload_hash=payload_hash,
        )
        response.release()
        return {"PartNumber": number, "ETag": response.headers.get("etag", "")}

    async def complete_multipart(self, key: str, upload_id: str, parts: list[dict[str, Any]]) -> str | None:
        response = await self._call(
            "complete_multipart_upload", key, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
        return _version(response.get("VersionId"))

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        await self._call("abort_multipart_upload", key, Key=key, UploadId=upload_id)

    # Listings

    async def list_page(
        self,
        prefix: str,
        *,
        delimiter: str | None,
        limit: int,
        continuation: str | None,
        start_after: str | None = None,
    ) -> ListingPage:
        """One page of current objects under `prefix`; `continuation` is a previous page's, as S3 gave it.
        `start_after` (a first page only) starts after that key."""
        params: dict[str, Any] = {"Prefix": prefix, "MaxKeys": limit}
        if delimiter:
            params["Delimiter"] = delimiter
        if continuation:
            params["ContinuationToken"] = continuation
        elif start_after:
            params["StartAfter"] = start_after
        try:
            response = await self._call("list_objects_v2", prefix, **params)
        except errors.BadRequest as exc:
            # Only a token S3 itself gave gets here; one it no longer takes (a migrated bucket) ends the walk.
            raise errors.InvalidCursor("the storage backend no longer accepts this cursor") from exc
        objects = [
            ObjectInfo(
                key=item["Key"],
                version_id=None,
                etag=str(item.get("ETag", "")),
                size=int(item.get("Size", 0)),
                last_modified=item["LastModified"],
                content_type="",
            )
            for item in response.get("Contents", [])
        ]
        prefixes = [item["Prefix"] for item in response.get("CommonPrefixes", [])]
        token = response.get("NextContinuationToken") if response.get("IsTruncated") else None
        return ListingPage(objects, prefixes, str(token) if token else None)

    async def versions_page(self, key: str, *, limit: int, after: str | None) -> VersionsPage:
        """One page of the history of exactly `key`, newest first, starting below version `after` when given."""
        params: dict[str, Any] = {"Prefix": key, "MaxKeys": limit}
        if after:
            params.update(KeyMarker=key, VersionIdMarker=after)
        response = await self._call("list_object_versions", key, **params)
        entries = _entries(response, key)
        more = bool(response.get("IsTruncated")) and not _passes_key(response, key) and bool(entries)
        return VersionsPage(entries, entries[-1].version_id if more else None)

    async def latest_entry(self, key: str) -> VersionEntry | None:
        """The newest version or delete marker of exactly `key`."""
        return await self._one_entry(key, {})

    async def entry_below(self, key: str, version_id: str) -> VersionEntry | None:
        """The version or delete marker written just before `version_id` of `key`.

        Asking for one entry after a marker gives the exact order of writes on every backend, even those whose
        listings group delete markers apart from versions. The answer is only meaningful if `version_id` still
        existed during the call: callers check that afterwards.
        """
        return await self._one_entry(key, {"key-marker": key, "version-id-marker": version_id})

    async def is_listed(self, key: str, version_id: str, *, under: str | None) -> bool:
        """Whether `version_id` of `key` is in the version listing now.

        A HEAD cannot tell: Ceph RGW takes a version out of its index before it removes the data, so a version
        being deleted still answers HEAD for a moment. The scan walks down from the newest entry and gives up at
        `under`, the entry last seen just under the version, so it reads only what was written on top of it.
        """
        async for page in self._pages("list_object_versions", key, PaginationConfig={"PageSize": LISTED_PAGE}):
            for entry in _entries(page, key):
                if entry.version_id == version_id:
                    return True
                if entry.version_id == under:
                    return False
            if _passes_key(page, key):
                return False
        return False

    async def top_entries(self, key: str, count: int) -> tuple[list[VersionEntry], bool]:
        """The newest `count` entries of exactly `key`, newest first, read in one listing (one consistent look at
        the key's history), and whether they are all of it.

        Backends that list delete markers apart from versions (moto) still list the true newest `count` entries;
        only their order among delete markers is lost. With two entries, `is_latest` restores it; callers that
        read more treat a page with delete markers as inexact.
        """
        return await self._top(key, count, {})

    async def _one_entry(self, key: str, markers: dict[str, str]) -> VersionEntry | None:
        entries, _ = await self._top(key, 1, markers)
        return entries[0] if entries else None

    async def _top(self, key: str, count: int, markers: dict[str, str]) -> tuple[list[VersionEntry], bool]:
        """A short ListObjectVersions on the lean client: these run on every write, two or three times."""
        params: dict[str, str | None] = {
            "versions": None,
            "encoding-type": "url",
            "max-keys": str(count),
            "prefix": key,
            **markers,
        }
        response = await self._object_call("list_object_versions", "GET", None, params=params, observed=key)
        try:
            listed, truncated = parse_versions(await response.read())
        except (ElementTree.ParseError, KeyError, ValueError) as exc:
            raise errors.StoreError("the storage backend answered a listing this gateway cannot read") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise translate(exc) from exc
        finally:
            response.release()
        mine = [
            VersionEntry(e.key, e.version_id, e.is_latest, e.is_delete_marker, e.etag, e.size, e.last_modified)
            for e in listed
            if e.key == key
        ]
        # Newest first within the key, as `_entries` orders botocore's pages: the latest entry is always marked.
        mine.sort(key=lambda entry: not entry.is_latest)
        return mine, len(mine) < len(listed) or not truncated

    async def current_keys(self, prefix: str) -> AsyncIterator[list[str]]:
        """Batches of the keys of current (not deleted) objects under `prefix`."""
        async for page in self._pages("list_objects_v2", prefix, PaginationConfig={"PageSize": DELETE_BATCH}):
            keys = [item["Key"] for item in page.get("Contents", [])]
            if keys:
                yield keys

    async def delete_all_current(self, prefix: str) -> list[tuple[str, str | None]]:
        """Put delete markers on every current object under `prefix`; returns each key with its marker's version."""
        deleted: list[tuple[str, str | None]] = []
        async for keys in self.current_keys(prefix):
            done = await self._delete_batch(prefix, [{"Key": key} for key in keys], quiet=False)
            deleted += [(item["Key"], _version(item.get("DeleteMarkerVersionId"))) for item in done]
        return deleted

    async def delete_all_current_sized(self, prefix: str) -> tuple[list[tuple[str, str | None]], int]:
        """`delete_all_current`, with the bytes of the objects it hid (from the listing it deleted them by)."""
        deleted: list[tuple[str, str | None]] = []
        size = 0
        async for page in self._pages("list_objects_v2", prefix, PaginationConfig={"PageSize": DELETE_BATCH}):
            sizes = {item["Key"]: int(item.get("Size", 0)) for item in page.get("Contents", [])}
            if not sizes:
                continue
            done = await self._delete_batch(prefix, [{"Key": key} for key in sizes], quiet=False)
            deleted += [(item["Key"], _version(item.get("DeleteMarkerVersionId"))) for item in done]
            size += sum(sizes.get(item["Key"], 0) for item in done)
        return deleted, size

    async def purge(self, prefix: str) -> int:
        """Remove every version and delete marker under `prefix` for good; returns how many."""
        count = 0
        async for page in self._pages("list_object_versions", prefix, PaginationConfig={"PageSize": DELETE_BATCH}):
            batch = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for name in ("Versions", "DeleteMarkers")
                for item in page.get(name, [])
            ]
            if batch:
                await self._delete_batch(prefix, batch)
                count += len(batch)
        return count

    async def delete_versions(self, prefix: str, versions: list[tuple[str, str]]) -> None:
        """Remove exact versions for good, in batches; already-removed ones are fine."""
        for start in range(0, len(versions), DELETE_BATCH):
            batch = versions[start : start + DELETE_BATCH]
            await self._delete_batch(prefix, [{"Key": key, "VersionId": version} for key, version in batch])

    async def delete_marking(self, key: str) -> str | None:
        """Put a delete marker on `key`; returns the marker's version id. On the lean client: restores and moves
        make one per file."""
        response = await self._object_call("delete_object", "DELETE", key)
        response.release()
        return _version(response.headers.get("x-amz-version-id"))

    async def _delete_batch(
        self, prefix: str, objects: list[dict[str, str]], *, quiet: bool = True
    ) -> list[dict[str, Any]]:
        """Delete a batch; returns what S3 reports as deleted (nothing when `quiet`)."""
        response = await self._call("delete_objects", prefix, Delete={"Objects": objects, "Quiet": quiet})
        failures = response.get("Errors") or []
        if failures:
            first = failures[0]
            raise errors.StoreError(
                f"the storage backend refused to delete {len(failures)} object(s): {first.get('Code')} "
                f"{first.get('Message', '')}".strip()
            )
        return list(response.get("Deleted") or [])

    async def version_pages(
        self, prefix: str, *, page_size: int = DELETE_BATCH, after: str | None = None, first_page: int | None = None
    ) -> AsyncIterator[list[VersionEntry]]:
        """Every version and delete marker under `prefix`, a page at a time, newest first within each key; with
        `after`, only those of keys after it; with `first_page`, the first page holds that many entries at most (a
        short first page makes the first entries known sooner)."""

        def kept(entries: list[VersionEntry]) -> list[VersionEntry]:
            # Ceph RGW also lists the versions of a key equal to a lone key marker; S3 starts after it.
            return [entry for entry in entries if entry.key > after] if after else entries

        markers: dict[str, str] = {"KeyMarker": after} if after else {}
        if first_page is not None:
            response = await self._call("list_object_versions", prefix, Prefix=prefix, MaxKeys=first_page, **markers)
            yield kept(_entries(response, None))
            if not response.get("IsTruncated"):
                return
            if not response.get("NextKeyMarker"):
                raise errors.StoreError("the storage backend cut a version listing short without saying where it ends")
            markers = {"KeyMarker": str(response["NextKeyMarker"])}
            if response.get("NextVersionIdMarker"):
                markers["VersionIdMarker"] = str(response["NextVersionIdMarker"])
        pagination = {"PageSize": page_size}
        async for page in self._pages("list_object_versions", prefix, PaginationConfig=pagination, **markers):
            yield kept(_entries(page, None))

    async def pending_uploads(self, prefix: str) -> AsyncIterator[list[PendingUpload]]:
        """Multipart uploads under `prefix` that are still open, a page at a time."""
        async for page in self._pages("list_multipart_uploads", prefix):
            yield [
                PendingUpload(key=item["Key"], upload_id=item["UploadId"], initiated=item["Initiated"])
                for item in page.get("Uploads", [])
            ]

    # Lifecycle

    async def get_lifecycle(self) -> dict[str, Any] | None:
        """The bucket's lifecycle configuration, or None when it has none."""
        try:
            response = await self._call("get_bucket_lifecycle_configuration")
        except errors.ObjectMissing:
            return None
        return {"Rules": response.get("Rules", [])}

    async def put_lifecycle(self, config: Mapping[str, Any]) -> None:
        if config.get("Rules"):
            await self._call("put_bucket_lifecycle_configuration", LifecycleConfiguration=dict(config))
        else:
            await self._call("delete_bucket_lifecycle")

    # Links

    async def presign_get(
        self, key: str, *, version_id: str | None, expires_in: int, content_disposition: str, content_type: str
    ) -> str:
        """A link S3 serves itself; the type and disposition it answers with are part of the signature."""
        if self._observer is not None:
            self._observer("presign_get_object", key)
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "ResponseContentDisposition": content_disposition,
            "ResponseContentType": content_type,
        }
        if version_id:
            params["VersionId"] = version_id
        try:
            url = await self._presigner.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from exc
        return str(url)
