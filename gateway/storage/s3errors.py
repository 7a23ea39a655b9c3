"""S3 errors, translated once: botocore's exceptions and the lean client's refusals to the gateway's exception tree,
by one code table.

S3 names an error by its code (`NoSuchKey`) and, for HEAD requests, which have no body, only by its status. The
table maps codes first, then bare statuses; any other 5xx, like throttling (`SlowDown`) and a backend out of reach,
is a `StoreUnavailable` (503 with `Retry-After`); anything else is a `StoreError` (502) that names what S3 said.
Nothing above the store adapter ever sees a botocore type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from gateway import errors
from gateway.storage.s3http import S3Refusal

Make = Callable[[str, str, Mapping[str, Any]], Exception]

# What a 503 tells clients to wait (`Retry-After`, seconds), by why the store failed. The gateway has already
# retried (GATEWAY_S3_MAX_ATTEMPTS) before it answers, so these are the waits that make a client's retry worth it.
RETRY_AFTER_BUSY = 2  # SlowDown, 5xx: the store is overloaded or failing; its own retries did not get through
RETRY_AFTER_UNREACHABLE = 5  # no connection: a restart or a network cut usually takes seconds
RETRY_AFTER_NO_BUCKET = 30  # the bucket is missing: a configuration to repair, not a moment to wait out


def _missing(code: str, message: str, headers: Mapping[str, Any]) -> Exception:
    return errors.ObjectMissing("no such file or version")


def _delete_marker(code: str, message: str, headers: Mapping[str, Any]) -> Exception:
    # S3 answers 405 when asked for the bytes of a delete marker.
    return errors.ObjectMissing("that version is a delete marker, not a file")


def _not_modified(code: str, message: str, headers: Mapping[str, Any]) -> Exception:
    return errors.NotModified(str(headers.get("etag", "")), headers.get("last-modified"))


def _precondition(code: str, message: str, headers: Mapping[str, Any]) -> Exception:
    return errors.PreconditionFailed("the file changed: precondition failed")


def _range(code: str, message: str, headers: Mapping[str, Any]) -> Exception:
    return errors.RangeNotSatisfiable("the requested range is outside the file")


def _unavailable(code: str, message: str, headers: Mapping[str, Any]) -> Exception:
    return errors.StoreUnavailable(f"the storage backend is unavailable ({code})", retry_after=RETRY_AFTER_BUSY)


def _no_bucket(code: str, message: str, headers: Mapping[str, Any]) -> Exception:
    return errors.StoreUnavailable("the configured bucket does not exist", retry_after=RETRY_AFTER_NO_BUCKET)


def _bad_digest(code: str, message: str, headers: Mapping[str, Any]) -> Exception:
    return errors.StoreError("the storage backend received different bytes than were sent; nothing was stored")


def _replaced_part(code: str, message: str, headers: Mapping[str, Any]) -> Exception:
    # Completing a multipart upload whose parts are not (or no longer) those named: a resumable upload's part sent
    # again with other bytes by a request that raced the one that counted.
    return errors.Conflict("the storage backend holds other parts than this upload sent; start the upload again")


def _rejected(code: str, message: str, headers: Mapping[str, Any]) -> Exception:
    return errors.BadRequest(f"the storage backend rejected the request ({code}: {message})")


CODES: Mapping[str, Make] = {
    "NoSuchBucket": _no_bucket,
    "NotModified": _not_modified,
    "NoSuchKey": _missing,
    "NoSuchVersion": _missing,
    "NotFound": _missing,
    "MethodNotAllowed": _delete_marker,
    "PreconditionFailed": _precondition,
    "InvalidRange": _range,
    "SlowDown": _unavailable,
    "ServiceUnavailable": _unavailable,
    "RequestTimeout": _unavailable,
    "InternalError": _unavailable,
    # The gateway computed these digests itself: a mismatch means bytes were damaged between it and S3.
    "BadDigest": _bad_digest,
    "InvalidDigest": _bad_digest,
    "XAmzContentSHA256Mismatch": _bad_digest,
    "InvalidArgument": _rejected,
    "InvalidPart": _replaced_part,
}
# For answers without a code (HEAD has no body): the status alone.
STATUSES: Mapping[int, Make] = {
    304: _not_modified,
    400: _rejected,
    404: _missing,
    405: _delete_marker,
    412: _precondition,
    416: _range,
    500: _unavailable,
    502: _unavailable,
    503: _unavailable,
    504: _unavailable,
}


def refusal(code: str, status: int, message: str, headers: Mapping[str, Any]) -> Exception:
    """The gateway's exception for an S3 error answer, by the table (`headers` lower-cased)."""
    make = CODES.get(code) or (STATUSES.get(int(code)) if code.isdigit() else None) or STATUSES.get(status)
    if make is not None:
        return make(code or str(status), message, headers)
    if status >= 500:
        # Any other failure of the store itself (5xx under a code the table does not know): try again later.
        return _unavailable(code or str(status), message, headers)
    return errors.StoreError(f"the storage backend answered {status} {code}")


def translate(exc: Exception) -> Exception:
    """Map a failure of either S3 client (botocore's or the lean one) to the gateway's exception tree; other
    exceptions pass through."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        status = int(meta.get("HTTPStatusCode", 0) or 0)
        return refusal(str(error.get("Code", "")), status, str(error.get("Message", "")), meta.get("HTTPHeaders", {}))
    if isinstance(exc, S3Refusal):
        return refusal(exc.code, exc.status, exc.message, exc.headers)
    if isinstance(exc, ConnectionError | HTTPClientError | aiohttp.ClientError | TimeoutError):
        return errors.StoreUnavailable("cannot reach the storage backend", retry_after=RETRY_AFTER_UNREACHABLE)
    if isinstance(exc, BotoCoreError):
        return errors.StoreError(f"storage client error: {exc}")
    return exc
