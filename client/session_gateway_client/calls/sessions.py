"""Sessions: create, read, list and search, change, end, archive, reactivate, delete, fork."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from session_gateway_client import answers
from session_gateway_client.models import (
    Session,
    SessionPage,
    SessionState,
)
from session_gateway_client.operations import UNSET, Call, Unset, call, query_text


def create_session(
    name: str | None = None,
    *,
    metadata: Mapping[str, Any] | None = None,
    default_tier: str | None = None,
    tags: Sequence[str] = (),
    external_ids: Sequence[str] = (),
    project: str | None = None,
) -> Call[Session]:
    """Create a session (in `project`, when given)."""
    body = {
        "name": UNSET if name is None else name,
        "metadata": UNSET if metadata is None else dict(metadata),
        "default_tier": UNSET if default_tier is None else default_tier,
        "tags": list(tags) if tags else UNSET,
        "external_ids": list(external_ids) if external_ids else UNSET,
    }
    if project is not None:
        return call("create_project_session", answers.json_as(Session), path={"pid": project}, json=body)
    return call("create_session", answers.json_as(Session), json=body)


def get_session(session_id: str) -> Call[Session]:
    return call("get_session", answers.json_as(Session), path={"sid": session_id})


def list_sessions_page(
    *,
    state: SessionState | Sequence[SessionState] | None = None,
    tags: Sequence[str] = (),
    project: str | None = None,
    q: str | None = None,
    external_id: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    active_after: datetime | None = None,
    active_before: datetime | None = None,
    sort: Literal["created", "last_activity"] | None = None,
    order: Literal["asc", "desc"] | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Call[SessionPage]:
    """One page of your sessions, filtered (every filter must hold; `tags`: sessions with all of them) and sorted.
    `q` finds names containing it, ignoring case and accents."""
    states = state if state is None or isinstance(state, str) else ",".join(state)
    query = {
        "state": states,
        "tag": list(tags),
        "project": project,
        "q": q,
        "external_id": external_id,
        "created_after": created_after,
        "created_before": created_before,
        "active_after": active_after,
        "active_before": active_before,
        "sort": sort,
        "order": order,
        "cursor": cursor,
        "limit": limit,
    }
    return call("list_sessions", answers.json_as(SessionPage), query=query)


def update_session(
    session_id: str,
    *,
    name: str | Unset | None = UNSET,
    metadata: Mapping[str, Any] | None = None,
    default_tier: str | Unset | None = UNSET,
    tags: Sequence[str] | None = None,
    external_ids: Sequence[str] | None = None,
) -> Call[Session]:
    """Change what is given: `name=None` or `default_tier=None` clears it; `metadata` is merged into the stored
    metadata (a key set to None is removed); `tags` and `external_ids` replace the lists."""
    body = {
        "name": name,
        "metadata": UNSET if metadata is None else dict(metadata),
        "default_tier": default_tier,
        "tags": UNSET if tags is None else list(tags),
        "external_ids": UNSET if external_ids is None else list(external_ids),
    }
    return call("update_session", answers.json_as(Session), path={"sid": session_id}, json=body)


def end_session(session_id: str) -> Call[Session]:
    """End a session: read-only from now on, and its ephemeral files are deleted."""
    return call("end_session", answers.json_as(Session), path={"sid": session_id})


def archive_session(session_id: str) -> Call[Session]:
    """Archive an ended session."""
    return call("archive_session", answers.json_as(Session), path={"sid": session_id})


def reactivate_session(session_id: str) -> Call[Session]:
    """Make an ended or archived session active (writable) again."""
    return call("reactivate_session", answers.json_as(Session), path={"sid": session_id})


def delete_session(session_id: str, *, purge: bool = False) -> Call[None]:
    """Delete a session (recoverable from the bucket's history), or every version of it for good with `purge`."""
    return call("delete_session", answers.nothing, path={"sid": session_id}, query={"purge": purge or None})


def fork_session(session_id: str, *, name: str | None = None, at: datetime | None = None) -> Call[Session]:
    """A new session with this session's files, as they are now or as they were at `at`."""
    body = {"name": UNSET if name is None else name, "at": UNSET if at is None else query_text(at)}
    return call("fork_session", answers.json_as(Session), path={"sid": session_id}, json=body)
