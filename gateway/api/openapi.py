"""The OpenAPI 3.1 document, generated from the route table and the body models, so it cannot drift from either."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel

from gateway import __version__
from gateway.api import audit_models, project_models, recovery_models, usage_models
from gateway.api.models import REQUEST_MODELS, RESPONSE_MODELS, TIER_NAME_MARK, TIER_NAME_SCHEMA, Problem
from gateway.api.operations import OPERATIONS, Operation, Param, Reply
from gateway.api.problems import PROBLEM_MEDIA_TYPE

REF = "#/components/schemas/{model}"
_BINARY = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
_PROBLEM_REASONS = {
    400: "Invalid input: `invalid-body` names the fields, `invalid-path` the broken path rule, `invalid-archive` "
    "a zip that cannot be read",
    401: "Missing, malformed, expired or wrongly signed token",
    403: "The token lacks the needed scope, or is bound to another session",
    404: "No such session, file or version (also for what belongs to other users)",
    409: "The session has ended (read-only), its record is changing under heavy contention, or a copy's targets "
    "exist (`target-exists`)",
    412: "If-Match / If-None-Match did not hold, or a concurrent conditional write won; a tus request without "
    "Tus-Resumable: 1.0.0 (the answer names Tus-Version)",
    413: "Body larger than the limit (`limit_bytes`), more files than one request may take (`limit_files`), or an "
    "archive past an import limit (`archive-limit`: `limit`, `limit_value`); nothing was stored",
    415: "The body is not of the operation's media type (JSON; a zip archive for imports)",
    416: "Range outside the file",
    460: "A resumable upload's bytes do not match Upload-Checksum; none were taken",
    502: "The storage backend answered something unexpected",
    503: "The storage backend is unavailable",
}
_HEADER_SCHEMAS: dict[str, dict[str, Any]] = {
    "Last-Modified": {"type": "string", "description": "HTTP date"},
    "X-Expires-At": {"type": "string", "format": "date-time"},
    "Location": {"type": "string", "format": "uri-reference", "description": "Percent-encoded (RFC 3986)"},
    "Content-Disposition": {"type": "string", "description": "RFC 6266, with the UTF-8 name in filename*"},
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _with_tier_refs(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get(TIER_NAME_MARK):
            return {"$ref": REF.format(model=TIER_NAME_SCHEMA)}
        return {key: _with_tier_refs(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_with_tier_refs(value) for value in node]
    return node


def _add_schema(schemas: dict[str, Any], model: type[BaseModel], mode: Literal["validation", "serialization"]) -> None:
    schema = _with_tier_refs(model.model_json_schema(ref_template=REF, mode=mode))
    found = {**schema.pop("$defs", {}), model.__name__: schema}
    for name, definition in found.items():
        if schemas.setdefault(name, definition) != definition:
            raise ValueError(f"two different schemas are named {name}")


def _parameter(param: Param) -> dict[str, Any]:
    return {
        "name": param.name,
        "in": param.location,
        "required": param.required,
        "description": param.description,
        "schema": dict(param.schema),
    }


def _headers(reply: Reply) -> dict[str, Any]:
    return {
        name: {"required": always, "schema": _HEADER_SCHEMAS.get(name, {"type": "string"})}
        for name, always in reply.headers.items()
    }


def _reply(reply: Reply) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": reply.description}
    if reply.headers:
        answer["headers"] = _headers(reply)
    if isinstance(reply.model, tuple):
        answer["content"] = {"application/json": {"schema": {"anyOf": [_ref(model) for model in reply.model]}}}
    elif reply.model is not None:
        answer["content"] = {"application/json": {"schema": _ref(reply.model)}}
    elif reply.binary:
        answer["content"] = _BINARY
    return answer


def _problem(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": _PROBLEM_REASONS[status],
        "content": {PROBLEM_MEDIA_TYPE: {"schema": _ref(Problem)}},
    }
    if status == 401:
        answer["headers"] = {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}}
    return answer


def _operation(operation: Operation) -> dict[str, Any]:
    described: dict[str, Any] = {
        "operationId": operation.name,
        "summary": operation.summary,
        "parameters": [_parameter(param) for param in operation.params],
        "responses": {
            **{str(reply.status): _reply(reply) for reply in operation.replies},
            **{str(status): _problem(status) for status in operation.problems},
        },
    }
    if operation.description:
        described["description"] = operation.description
    if operation.public:
        described["security"] = []  # the URL itself is the credential
    if operation.body is not None:
        content = {"application/json": {"schema": _ref(operation.body)}}
        described["requestBody"] = {"required": operation.body_required, "content": content}
    elif operation.binary_body:
        content = {operation.binary_media: _BINARY["*/*"]}
        described["requestBody"] = {"required": operation.body_required, "content": content}
    return described


@cache
def openapi_document(tier_names: tuple[str, ...]) -> dict[str, Any]:
    """The document for a gateway whose policy has these tiers (the only part that depends on configuration)."""
    schemas: dict[str, Any] = {}
    for model in (*REQUEST_MODELS, *recovery_models.REQUEST_MODELS, *project_models.REQUEST_MODELS):
        _add_schema(schemas, model, "validation")
    responses = (
        *RESPONSE_MODELS,
        *recovery_models.RESPONSE_MODELS,
        *project_models.RESPONSE_MODELS,
        *usage_models.RESPONSE_MODELS,
        *audit_models.RESPONSE_MODELS,
    )
    for model in responses:
        _add_schema(schemas, model, "serialization")
    schemas[TIER_NAME_SCHEMA] = {"type": "string", "enum": list(tier_names), "description": "A configured tier"}
    paths: dict[str, Any] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Session Gateway",
            "version": __version__,
            "description": "Session files on a versioned S3 bucket, isolated per tenant, user and session. "
            "Every error is an RFC 9457 problem document (application/problem+json).",
        },
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
