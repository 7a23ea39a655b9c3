"""The gateway's exception tree.

Every failure a client can see is a `GatewayError`; the single error handler in `gateway.api.problems` renders it as
an RFC 9457 problem (status, stable `type` slug, title, detail, and extra members such as `rule` or `limit_bytes`).
S3's errors are translated into these classes once, in `gateway.storage.s3errors`, so nothing above the store
adapter ever sees a botocore type::

    GatewayError                      500 internal-error
    ├── BadRequest                    400 bad-request
    │   ├── InvalidPath               400 invalid-path          (`rule` names the broken path rule)
    │   ├── InvalidBody               400 invalid-body          (`errors` names each refused field of a JSON body)
    │   ├── InvalidCursor             400 invalid-cursor
    │   ├── InvalidParameter          400 invalid-parameter     (`parameter` names the refused query parameter)
    │   └── DigestMismatch            400 digest-mismatch
    │   ├── DigestMismatch            400 digest-mismatch
    │   └── InvalidArchive            400 invalid-archive       (a zip import that cannot be read, or is damaged)
    │   └── InvalidUploadMetadata     400 invalid-upload-metadata (`field` names the refused Upload-Metadata key)
    ├── Unauthorized                  401 unauthorized          (with WWW-Authenticate)
    ├── Forbidden                     403 forbidden
    │   └── InsufficientScope         403 insufficient-scope
    ├── NotFound                      404 not-found
    │   └── ObjectMissing             404 not-found             (the store has no such object or version)
    ├── MethodNotAllowed              405 method-not-allowed
    ├── Conflict                      409 conflict
    │   ├── TargetExists              409 target-exists         (`conflicts`: paths a copy or move would replace)
    │   └── InvalidTransition         409 invalid-transition    (`state`, and the `allowed` transitions from it)
    ├── PreconditionFailed            412 precondition-failed
    ├── PayloadTooLarge               413 payload-too-large     (`limit_bytes`)
    │   └── TooManyFiles              413 too-many-files        (`limit_files`)
    │   └── ArchiveLimit              413 archive-limit         (`limit` names it, `limit_value`; a zip import)
    │   └── QuotaExceeded             413 quota-exceeded        (`quota` names it, `limit`, `used`, `requested`)
    ├── UnsupportedMediaType          415 unsupported-media-type
    ├── RangeNotSatisfiable           416 range-not-satisfiable
    ├── TooManyRequests               429 rate-limited          (with Retry-After; `retry_after` in seconds)
    ├── ChecksumMismatch              460 checksum-mismatch     (a resumable upload's bytes and Upload-Checksum differ)
    ├── DamagedRecord                 500 damaged-record        (a stored session record cannot be read back)
    ├── ShuttingDown                  503 shutting-down         (with Retry-After; cut at the end of a shutdown)
    └── StoreError                    502 store-error
        └── StoreUnavailable          503 store-unavailable     (with Retry-After)

Outside the tree: `NotModified` is not a failure but the 304 answer, carrying the validators to repeat, and
`SettingsError` stops start-up with a message naming the environment variable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


class GatewayError(Exception):
    """A failure with an HTTP status, a stable problem type and a human-readable detail."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = dict(extra or {})
        self.headers: dict[str, str] = dict(headers or {})


class BadRequest(GatewayError):
    status = 400
    slug = "bad-request"
    title = "Bad request"


class InvalidPath(BadRequest):
    """A file path or prefix broke one of the path rules; `rule` names which one."""

    slug = "invalid-path"
    title = "Invalid file path"

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(detail, extra={"rule": rule})
        self.rule = rule


@dataclass(frozen=True)
class FieldError:
    """One refused field of a JSON body: a dotted path (list items by index, '' for the body itself) and why."""

    field: str
    message: str


class InvalidBody(BadRequest):
    """A JSON request body, or a field a service checked, was refused; `errors` names every offending field."""

    slug = "invalid-body"
    title = "Invalid request body"

    def __init__(self, detail: str, errors: Sequence[FieldError], *, extra: Mapping[str, Any] | None = None) -> None:
        listed = [{"field": error.field, "message": error.message} for error in errors]
        super().__init__(detail, extra={**(extra or {}), "errors": listed})
        self.errors = tuple(errors)

    @classmethod
    def field(cls, field: str, message: str, *, extra: Mapping[str, Any] | None = None) -> InvalidBody:
        return cls(f"{field or 'the body'}: {message}", [FieldError(field, message)], extra=extra)


class InvalidCursor(BadRequest):
    slug = "invalid-cursor"
    title = "Invalid pagination cursor"


class InvalidParameter(BadRequest):
    """A query parameter was refused; `parameter` names it."""

    slug = "invalid-parameter"
    title = "Invalid query parameter"

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}", extra={"parameter": parameter})
        self.parameter = parameter


class DigestMismatch(BadRequest):
    """The bytes received do not match a digest the client sent."""

    slug = "digest-mismatch"
    title = "Digest mismatch"


class InvalidArchive(BadRequest):
    """A zip import is not a zip archive this gateway reads, or its data does not match its own records."""

    slug = "invalid-archive"
    title = "Invalid archive"


class InvalidUploadMetadata(BadRequest):
    """A resumable upload's `Upload-Metadata` was refused; `field` names the key (`path`, `content_type`, `tier`, or
    '' for the header itself), `rule` the broken path rule when it is the path."""

    slug = "invalid-upload-metadata"
    title = "Invalid upload metadata"

    def __init__(self, field: str, detail: str, *, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"Upload-Metadata {field or 'header'}: {detail}", extra={"field": field, **(extra or {})})
        self.field = field


class Unauthorized(GatewayError):
    status = 401
    slug = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str, *, error: str | None = "invalid_token") -> None:
        challenge = 'Bearer realm="session-gateway"'
        if error is not None:
            escaped = detail.replace("\\", "\\\\").replace('"', '\\"')
            challenge += f', error="{error}", error_description="{escaped}"'
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(GatewayError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class InsufficientScope(Forbidden):
    slug = "insufficient-scope"
    title = "Insufficient scope"

    def __init__(self, scope: str) -> None:
        super().__init__(
            f"this token lacks the '{scope}' scope",
            extra={"required_scope": scope},
            headers={
                "WWW-Authenticate": f'Bearer realm="session-gateway", error="insufficient_scope", scope="{scope}"'
            },
        )


class NotFound(GatewayError):
    status = 404
    slug = "not-found"
    title = "Not found"


class MethodNotAllowed(GatewayError):
    status = 405
    slug = "method-not-allowed"
    title = "Method not allowed"


class Conflict(GatewayError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class TargetExists(Conflict):
    """A copy or move would replace files, and the client did not say `overwrite`; nothing was written."""

    slug = "target-exists"
    title = "Target exists"


class InvalidTransition(Conflict):
    """A session cannot go to the asked state from the one it is in; `allowed` lists where it can go."""

    slug = "invalid-transition"
    title = "Invalid state transition"

    def __init__(self, detail: str, *, state: str, allowed: Sequence[str]) -> None:
        super().__init__(detail, extra={"state": state, "allowed": list(allowed)})


class PreconditionFailed(GatewayError):
    status = 412
    slug = "precondition-failed"
    title = "Precondition failed"


class PayloadTooLarge(GatewayError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class TooManyFiles(PayloadTooLarge):
    """A copy, move or fork would take more files than one request may (`GATEWAY_MAX_BULK_FILES`)."""

    slug = "too-many-files"
    title = "Too many files"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"this would take more than {limit} files; one request may take at most {limit}",
            extra={"limit_files": limit},
        )


class ArchiveLimit(PayloadTooLarge):
    """A zip import went past one of its limits (`limit` names which, `limit_value` is the limit): nothing was
    written, or what was written is withdrawn."""

    slug = "archive-limit"
    title = "Archive over a limit"

    def __init__(self, limit: str, value: int, detail: str, *, entry: str | None = None) -> None:
        extra: dict[str, Any] = {"limit": limit, "limit_value": value}
        if limit.endswith("-bytes"):
            extra["limit_bytes"] = value
        if entry is not None:
            extra["entry"] = entry
        super().__init__(detail, extra=extra)
        self.limit = limit


class QuotaExceeded(PayloadTooLarge):
    """A write would take a tenant, user or session past one of its quotas; nothing was stored. `quota` names it
    (`user.bytes`, `session.files`, ...), `limit` is the limit, `used` what is in use (reservations of writes under
    way included), `requested` what this write asked for. 413, not 507: the client must make room or ask for more,
    and a 5xx would tell clients and monitors that the gateway failed (and invite retries that cannot succeed)."""

    slug = "quota-exceeded"
    title = "Quota exceeded"

    def __init__(self, quota: str, *, limit: int, used: int, requested: int) -> None:
        scope, _, dimension = quota.partition(".")
        super().__init__(
            f"this write needs {requested} more {dimension} of the {scope} quota; {used} of {limit} are in use",
            extra={"quota": quota, "limit": limit, "used": used, "requested": requested},
        )
        self.quota = quota


class UnsupportedMediaType(GatewayError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class RangeNotSatisfiable(GatewayError):
    status = 416
    slug = "range-not-satisfiable"
    title = "Range not satisfiable"


class TooManyRequests(GatewayError):
    """A bearer token sent more requests than the rate limit lets one token send (per replica): nothing was done."""

    status = 429
    slug = "rate-limited"
    title = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"this token sent more requests than the rate limit allows; retry in {retry_after} s",
            extra={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


class ChecksumMismatch(GatewayError):
    """The bytes of a resumable upload's PATCH do not match its `Upload-Checksum` (tus's checksum extension answers
    460): none of them were taken, the upload's offset did not move."""

    status = 460
    slug = "checksum-mismatch"
    title = "Checksum mismatch"


class DamagedRecord(GatewayError):
    """A stored session record cannot be read back (written by hand, or before the gateway refused hostile JSON)."""

    status = 500
    slug = "damaged-record"
    title = "Damaged session record"


class ShuttingDown(GatewayError):
    """The replica stopped before the request was done (the graceful shutdown's time ran out): it was undone as
    after any failure, and another replica will take it."""

    status = 503
    slug = "shutting-down"
    title = "Shutting down"

    def __init__(self) -> None:
        super().__init__(
            "this replica shut down before the request was done; nothing of it was kept, send it again",
            headers={"Retry-After": "1", "Connection": "close"},
        )


class StoreError(GatewayError):
    """The object store answered with something the gateway cannot turn into a client error."""

    status = 502
    slug = "store-error"
    title = "Storage backend error"


class StoreUnavailable(StoreError):
    """The object store is out of reach, overloaded (`SlowDown`) or failing (5xx): nothing was changed, and the
    same request may succeed later, so the answer says when to try again (`Retry-After`, in seconds)."""

    status = 503
    slug = "store-unavailable"
    title = "Storage backend unavailable"

    def __init__(self, detail: str, *, retry_after: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class ObjectMissing(NotFound):
    """The store has no current object (or no such version) at a key."""

    slug = "not-found"


class NotModified(Exception):
    """Not an error: the client's cached copy is current. Carries the validators to repeat."""

    def __init__(self, etag: str, last_modified: str | None = None) -> None:
        super().__init__(etag)
        self.etag = etag
        self.last_modified = last_modified


class SettingsError(Exception):
    """A configuration value is invalid; the message names the environment variable."""
