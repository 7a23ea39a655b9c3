"""The JSON bodies of `GET /v1/sessions/{sid}/audit` and `GET /v1/events`: committed changes, as the audit log
keeps them (`gateway.audit.records`); a webhook's body is the same object with the owner's opaque id added."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gateway.api.models import ResponseBody, Timestamp
from gateway.audit.records import Record
from gateway.events import feed


class ChangeRecord(ResponseBody):
    id: str = Field(description="The same wherever the change is told (audit, feed, webhook): drop repeats by it")
    at: str = Field(description="When the change was committed (RFC 3339, UTC, milliseconds)")
    operation: str = Field(description="What changed: file.written, file.deleted, session.updated, ...")
    actor: str = Field(description="user, janitor (retention and cleanup) or restore (`backup restore`)")
    principal: str | None = Field(description="The token's `sub` for changes made by a user (a grantee's too)")
    tenant: str | None
    session: str | None
    path: str | None = Field(description="The file's path, for changes of a file")
    version_id: str | None
    previous_version_id: str | None
    request_id: str | None = Field(description="The `X-Request-Id` of the request that made the change")
    detail: dict[str, Any]

    @classmethod
    def of(cls, record: Record) -> ChangeRecord:
        return cls.model_validate(
            {name: getattr(record, name) for name in cls.model_fields if name != "detail"} | {"detail": record.detail}
        )


class AuditPage(ResponseBody):
    records: list[ChangeRecord]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class EventPage(ResponseBody):
    events: list[ChangeRecord]
    next_cursor: str = Field(description="Pass as `cursor` to go on from here; always given, the feed has no end")
    settled_until: Timestamp = Field(
        description="Every change committed up to this moment is at or before `next_cursor`"
    )

    @classmethod
    def of(cls, page: feed.EventPage) -> EventPage:
        return cls(
            events=[ChangeRecord.of(record) for record in page.events],
            next_cursor=page.next_cursor,
            settled_until=page.settled_until,
        )


RESPONSE_MODELS: tuple[type[ResponseBody], ...] = (AuditPage, EventPage)
