"""The JSON bodies of `/v1/projects`: requests (unknown fields refused, strictly typed) and responses."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

from gateway.api.models import (
    Metadata,
    RequestBody,
    ResponseBody,
    SessionName,
    Timestamp,
    WholeNumber,
    _not_null,
    _whole,
)
from gateway.projects import service as project_service
from gateway.projects.records import DEFAULT_PREFIX, MAX_DAYS
from gateway.services.session_records import MAX_METADATA_BYTES
from gateway.wire import iso

PROJECT_ID_PATTERN = r"^[a-z][a-z0-9-]{0,31}-[0-9a-f]{8}$"
PROJECT_PREFIX_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"
PROJECT_RULES = (
    "A project's `cleanup_after_days` (1 to 3650, or null: never) counts from its last activity: the later of its "
    "own last change and its sessions' last activity. `warning_days` (0 to 3650, fewer than `cleanup_after_days`) "
    "of warnings come first."
)

CleanupDays = Annotated[int, Field(ge=1, le=MAX_DAYS), BeforeValidator(_whole)]
# Left out for the default, never null (null would say nothing): the document says it is a number.
WarningDays = Annotated[
    Annotated[int, Field(ge=0, le=MAX_DAYS), BeforeValidator(_whole)] | None,
    BeforeValidator(_not_null),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_DAYS, "description": "Days of warnings first"}),
]


class ProjectCreate(RequestBody):
    """A new project; the lifetime fields left out take the deployment's defaults."""

    prefix: str = Field(
        default=DEFAULT_PREFIX,
        json_schema_extra={"pattern": PROJECT_PREFIX_PATTERN},
        description="The id's start: lower-case, a letter first, then letters, digits and '-', at most 32 "
        "characters; the id is `{prefix}-{8 hex digits}`",
    )
    name: SessionName | None = None
    metadata: Metadata = Field(
        default_factory=dict, description=f"Any JSON object, at most {MAX_METADATA_BYTES} bytes once encoded"
    )
    cleanup_after_days: CleanupDays | None = Field(default=None, description="Days of inactivity; null: never")
    warning_days: WarningDays = None


class ProjectUpdate(RequestBody):
    """Changes to a project: only the fields sent change; `metadata` is a merge patch (null removes a key)."""

    name: SessionName | None = None
    metadata: Metadata = Field(default_factory=dict, description="Keys to set; a null value removes the key")
    cleanup_after_days: CleanupDays | None = Field(default=None, description="Days of inactivity; null: never")
    warning_days: WarningDays = None


class ExtendInput(RequestBody):
    days: WholeNumber = Field(
        ge=1,
        le=MAX_DAYS,
        description="Keep the project this many days past its cleanup time (or now, if that has passed)",
    )


class ProjectWarning(ResponseBody):
    kind: Literal["cleanup"]
    message: str
    cleanup_at: Timestamp
    days_left: int = Field(ge=0, description="Whole days left, rounded up")


class ProjectSummary(ResponseBody):
    id: str = Field(pattern=PROJECT_ID_PATTERN)
    name: str | None
    created_at: Timestamp
    updated_at: Timestamp
    last_activity_at: Timestamp = Field(
        description="The later of the project's own last change and its sessions' last activity"
    )
    session_count: int = Field(ge=0)
    pinned: bool = Field(description="A pinned project is never cleaned up")
    cleanup_after_days: int | None
    warning_days: int
    keep_until: Timestamp | None = Field(description="Set by `extend`: not cleaned up before this moment")
    cleanup_at: Timestamp | None = Field(description="When the janitor deletes it if it stays idle; null: never")
    warnings: list[ProjectWarning] = Field(description="Within `warning_days` of `cleanup_at`: what will happen")

    @classmethod
    def fields_of(cls, view: project_service.ProjectView) -> dict[str, object]:
        record, outlook = view.record, view.outlook
        warnings = []
        if outlook.warning and outlook.cleanup_at is not None:
            warnings.append(
                {
                    "kind": "cleanup",
                    "message": f"this project and its {view.session_count} session(s) will be deleted at "
                    f"{iso(outlook.cleanup_at)} unless it is used, pinned or extended",
                    "cleanup_at": outlook.cleanup_at,
                    "days_left": outlook.days_left or 0,
                }
            )
        return {
            "id": record.id,
            "name": record.name,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
            "last_activity_at": outlook.last_activity_at,
            "session_count": view.session_count,
            "pinned": record.pinned,
            "cleanup_after_days": record.cleanup_after_days,
            "warning_days": record.warning_days,
            "keep_until": record.keep_until,
            "cleanup_at": outlook.cleanup_at,
            "warnings": warnings,
        }

    @classmethod
    def of(cls, view: project_service.ProjectView) -> ProjectSummary:
        return cls.model_validate(cls.fields_of(view))


class Project(ProjectSummary):
    metadata: Metadata

    @classmethod
    def of(cls, view: project_service.ProjectView) -> Project:
        return cls.model_validate({**cls.fields_of(view), "metadata": view.record.metadata})


class ProjectPage(ResponseBody):
    items: list[ProjectSummary] = Field(description="In id order")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")

    @classmethod
    def of(cls, listing: project_service.ProjectListing) -> ProjectPage:
        return cls(items=[ProjectSummary.of(item) for item in listing.items], next_cursor=listing.next_cursor)


REQUEST_MODELS: tuple[type[BaseModel], ...] = (ProjectCreate, ProjectUpdate, ExtendInput)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (Project, ProjectPage)
