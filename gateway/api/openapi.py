"""The OpenAPI 3.1 description of the HTTP API (a test keeps it in step with the routes)."""

from __future__ import annotations

from functools import cache
from typing import Any

from gateway import __version__

_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _errors(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "Invalid input (the problem's `rule` names a broken path rule)",
        401: "Missing, malformed, expired or wrongly signed token",
        403: "The token lacks the needed scope, or is bound to one session",
        404: "No such session, file or version (also for sessions of other users)",
        409: "The session has ended: its files can be read but not changed",
        412: "If-Match / If-None-Match did not hold, or a concurrent conditional write won",
        413: "Body larger than the configured limit; nothing was stored",
        415: "Body is not JSON",
        416: "Range outside the file",
    }
    return {str(code): {"description": reasons[code], "content": _PROBLEM} for code in statuses}


def _param(name: str, where: str, description: str, *, required: bool = False, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "description": description, "schema": {"type": kind}}


_SID = _param("sid", "path", "Session id", required=True)
_PATH = _param("path", "path", "File path: UTF-8, '/'-separated, no '.' or '..' segments", required=True)
_VERSION = _param("version_id", "query", "A version from the file's history")
_LIMIT = _param("limit", "query", "Page size, 1 to 1000 (default 100)", kind="integer")
_CURSOR = _param("cursor", "query", "The `next_cursor` of the previous page")
_COMMON = (401, 403, 404)


def _op(
    summary: str,
    responses: dict[str, Any],
    *,
    params: list[Any] | None = None,
    body: str | None = None,
    errors: tuple[int, ...] = _COMMON,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": params or [],
        "responses": {**responses, **_errors(*errors)},
    }
    if body:
        operation["requestBody"] = {"required": True, "content": _json(body)}
    return operation


_FILE_HEADERS = {
    name: {"schema": {"type": "string"}}
    for name in ("ETag", "Last-Modified", "Content-Disposition", "X-Content-Type-Options", "X-Version-Id")
}

_PATHS: dict[str, Any] = {
    "/v1/sessions": {
        "post": _op(
            "Create a session",
            {"201": {"description": "Created", "content": _json("Session")}},
            body="SessionInput",
            errors=(400, 401, 403, 415),
        ),
        "get": _op(
            "List your sessions, oldest first",
            {"200": {"description": "A page", "content": _json("SessionPage")}},
            params=[_LIMIT, _CURSOR],
            errors=(400, 401, 403),
        ),
    },
    "/v1/sessions/{sid}": {
        "get": _op(
            "Get a session", {"200": {"description": "The session", "content": _json("Session")}}, params=[_SID]
        ),
        "patch": _op(
            "Rename a session or merge-patch its metadata",
            {"200": {"description": "Updated", "content": _json("Session")}},
            params=[_SID],
            body="SessionInput",
            errors=(400, *_COMMON),
        ),
        "delete": _op(
            "Delete a session (recoverable), or purge every version with purge=true",
            {"204": {"description": "Deleted"}},
            params=[_SID, _param("purge", "query", "Remove every version for good", kind="boolean")],
        ),
    },
    "/v1/sessions/{sid}/files": {
        "get": _op(
            "List files",
            {"200": {"description": "A page", "content": _json("FilePage")}},
            params=[
                _SID,
                _param("prefix", "query", "Path prefix"),
                _param("delimiter", "query", "'/' to group by folder"),
                _LIMIT,
                _CURSOR,
            ],
            errors=(400, *_COMMON),
        ),
    },
    "/v1/sessions/{sid}/files/{path}": {
        "put": {
            **_op(
                "Upload a file (streamed; multipart above the threshold)",
                {
                    "200": {"description": "Replaced a file", "content": _json("FileVersion")},
                    "201": {"description": "Created a file", "content": _json("FileVersion")},
                },
                params=[
                    _SID,
                    _PATH,
                    _param("If-Match", "header", "Write only if the current ETag matches"),
                    _param("If-None-Match", "header", "'*': write only if no file exists"),
                    _param("X-Tier", "header", "Persistence tier (default: folder's, session's, then the policy's)"),
                    _param("tier", "query", "Same as X-Tier"),
                ],
                errors=(400, *_COMMON, 409, 412, 413),
            ),
            "requestBody": {"required": True, "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
        },
        "get": _op(
            "Download a file (Range and If-None-Match supported)",
            {
                "200": {
                    "description": "The bytes",
                    "headers": _FILE_HEADERS,
                    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                },
                "206": {"description": "Part of the bytes"},
                "304": {"description": "Not modified"},
            },
            params=[_SID, _PATH, _VERSION, _param("Range", "header", "bytes=START-END")],
            errors=(400, *_COMMON, 416),
        ),
        "head": _op(
            "File headers without the bytes",
            {"200": {"description": "Headers", "headers": _FILE_HEADERS}},
            params=[_SID, _PATH, _VERSION],
            errors=(400, *_COMMON),
        ),
        "delete": _op(
            "Delete a file (a delete marker; history is kept), or a folder with recursive=true",
            {"204": {"description": "Deleted"}},
            params=[_SID, _PATH, _param("recursive", "query", "Delete a whole folder", kind="boolean")],
            errors=(400, *_COMMON, 409),
        ),
        "patch": _op(
            "Re-tag a file (or, with recursive, a folder) with a tier; set a folder's default tier",
            {"200": {"description": "The file, or what changed in the folder", "content": _json("FileVersion")}},
            params=[_SID, _PATH],
            body="TierInput",
            errors=(400, *_COMMON, 409, 415),
        ),
    },
    "/v1/sessions/{sid}/end": {
        "post": _op(
            "End a session: read-only from now on; its ephemeral files are deleted (every version)",
            {"200": {"description": "The ended session", "content": _json("Session")}},
            params=[_SID],
        ),
    },
    "/v1/sessions/{sid}/history": {
        "get": _op(
            "Versions of one file, newest first",
            {"200": {"description": "A page", "content": _json("HistoryPage")}},
            params=[_SID, _param("path", "query", "File path", required=True), _LIMIT, _CURSOR],
            errors=(400, *_COMMON),
        ),
    },
    "/v1/sessions/{sid}/rollback": {
        "post": _op(
            "Copy an old version back to the head, as a new version",
            {"200": {"description": "The new head", "content": _json("FileVersion")}},
            params=[_SID],
            body="RollbackInput",
            errors=(400, *_COMMON, 415),
        ),
    },
    "/v1/sessions/{sid}/links": {
        "post": _op(
            "Create a presigned download link served by S3",
            {"201": {"description": "The link", "content": _json("Link")}},
            params=[_SID],
            body="LinkInput",
            errors=(400, *_COMMON, 415),
        ),
    },
}

_STRING = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": _STRING,
            "title": _STRING,
            "status": {"type": "integer"},
            "detail": _STRING,
            "instance": _STRING,
            "rule": _STRING,
        },
    },
    "TierInput": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "tier": _STRING,
            "recursive": {"type": "boolean", "default": False},
            "default_tier": {"type": ["string", "null"]},
        },
    },
    "SessionInput": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": ["string", "null"], "maxLength": 256},
            "metadata": {"type": "object"},
            "default_tier": {"type": ["string", "null"]},
        },
    },
    "Session": {
        "type": "object",
        "required": ["id", "created_at", "updated_at", "state", "metadata"],
        "properties": {
            "id": _STRING,
            "name": {"type": ["string", "null"]},
            "created_at": _TIME,
            "updated_at": _TIME,
            "state": {"enum": ["active", "ended"]},
            "ended_at": {"type": ["string", "null"], "format": "date-time"},
            "metadata": {"type": "object"},
            "default_tier": {"type": ["string", "null"]},
            "folder_tiers": {"type": "object", "additionalProperties": _STRING},
        },
    },
    "SessionPage": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Session"}},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    "FileVersion": {
        "type": "object",
        "required": ["path", "version_id", "etag", "size", "content_type", "last_modified"],
        "properties": {
            "path": _STRING,
            "version_id": {"type": ["string", "null"]},
            "etag": _STRING,
            "size": {"type": "integer"},
            "content_type": _STRING,
            "last_modified": _TIME,
            "tier": {"type": ["string", "null"]},
            "expires_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "FilePage": {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "path": _STRING,
                        "size": {"type": "integer"},
                        "etag": _STRING,
                        "last_modified": _TIME,
                        "version_id": {"type": ["string", "null"]},
                    },
                },
            },
            "prefixes": {"type": "array", "items": _STRING},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    "HistoryPage": {
        "type": "object",
        "properties": {
            "path": _STRING,
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "version_id": _STRING,
                        "is_latest": {"type": "boolean"},
                        "is_delete_marker": {"type": "boolean"},
                        "size": {"type": ["integer", "null"]},
                        "etag": {"type": ["string", "null"]},
                        "last_modified": _TIME,
                    },
                },
            },
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    "RollbackInput": {
        "type": "object",
        "required": ["path", "version_id"],
        "properties": {"path": _STRING, "version_id": _STRING},
    },
    "LinkInput": {
        "type": "object",
        "required": ["path"],
        "properties": {
            "path": _STRING,
            "version_id": _STRING,
            "expires_in": {"type": "integer", "minimum": 1, "maximum": 604800, "default": 3600},
        },
    },
    "Link": {
        "type": "object",
        "required": ["url", "expires_at"],
        "properties": {"url": _STRING, "expires_at": _TIME, "path": _STRING},
    },
}


@cache
def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Session Gateway",
            "version": __version__,
            "description": "Session files on a versioned S3 bucket, isolated per tenant, user and session.",
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearer": []}],
        "paths": _PATHS,
    }
