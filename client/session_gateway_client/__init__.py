"""A typed client for Session Gateway: `Client` (sync), `AsyncClient` (async), and the `sgw://` fsspec filesystem
(`session_gateway_client.fs`, found by fsspec through its entry point).

    from session_gateway_client import Client

    with Client("http://localhost:8000", token) as gw:
        session = gw.create_session("report")
        gw.upload(session.id, "notes/été 🎉.md", b"# hello", content_type="text/markdown")
        for entry in gw.list_files(session.id, prefix="notes/"):
            print(entry.path, entry.size)
"""

from __future__ import annotations

from session_gateway_client.aio import AsyncClient, AsyncDownload
from session_gateway_client.errors import (
    ApiError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    FieldProblem,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    Problem,
    RangeNotSatisfiable,
    ServerError,
    SessionGatewayError,
    Unauthorized,
    UnexpectedAnswer,
    UnsupportedMediaType,
)
from session_gateway_client.models import (
    CopyReport,
    ExportStatus,
    FileEntry,
    FilePage,
    FileVersion,
    FolderChange,
    Grant,
    HistoryEntry,
    HistoryPage,
    Link,
    MoveReport,
    Session,
    SessionPage,
    SessionSummary,
    Share,
    Transfer,
)
from session_gateway_client.operations import UNSET
from session_gateway_client.sync import Client, Download

__all__ = [
    "UNSET",
    "ApiError",
    "AsyncClient",
    "AsyncDownload",
    "BadRequest",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "CopyReport",
    "Download",
    "ExportStatus",
    "FieldProblem",
    "FileEntry",
    "FilePage",
    "FileVersion",
    "FolderChange",
    "Forbidden",
    "Grant",
    "HistoryEntry",
    "HistoryPage",
    "Link",
    "MethodNotAllowed",
    "MoveReport",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "Problem",
    "RangeNotSatisfiable",
    "ServerError",
    "Session",
    "SessionGatewayError",
    "SessionPage",
    "SessionSummary",
    "Share",
    "Transfer",
    "Unauthorized",
    "UnexpectedAnswer",
    "UnsupportedMediaType",
]
