"""The tools agents call: each one the counterpart of a route, calling the same service through the same access
resolution (`reach_session`, `in_named_session`, `open_named_session`), so it reaches what the route reaches and
refuses what the route refuses. A session that is not the caller's answers as one that does not exist.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mcp_types import Tool, ToolAnnotations
from pydantic import BaseModel
from starlette.datastructures import QueryParams
from starlette.requests import Request

from gateway.agents import arguments as args_
from gateway.agents.reading import read_part
from gateway.agents.results import as_json
from gateway.api.context import actor_of, in_named_session, open_named_session, reach_session, services
from gateway.api.models import FilePage, FileVersion, HistoryPage, SessionPage
from gateway.api.session_query import session_query
from gateway.api.sessions import search_sessions
from gateway.api.shares import make_share
from gateway.auth.tokens import READ, WRITE, Principal
from gateway.errors import BadRequest, InvalidBody, PayloadTooLarge
from gateway.keys import SessionKeys
from gateway.services import files as file_service
from gateway.services.downloads import DEFAULT_CONTENT_TYPE, content_type_for_name, content_type_of
from gateway.services.grants import READ_ACCESS, WRITE_ACCESS
from gateway.storage.preconditions import Precondition

A = TypeVar("A", bound=BaseModel)
TEXT_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class AgentTool(Generic[A]):
    name: str
    title: str
    description: str
    arguments: type[A]
    scope: str
    run: Callable[[Request, Principal, A], Awaitable[dict[str, Any]]]
    read_only: bool = True
    destructive: bool = False
    idempotent: bool = True

    def described(self, tier_names: tuple[str, ...]) -> Tool:
        return Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            input_schema=args_.input_schema(self.arguments, tier_names),
            annotations=ToolAnnotations(
                title=self.title,
                read_only_hint=self.read_only,
                destructive_hint=self.destructive,
                idempotent_hint=self.idempotent,
                open_world_hint=False,
            ),
        )


async def _list_files(request: Request, principal: Principal, args: args_.ListFiles) -> dict[str, Any]:
    files = services(request).files

    def page(keys: SessionKeys) -> Awaitable[file_service.FileListing]:
        return files.list(keys, prefix=args.prefix, delimiter=args.delimiter, limit=args.limit, cursor=args.cursor)

    listing = await in_named_session(request, principal, args.session_id, READ_ACCESS, page)
    return as_json(FilePage.of(listing))


async def _read_file(request: Request, principal: Principal, args: args_.ReadFile) -> dict[str, Any]:
    return await read_part(request, principal, args)


def _content(args: args_.WriteFile) -> bytes:
    if args.encoding == "base64":
        try:
            data = base64.b64decode(args.content, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidBody.field("content", "is not base64 (RFC 4648, with padding)") from None
    else:
        try:
            data = args.content.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidBody.field("content", "holds a lone surrogate, which UTF-8 cannot encode") from None
    if len(data) > args_.MAX_WRITE_BYTES:
        raise PayloadTooLarge(
            f"write_file takes at most {args_.MAX_WRITE_BYTES} bytes; upload larger files with PUT over HTTP",
            extra={"limit_bytes": args_.MAX_WRITE_BYTES},
        )
    return data


def _content_type(args: args_.WriteFile) -> str:
    if args.content_type is not None:
        try:
            return content_type_of(args.content_type)
        except BadRequest:
            raise InvalidBody.field("content_type", "is not a media type (type/subtype[; parameter=value])") from None
    guessed = content_type_for_name(args.path)
    if args.encoding != "text":
        return guessed
    # Text arrives as characters and is stored as UTF-8: say so, as the type of a file without a known one too.
    if guessed == DEFAULT_CONTENT_TYPE:
        return TEXT_TYPE
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


async def _write_file(request: Request, principal: Principal, args: args_.WriteFile) -> dict[str, Any]:
    data = _content(args)
    content_type = _content_type(args)
    precondition = Precondition.from_headers(args.if_match, "*" if args.create_only else None)
    files = services(request).files

    async def body() -> AsyncIterator[bytes]:
        yield data

    def write(keys: SessionKeys) -> Awaitable[file_service.Written]:
        return files.write(
            actor_of(principal),
            keys,
            args.path,
            body(),
            content_type=content_type,
            declared_length=len(data),
            precondition=precondition,
            tier=args.tier,
        )

    written = await reach_session(request, principal, args.session_id, WRITE_ACCESS, write)
    return {"created": written.created, "file": as_json(FileVersion.of(written.file))}


async def _delete_file(request: Request, principal: Principal, args: args_.DeleteFile) -> dict[str, Any]:
    if not args.recursive and args.path.endswith("/"):
        raise InvalidBody.field("recursive", "this is a folder path; send recursive: true to delete all under it")
    files, actor = services(request).files, actor_of(principal)

    async def delete(keys: SessionKeys) -> int:
        if args.recursive:
            return await files.delete_folder(actor, keys, args.path)
        await files.delete(actor, keys, args.path)
        return 1

    deleted = await reach_session(request, principal, args.session_id, WRITE_ACCESS, delete)
    return {"path": args.path, "deleted_files": deleted}


async def _file_history(request: Request, principal: Principal, args: args_.FileHistory) -> dict[str, Any]:
    files = services(request).files
    history = await in_named_session(
        request,
        principal,
        args.session_id,
        READ_ACCESS,
        lambda keys: files.history(keys, args.path, limit=args.limit, cursor=args.cursor),
    )
    return as_json(HistoryPage.of(history))


async def _rollback_file(request: Request, principal: Principal, args: args_.RollbackFile) -> dict[str, Any]:
    files, actor = services(request).files, actor_of(principal)
    written = await reach_session(
        request,
        principal,
        args.session_id,
        WRITE_ACCESS,
        lambda keys: files.rollback(actor, keys, args.path, args.version_id),
    )
    return as_json(FileVersion.of(written.file))


def _query_string(args: args_.SearchSessions) -> QueryParams:
    """The arguments as `GET /v1/sessions` would have them, so that the listing's own rules judge them."""
    pairs = [("state", state) for state in args.state] + [("tag", tag) for tag in args.tag]
    for name in ("project", "q", "external_id", "created_after", "created_before", "active_after", "active_before"):
        value = getattr(args, name)
        if value is not None:
            pairs.append((name, value))
    return QueryParams([*pairs, ("sort", args.sort), ("order", args.order)])


async def _search_sessions(request: Request, principal: Principal, args: args_.SearchSessions) -> dict[str, Any]:
    query = session_query(_query_string(args))
    return as_json(SessionPage.of(await search_sessions(request, principal, query, args.limit, args.cursor)))


async def _create_share_link(request: Request, principal: Principal, args: args_.CreateShareLink) -> dict[str, Any]:
    principal.require_unrestricted()
    opened = await open_named_session(request, principal, args.session_id)
    return as_json(await make_share(request, principal, opened, args))


TOOLS: tuple[AgentTool[Any], ...] = (
    AgentTool(
        "search_sessions",
        "Search sessions",
        "Find your sessions by state, tags, project, text in the name, an external id, or creation and activity "
        "times; sorted by `sort` (order 'desc': newest first). Pages of `limit`; pass `next_cursor` back as `cursor` "
        "for the next. A token bound to one session sees at most that session.",
        args_.SearchSessions,
        READ,
        _search_sessions,
    ),
    AgentTool(
        "list_files",
        "List files",
        "List the files of a session (path, size, etag, version_id, tier), optionally only under `prefix`; with "
        "delimiter '/' one folder level at a time. Pages of `limit`; pass `next_cursor` back as `cursor`.",
        args_.ListFiles,
        READ,
        _list_files,
    ),
    AgentTool(
        "read_file",
        "Read a file",
        f"Read a file (or an older version) from byte `offset`: at most {args_.MAX_READ_BYTES} bytes per call. The "
        "answer says the file's size, the bytes returned (`length`), whether more remain (`truncated`) and where to "
        "go on (`next_offset`). UTF-8 text comes back as text, other bytes as base64 (`encoding` says which).",
        args_.ReadFile,
        READ,
        _read_file,
    ),
    AgentTool(
        "write_file",
        "Write a file",
        f"Create or replace a file with `content` (UTF-8 text, or base64 with encoding 'base64'; at most "
        f"{args_.MAX_WRITE_BYTES} bytes). Every write keeps the earlier versions (see file_history). `if_match`: only "
        "if the file's current etag is this one (a stale etag fails with status 412, nothing written); "
        "`create_only`: only if no file has this path.",
        args_.WriteFile,
        WRITE,
        _write_file,
        read_only=False,
        idempotent=False,
    ),
    AgentTool(
        "delete_file",
        "Delete a file",
        "Delete a file, or with recursive: true every file under a folder path ending in '/'. Versions stay in the "
        "history: rollback_file brings a file back.",
        args_.DeleteFile,
        WRITE,
        _delete_file,
        read_only=False,
        destructive=True,
        idempotent=False,
    ),
    AgentTool(
        "file_history",
        "File history",
        "The versions of a file, newest first, deletions included (version_id, size, etag, time, tier). Pages of "
        "`limit`; pass `next_cursor` back as `cursor`.",
        args_.FileHistory,
        READ,
        _file_history,
    ),
    AgentTool(
        "rollback_file",
        "Roll a file back",
        "Make an older version (a version_id from file_history) the file's current content again, as a new "
        "version; the versions in between stay in the history.",
        args_.RollbackFile,
        WRITE,
        _rollback_file,
        read_only=False,
        idempotent=False,
    ),
    AgentTool(
        "create_share_link",
        "Create a share link",
        "A link anyone holding it may open without logging in: one file (`path`, optionally one `version_id`) or a "
        "folder (`prefix` ending in '/', downloaded as a zip). Optional `expires_in` seconds and `max_downloads`. "
        "Only the session's owner may share, with a token not bound to one session.",
        args_.CreateShareLink,
        WRITE,
        _create_share_link,
        read_only=False,
        idempotent=False,
    ),
)
BY_NAME = {tool.name: tool for tool in TOOLS}
