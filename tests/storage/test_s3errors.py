"""S3's answers become the gateway's errors through one table."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from gateway import errors
from gateway.storage.s3errors import RETRY_AFTER_BUSY, RETRY_AFTER_NO_BUCKET, RETRY_AFTER_UNREACHABLE, translate


def _client_error(code: str, status: int, headers: dict[str, Any] | None = None) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "msg"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}},
    }
    return ClientError(response, "GetObject")


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchKey", 404, errors.ObjectMissing),
        ("NoSuchVersion", 404, errors.ObjectMissing),
        ("404", 404, errors.ObjectMissing),  # HEAD: no body, the status is the code
        ("MethodNotAllowed", 405, errors.ObjectMissing),
        ("PreconditionFailed", 412, errors.PreconditionFailed),
        ("InvalidRange", 416, errors.RangeNotSatisfiable),
        ("SlowDown", 503, errors.StoreUnavailable),
        ("", 500, errors.StoreUnavailable),
        ("NoSuchBucket", 404, errors.StoreUnavailable),
        ("BadDigest", 400, errors.StoreError),
        ("InvalidArgument", 400, errors.BadRequest),
        ("AccessDenied", 403, errors.StoreError),
        ("SomethingNew", 418, errors.StoreError),
    ],
)
def test_codes_then_statuses(code: str, status: int, expected: type[Exception]) -> None:
    translated = translate(_client_error(code, status))
    assert type(translated) is expected


def test_not_modified_keeps_the_validators() -> None:
    translated = translate(
        _client_error("304", 304, {"etag": '"abc"', "last-modified": "Sat, 21 Nov 2026 10:00:00 GMT"})
    )
    assert isinstance(translated, errors.NotModified)
    assert (translated.etag, translated.last_modified) == ('"abc"', "Sat, 21 Nov 2026 10:00:00 GMT")


def test_unreachable_backend_is_unavailable_and_other_exceptions_pass_through() -> None:
    assert isinstance(translate(EndpointConnectionError(endpoint_url="http://127.0.0.1:9")), errors.StoreUnavailable)
    other = ValueError("not from botocore")
    assert translate(other) is other


def test_unknown_answers_name_what_s3_said() -> None:
    translated = translate(_client_error("AccessDenied", 403))
    assert isinstance(translated, errors.GatewayError)
    assert "403 AccessDenied" in translated.detail


@pytest.mark.parametrize(
    ("code", "status", "retry_after"),
    [
        ("SlowDown", 503, RETRY_AFTER_BUSY),
        ("ServiceUnavailable", 503, RETRY_AFTER_BUSY),
        ("", 502, RETRY_AFTER_BUSY),
        ("504", 504, RETRY_AFTER_BUSY),
        ("SomethingNewAndBroken", 507, RETRY_AFTER_BUSY),  # any 5xx: the store failed, not the request
        ("NoSuchBucket", 404, RETRY_AFTER_NO_BUCKET),
    ],
)
def test_overload_and_5xx_are_503_with_retry_after(code: str, status: int, retry_after: int) -> None:
    translated = translate(_client_error(code, status))
    assert isinstance(translated, errors.StoreUnavailable)
    assert translated.status == 503
    assert translated.headers == {"Retry-After": str(retry_after)}
    unreachable = translate(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    assert isinstance(unreachable, errors.StoreUnavailable)
    assert unreachable.headers == {"Retry-After": str(RETRY_AFTER_UNREACHABLE)}
