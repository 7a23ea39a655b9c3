"""A lean S3 client for the calls on every request's path: GetObject, HeadObject, PutObject and UploadPart.

Profiled under load, botocore spent most of the gateway's CPU on a 4 KiB GET: serialising the request from the
service model, a dozen event hooks, endpoint rules, user-agent assembly, response parsing. These four calls are
plain REST requests, so this module builds them itself, signs them with AWS Signature Version 4 (the day's
signing key cached), and sends them over its own aiohttp connection pool. Every other call stays on aiobotocore.

It mirrors what botocore sends: the same addressing (path-style with a configured endpoint; virtual-hosted on
AWS where the bucket name allows), the payload signed over plain HTTP and `UNSIGNED-PAYLOAD` over HTTPS when a
`Content-MD5` protects the body, botocore's standard retry policy (connection failures, 500/502/503/504,
throttling; jittered exponential backoff, `GATEWAY_S3_MAX_ATTEMPTS` attempts in all), the certificate authorities
and the proxies botocore would use.

Nothing here interprets a failure: a refusal is raised as `S3Refusal` (S3's code, status, message, headers), and
the store adapter maps it with the same table as botocore's errors (`gateway.storage.store.translate`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import re
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from urllib.request import getproxies, proxy_bypass
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import aiohttp
from botocore.exceptions import NoCredentialsError
from yarl import URL

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# Bodies at least this large are hashed off the event loop (hashlib releases the GIL while it works).
HASH_IN_THREAD_BYTES = 256 * 1024
# What aiohttp buffers of a response before it stops reading the socket: large enough for 1 MiB chunks.
READ_BUFFER_BYTES = 1024 * 1024
SEND_PIECE_BYTES = 1024 * 1024
RETRY_STATUSES = frozenset({500, 502, 503, 504})
RETRY_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError"})
MAX_BACKOFF_SECONDS = 20.0
_CODE = re.compile(rb"<Code>(.*?)</Code>", re.DOTALL)
_MESSAGE = re.compile(rb"<Message>(.*?)</Message>", re.DOTALL)
# A bucket name that can be a DNS label of its own (virtual-hosted addressing).
_DNS_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


class S3Refusal(Exception):
    """S3 answered with an error status. `headers` are lower-cased."""

    def __init__(self, code: str, status: int, message: str, headers: Mapping[str, str]) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.code = code
        self.status = status
        self.message = message
        self.headers = dict(headers)


@dataclass(frozen=True)
class Target:
    """Where requests for objects of one bucket go."""

    scheme: str
    host: str
    # The encoded path of the bucket's root: "/bucket" (path-style) or "" (virtual-hosted).
    root: str

    @classmethod
    def of(cls, endpoint_url: str, bucket: str, *, path_style: bool) -> Target:
        parts = urlsplit(endpoint_url)
        host = parts.netloc.lower()
        if not path_style and parts.scheme == "https" and _DNS_BUCKET.fullmatch(bucket):
            return cls(parts.scheme, f"{bucket}.{host}", parts.path.rstrip("/"))
        return cls(parts.scheme, host, f"{parts.path.rstrip('/')}/{quote(bucket, safe='')}")

    def path(self, key: str | None) -> str:
        """The encoded path of an object, or of the bucket itself (`None`)."""
        if key is None:
            return self.root or "/"
        return f"{self.root}/{quote(key, safe='/~')}"


@dataclass(frozen=True)
class Signed:
    """The credentials of one request, as botocore's credential objects give them."""

    access_key: str
    secret_key: str
    token: str | None


class Signer:
    """AWS Signature Version 4 for S3 requests, keeping the derived signing key for the day."""

    def __init__(self, credentials: Any, region: str) -> None:
        # A botocore/aiobotocore credentials object: it refreshes temporary credentials by itself.
        self._credentials = credentials
        self._region = region
        self._keys: dict[tuple[str, str], bytes] = {}

    async def _current(self) -> Signed:
        if self._credentials is None:
            raise NoCredentialsError()
        frozen = self._credentials.get_frozen_credentials()
        if asyncio.iscoroutine(frozen):
            frozen = await frozen
        return Signed(frozen.access_key, frozen.secret_key, frozen.token)

    def _signing_key(self, secret: str, day: str) -> bytes:
        found = self._keys.get((secret, day))
        if found is None:
            key = hmac.digest(f"AWS4{secret}".encode(), day.encode(), "sha256")
            for part in (self._region, "s3", "aws4_request"):
                key = hmac.digest(key, part.encode(), "sha256")
            self._keys = {(secret, day): key}  # only today's key is ever needed again
            found = key
        return found

    async def sign(
        self, method: str, host: str, path: str, query: str, headers: dict[str, str], payload_hash: str
    ) -> None:
        """Add `x-amz-date`, `x-amz-content-sha256`, the token and `Authorization` to `headers` (lower-case names).

        `path` and `query` are already encoded as they go on the wire; S3 signs them as they are.
        """
        credentials = await self._current()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        headers["host"] = host
        headers["x-amz-date"] = stamp
        headers["x-amz-content-sha256"] = payload_hash
        if credentials.token:
            headers["x-amz-security-token"] = credentials.token
        names = sorted(headers)
        canonical_headers = "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in names)
        signed_headers = ";".join(names)
        canonical_query = canonical_query_string(query)
        canonical = f"{method}\n{path}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}"
        scope = f"{day}/{self._region}/s3/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._signing_key(credentials.secret_key, day), to_sign.encode(), "sha256").hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed_headers}, Signature={signature}"
        )


def canonical_query_string(query: str) -> str:
    """SigV4's form of an encoded query: pairs sorted by name then value, a bare name as `name=`."""
    pairs = sorted(tuple(part.partition("=")[::2]) for part in query.split("&") if part)
    return "&".join(f"{name}={value}" for name, value in pairs)


def query_string(params: Mapping[str, str | None]) -> str:
    """Encoded `name=value` pairs (a `None` value gives a bare name, as in `?uploads`)."""
    return "&".join(
        quote(name, safe="-_.~") if value is None else f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}"
        for name, value in params.items()
    )


async def payload_sha256(data: bytes) -> str:
    if len(data) < HASH_IN_THREAD_BYTES:
        return hashlib.sha256(data).hexdigest()
    return await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())


@dataclass(frozen=True)
class ListedEntry:
    """One `<Version>` or `<DeleteMarker>` of a ListObjectVersions answer."""

    key: str
    version_id: str
    is_latest: bool
    is_delete_marker: bool
    etag: str | None
    size: int | None
    last_modified: datetime


def parse_versions(body: bytes) -> tuple[list[ListedEntry], bool]:
    """The entries of a ListObjectVersions answer, in the order S3 gave them, and whether it was truncated.

    Keys are URL-decoded when the answer says it encoded them (asked with `encoding-type=url`; some backends do
    not). The backend is trusted with XML as botocore trusts it.
    """
    root = ElementTree.fromstring(body)  # noqa: S314
    found: list[tuple[str, dict[str, str]]] = []
    truncated = url_encoded = False
    for element in root:
        tag = element.tag.rpartition("}")[2]
        if tag == "IsTruncated":
            truncated = (element.text or "").strip() == "true"
        elif tag == "EncodingType":
            url_encoded = (element.text or "").strip() == "url"
        elif tag in ("Version", "DeleteMarker"):
            found.append((tag, {child.tag.rpartition("}")[2]: child.text or "" for child in element}))
    entries = [
        ListedEntry(
            key=unquote(fields["Key"]) if url_encoded else fields["Key"],
            version_id=fields.get("VersionId") or "null",
            is_latest=fields.get("IsLatest") == "true",
            is_delete_marker=tag == "DeleteMarker",
            etag=None if tag == "DeleteMarker" else fields.get("ETag", ""),
            size=None if tag == "DeleteMarker" else int(fields.get("Size") or 0),
            last_modified=datetime.fromisoformat(fields["LastModified"]),
        )
        for tag, fields in found
    ]
    return entries, truncated


def parse_tags(body: bytes) -> dict[str, str]:
    """The tags of a GetObjectTagging answer. Ceph RGW 16 answers an empty body for a version that has none (after
    a multipart upload, say), which botocore reads as no tags too."""
    if not body.strip():
        return {}
    root = ElementTree.fromstring(body)  # noqa: S314
    tags: dict[str, str] = {}
    for element in root.iter():
        if element.tag.rpartition("}")[2] == "Tag":
            fields = {child.tag.rpartition("}")[2]: child.text or "" for child in element}
            tags[fields["Key"]] = fields.get("Value", "")
    return tags


def _sendable(body: bytes) -> bytes | AsyncIterator[memoryview] | None:
    """A body as aiohttp should send it: small ones at once, large ones a piece at a time (no copies), so that
    one large write never holds the event loop (encrypting it, over HTTPS)."""
    if not body:
        return None
    if len(body) <= SEND_PIECE_BYTES:
        return body

    async def pieces() -> AsyncIterator[memoryview]:
        view = memoryview(body)
        for start in range(0, len(view), SEND_PIECE_BYTES):
            yield view[start : start + SEND_PIECE_BYTES]

    return pieces()


def refusal_in(headers: Mapping[str, str], body: bytes) -> S3Refusal | None:
    """The error S3 may put in the body of a 200 answer to a copy (the copy failed after the status was sent)."""
    return _refusal(200, headers, body) if b"<Error>" in body[:512] else None


def tagging_xml(tags: Mapping[str, str]) -> bytes:
    """A PutObjectTagging body."""
    items = "".join(f"<Tag><Key>{escape(k)}</Key><Value>{escape(v)}</Value></Tag>" for k, v in tags.items())
    return f'<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>{items}</TagSet></Tagging>'.encode()


def _refusal(status: int, headers: Mapping[str, str], body: bytes) -> S3Refusal:
    code = _CODE.search(body)
    message = _MESSAGE.search(body)
    return S3Refusal(
        code.group(1).decode("utf-8", "replace") if code else str(status),
        status,
        message.group(1).decode("utf-8", "replace") if message else "",
        {name.lower(): value for name, value in headers.items()},
    )


class LeanS3:
    """Signed object requests to one bucket over a pooled aiohttp session. Use `async with`."""

    def __init__(
        self,
        target: Target,
        signer: Signer,
        *,
        max_connections: int,
        max_attempts: int,
        ca_bundle: str | None = None,
        timeout_seconds: float = 60,
    ) -> None:
        self._target = target
        # The certificate authorities botocore trusts (AWS_CA_BUNDLE, the profile's ca_bundle, or its default).
        self._ca_bundle = ca_bundle
        self._signer = signer
        self._max_connections = max_connections
        self._max_attempts = max_attempts
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout_seconds, sock_read=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None
        self._proxy: str | None = None

    async def __aenter__(self) -> LeanS3:
        # Proxies from HTTP_PROXY / HTTPS_PROXY / NO_PROXY, as botocore takes them.
        host = self._target.host.rsplit(":", 1)[0]
        self._proxy = None if proxy_bypass(host) else getproxies().get(self._target.scheme)
        tls = ssl.create_default_context(cafile=self._ca_bundle) if self.secure else None
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._max_connections, ssl=tls if tls is not None else True),
            timeout=self._timeout,
            auto_decompress=False,
            read_bufsize=READ_BUFFER_BYTES,
            skip_auto_headers=("User-Agent", "Content-Type"),
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def secure(self) -> bool:
        return self._target.scheme == "https"

    async def request(
        self,
        method: str,
        key: str | None,
        *,
        params: Mapping[str, str | None] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        payload_hash: str = EMPTY_SHA256,
    ) -> aiohttp.ClientResponse:
        """Send one request about `key` (or the bucket, `None`), retrying as botocore's standard mode does; returns
        a 2xx response, body unread.

        Raises `S3Refusal` for any other status (after retries), and aiohttp's errors for a backend out of reach.
        """
        assert self._session is not None, "use LeanS3 inside `async with`"
        path = self._target.path(key)
        query = query_string(params or {})
        url = URL(f"{self._target.scheme}://{self._target.host}{path}{'?' + query if query else ''}", encoded=True)
        for attempt in range(1, self._max_attempts + 1):
            sent = {name.lower(): value for name, value in (headers or {}).items()}
            await self._signer.sign(method, self._target.host, path, query, sent, payload_hash)
            sent.setdefault("accept-encoding", "identity")
            if len(body) > SEND_PIECE_BYTES:
                sent["content-length"] = str(len(body))
            try:
                response = await self._session.request(
                    method, url, headers=sent, data=_sendable(body), proxy=self._proxy
                )
            except (aiohttp.ClientConnectionError, TimeoutError):
                if attempt == self._max_attempts:
                    raise
                await self._backoff(attempt)
                continue
            if response.status < 300:
                return response
            try:
                refusal = _refusal(response.status, response.headers, await response.read())
            except (aiohttp.ClientError, TimeoutError):
                refusal = _refusal(response.status, response.headers, b"")
            finally:
                response.release()
            if attempt == self._max_attempts or not (refusal.status in RETRY_STATUSES or refusal.code in RETRY_CODES):
                raise refusal
            await self._backoff(attempt)
        raise AssertionError("unreachable")

    @staticmethod
    async def _backoff(attempt: int) -> None:
        # botocore's standard mode: a random wait of up to 2**(attempt-1) seconds, at most 20.
        await asyncio.sleep(min(random.random() * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))  # noqa: S311
