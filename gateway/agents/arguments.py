"""The arguments of every agent tool, as pydantic models: validated like request bodies, and described to agents by
the JSON schemas generated from them (`input_schema`).

They reuse the HTTP API's field types (paths, version ids, tier names) and, where a route has a body, the body's
model itself, so a tool refuses exactly what its route refuses, naming the argument.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from gateway.api.models import (
    FILE_PATH_PATTERN,
    FOLDER_PATH_PATTERN,
    PREFIX_PATTERN,
    TIER_NAME_MARK,
    FileOrFolderPath,
    FilePath,
    OptionalTierName,
    RollbackInput,
    SessionId,
    ShareInput,
    VersionId,
)
from gateway.index.query import MAX_QUERY_CHARS, SORTS
from gateway.services.session_records import STATES
from gateway.wire import DEFAULT_PAGE, MAX_PAGE

# What one read returns at most, and what one write may carry (decoded): the rest of a file is read by offset, and
# larger files go through the HTTP API, which streams them.
MAX_READ_BYTES = 1024 * 1024
MAX_WRITE_BYTES = 4 * 1024 * 1024


def _whole(value: object) -> object:
    # JSON has one number type: 60.0 is the integer 60, as JSON Schema's "integer" says.
    return int(value) if isinstance(value, float) and value.is_integer() else value


Limit = Annotated[
    int,
    Field(ge=1, le=MAX_PAGE, description=f"Items per page, 1 to {MAX_PAGE}"),
    BeforeValidator(_whole),
]
Cursor = Annotated[str, Field(description="The `next_cursor` of the previous page")]
Session = Annotated[SessionId, Field(description="The session's id (`id` in search_sessions)")]
QueryText = Annotated[str, Field(max_length=MAX_QUERY_CHARS)]
Moment = Annotated[str, Field(description="RFC 3339 date-time with a time zone, such as 2026-01-31T12:00:00Z")]
State = Literal["active", "ended", "archived"]
Sort = Literal["created", "last_activity"]
# Spelled out for the type checker; they must stay the listing's own.
assert get_args(State) == STATES and get_args(Sort) == SORTS


class Arguments(BaseModel):
    """Strict, like request bodies: unknown arguments and wrong types are refused, naming the argument."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ListFiles(Arguments):
    session_id: Session
    prefix: str = Field(default="", description="Only paths starting with this text; a folder ends in '/'")
    delimiter: Literal["/"] | None = Field(
        default=None, description="'/' lists one folder level: deeper paths come back as `prefixes`"
    )
    limit: Limit = DEFAULT_PAGE
    cursor: Cursor | None = None


class ReadFile(Arguments):
    session_id: Session
    path: FilePath
    version_id: VersionId | None = Field(default=None, description="An older version (from file_history)")
    offset: Annotated[int, Field(ge=0), BeforeValidator(_whole)] = Field(default=0, description="First byte to read")
    length: Annotated[int, Field(ge=1), BeforeValidator(_whole)] | None = Field(
        default=None, description=f"Bytes to read; at most {MAX_READ_BYTES} are returned per call"
    )
    encoding: Literal["auto", "text", "base64"] = Field(
        default="auto",
        description="'auto': UTF-8 text when the bytes are text, base64 otherwise; 'text' refuses other bytes",
    )


class WriteFile(Arguments):
    session_id: Session
    path: FilePath
    content: str = Field(description=f"The whole file: UTF-8 text, or base64 (at most {MAX_WRITE_BYTES} bytes)")
    encoding: Literal["text", "base64"] = "text"
    content_type: str | None = Field(default=None, description="Media type; by default guessed from the name")
    if_match: Annotated[str, Field(min_length=1)] | None = Field(
        default=None, description="Write only if the current version has this etag (from read_file or list_files)"
    )
    create_only: bool = Field(default=False, description="Write only if no file has this path yet")
    tier: OptionalTierName = None


class DeleteFile(Arguments):
    session_id: Session
    path: FileOrFolderPath
    recursive: bool = Field(default=False, description="Delete every file under a folder path (ending in '/')")


class FileHistory(Arguments):
    session_id: Session
    path: FilePath
    limit: Limit = DEFAULT_PAGE
    cursor: Cursor | None = None


class RollbackFile(RollbackInput):
    session_id: Session


class SearchSessions(Arguments):
    state: list[State] = Field(default_factory=list, description="Sessions in any of these states")
    tag: list[QueryText] = Field(default_factory=list, description="Sessions carrying every one of these tags")
    project: QueryText | None = None
    q: QueryText | None = Field(default=None, description="Text in the session's name (case and accents ignored)")
    external_id: QueryText | None = None
    created_after: Moment | None = None
    created_before: Moment | None = None
    active_after: Moment | None = None
    active_before: Moment | None = None
    sort: Sort = "created"
    order: Literal["asc", "desc"] = "asc"
    limit: Limit = DEFAULT_PAGE
    cursor: Cursor | None = None


class CreateShareLink(ShareInput):
    session_id: Session


# The path rules in words an agent can act on. The API's path patterns say the same to a validator, in some 700
# characters each: an agent reads every tool's schema into its context, and the gateway checks the rules anyway
# (a refusal names the rule broken).
PATH_IN_WORDS = {
    FILE_PATH_PATTERN: "A file's path in the session, such as 'notes/plan.md'",
    FOLDER_PATH_PATTERN: "A file's path, or a folder's ending in '/', such as 'notes/'",
    PREFIX_PATTERN: "A folder's path ending in '/', such as 'notes/'",
}
PATH_RULES = (
    ": segments separated by '/', any Unicode that displays as itself, no '.' or '..' segments, no '\\' or control "
    "characters; NFC and NFD spellings name the same file"
)


def input_schema(model: type[BaseModel], tier_names: tuple[str, ...]) -> dict[str, Any]:
    """The JSON schema agents read: the model's, with tier names listed and path rules in words."""
    schema: dict[str, Any] = _for_agents(model.model_json_schema(), tier_names)
    return schema


def _for_agents(node: Any, tier_names: tuple[str, ...]) -> Any:
    if isinstance(node, dict):
        if node.get(TIER_NAME_MARK):
            return {"type": "string", "enum": list(tier_names), "description": "The file's persistence tier"}
        found = {key: _for_agents(value, tier_names) for key, value in node.items()}
        pattern = found.get("pattern")
        words = PATH_IN_WORDS.get(pattern) if isinstance(pattern, str) else None
        if words is not None:
            del found["pattern"]
            found["description"] = words + PATH_RULES
        return found
    if isinstance(node, list):
        return [_for_agents(item, tier_names) for item in node]
    return node
