"""The client's one exception tree.

    SessionGatewayError                  anything this client raises on purpose
    ├── ApiError                         the gateway answered with an RFC 9457 problem (`.problem`)
    │   ├── BadRequest                   400 (also ValueError)
    │   ├── Unauthorized                 401
    │   ├── Forbidden                    403 (also PermissionError)
    │   ├── NotFound                     404 (also FileNotFoundError): missing, or not yours, alike
    │   ├── MethodNotAllowed             405
    │   ├── Conflict                     409
    │   ├── PreconditionFailed           412: If-Match / If-None-Match did not hold
    │   ├── PayloadTooLarge              413: upload, body, bulk or quota limits
    │   ├── UnsupportedMediaType         415
    │   ├── RangeNotSatisfiable          416
    │   └── ServerError                  5xx
    ├── ConnectionFailed                 the gateway could not be reached (no answer at all)
    └── UnexpectedAnswer                 an answer this client cannot read (not the documented shape)

The standard-library bases let code that knows nothing of this client handle the common cases (fsspec and pandas
expect FileNotFoundError for a missing file).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class FieldProblem:
    """One refused field of a JSON body: its dotted path ('' for the body itself) and why."""

    field: str
    message: str


@dataclass(frozen=True)
class Problem:
    """An RFC 9457 problem document as the gateway sent it; members beyond the standard ones are in `extra`."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: tuple[FieldProblem, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def field(self) -> str | None:
        """The field or parameter at fault: the first refused body field, a refused query parameter, or None."""
        if self.errors:
            return self.errors[0].field
        parameter = self.extra.get("parameter")
        return parameter if isinstance(parameter, str) else None

    @property
    def rule(self) -> str | None:
        """For an invalid path: the path rule it broke."""
        rule = self.extra.get("rule")
        return rule if isinstance(rule, str) else None

    @classmethod
    def of(cls, status: int, body: object, reason: str) -> Problem:
        """The problem in an error answer; an answer without one (a proxy's page) becomes an `about:blank` problem."""
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            detail = body if isinstance(body, str) else ""
            return cls(type="about:blank", title=reason, status=status, detail=detail[:500])
        known = {"type", "title", "status", "detail", "instance", "errors"}
        errors = body.get("errors")
        return cls(
            type=body["type"],
            title=str(body.get("title", reason)),
            status=body["status"] if isinstance(body.get("status"), int) else status,
            detail=str(body.get("detail", "")),
            instance=body.get("instance") if isinstance(body.get("instance"), str) else None,
            errors=tuple(
                FieldProblem(str(item.get("field", "")), str(item.get("message", "")))
                for item in (errors if isinstance(errors, list) else [])
                if isinstance(item, dict)
            ),
            extra={name: value for name, value in body.items() if name not in known},
        )


class SessionGatewayError(Exception):
    """The root of everything this client raises on purpose."""


class ApiError(SessionGatewayError):
    """The gateway refused or failed a request and said why in a problem document."""

    def __init__(self, problem: Problem, *, request_id: str | None = None) -> None:
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}")
        self.problem = problem
        # The gateway's id of the request (X-Request-Id): its log has the same id.
        self.request_id = request_id

    def __str__(self) -> str:
        problem = self.problem
        text = f"{problem.status} {problem.title}: {problem.detail}"
        if problem.field is not None:
            text += f" (field {problem.field!r})"
        return text

    @property
    def status(self) -> int:
        return self.problem.status

    @property
    def type(self) -> str:
        return self.problem.type

    @property
    def title(self) -> str:
        return self.problem.title

    @property
    def detail(self) -> str:
        return self.problem.detail

    @property
    def field(self) -> str | None:
        return self.problem.field


class BadRequest(ApiError, ValueError):
    pass


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError, PermissionError):
    pass


class NotFound(ApiError, FileNotFoundError):
    pass


class MethodNotAllowed(ApiError):
    pass


class Conflict(ApiError):
    pass


class PreconditionFailed(ApiError):
    pass


class PayloadTooLarge(ApiError):
    pass


class UnsupportedMediaType(ApiError):
    pass


class RangeNotSatisfiable(ApiError):
    pass


class ServerError(ApiError):
    pass


class ConnectionFailed(SessionGatewayError, ConnectionError):
    """No answer: the gateway could not be reached, or the connection broke."""


class UnexpectedAnswer(SessionGatewayError):
    """An answer that is not what the API documents (a proxy in the way, or a gateway of another version)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    412: PreconditionFailed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    416: RangeNotSatisfiable,
}


def error_of(response: httpx.Response) -> ApiError:
    """The exception for an error answer whose body has been read."""
    try:
        body: object = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = response.text
    problem = Problem.of(response.status_code, body, response.reason_phrase or "HTTP error")
    kind = _BY_STATUS.get(response.status_code, ServerError if response.status_code >= 500 else ApiError)
    return kind(problem, request_id=response.headers.get("x-request-id"))
