"""`AsyncClient`: the same operations as `Client`, awaited, over one httpx async connection pool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any, Generic, Self, TypeVar

import httpx

from session_gateway_client import calls, config
from session_gateway_client.binding import async_, async_pages
from session_gateway_client.errors import ConnectionFailed, error_of
from session_gateway_client.models import FileVersion
from session_gateway_client.operations import Call
from session_gateway_client.sync import Writable, base_headers
from session_gateway_client.uploads import async_content

T = TypeVar("T")


class AsyncDownload(Generic[T]):
    """An answer being received: `info` from its headers, its bytes read as they arrive (exactly as stored)."""

    def __init__(self, info: T, response: httpx.Response) -> None:
        self.info = info
        self._response = response

    def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        return self._response.aiter_raw(chunk_size)

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self._response.aiter_raw()])


class AsyncClient:
    """An async client of one gateway, as one caller (the token's); see `Client` for the arguments."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        headers: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.url, token = config.resolve(url, token)
        self._headers = base_headers(token, headers)
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=timeout, verify=config.tls_context())

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _request(self, call: Call[Any]) -> httpx.Request:
        headers = {**self._headers, **call.headers}
        content: Any = None
        if call.body is not None:
            length, content = async_content(call.body)
            headers.update(length)
        return self._http.build_request(
            call.endpoint.method,
            self.url + call.url,
            params=call.params or None,
            headers=headers,
            json=call.json,
            content=content,
        )

    async def _send(self, call: Call[Any], *, stream: bool) -> httpx.Response:
        try:
            response = await self._http.send(self._request(call), stream=stream)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{call.endpoint.method} {self.url}{call.url}: {exc}") from exc
        if response.is_error:
            try:
                await response.aread()
            finally:
                await response.aclose()
            raise error_of(response)
        return response

    async def send(self, call: Call[T]) -> T:
        """Send one call and read its answer (every method does this)."""
        return call.read(await self._send(call, stream=False))

    @asynccontextmanager
    async def _stream(self, call: Call[T]) -> AsyncIterator[AsyncDownload[T]]:
        response = await self._send(call, stream=True)
        try:
            yield AsyncDownload(call.read(response), response)
        finally:
            await response.aclose()

    # Sessions
    create_session = async_(calls.create_session)
    get_session = async_(calls.get_session)
    list_sessions = async_pages(calls.list_sessions_page)
    list_sessions_page = async_(calls.list_sessions_page)
    update_session = async_(calls.update_session)
    end_session = async_(calls.end_session)
    archive_session = async_(calls.archive_session)
    reactivate_session = async_(calls.reactivate_session)
    delete_session = async_(calls.delete_session)
    fork_session = async_(calls.fork_session)

    # Files
    upload = async_(calls.upload)
    download = async_(calls.download)
    read_range = async_(calls.read_range)
    file_info = async_(calls.file_info)
    list_files = async_pages(calls.list_files_page)
    list_files_page = async_(calls.list_files_page)
    delete_file = async_(calls.delete_file)
    delete_folder = async_(calls.delete_folder)
    set_tier = async_(calls.set_tier)
    set_folder_tier = async_(calls.set_folder_tier)
    history = async_pages(calls.history_page)
    history_page = async_(calls.history_page)
    rollback = async_(calls.rollback)
    copy = async_(calls.copy)
    move = async_(calls.move)
    create_link = async_(calls.create_link)

    # Grants and share links
    create_grant = async_(calls.create_grant)
    list_grants = async_(calls.list_grants)
    revoke_grant = async_(calls.revoke_grant)
    list_shared = async_(calls.list_shared)
    create_share = async_(calls.create_share)
    list_shares = async_(calls.list_shares)
    revoke_share = async_(calls.revoke_share)

    # Exports
    start_export = async_(calls.start_export)
    get_export = async_(calls.get_export)

    def stream_file(
        self,
        session_id: str,
        path: str,
        *,
        version_id: str | None = None,
        at: datetime | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> AbstractAsyncContextManager[AsyncDownload[FileVersion]]:
        """`async with client.stream_file(sid, path) as download:` its FileVersion in `download.info`, its bytes
        from `download.aiter_bytes()`."""
        return self._stream(calls.open_file(session_id, path, version_id=version_id, at=at, start=start, end=end))

    async def download_to(
        self, session_id: str, path: str, target: Writable, *, version_id: str | None = None, at: datetime | None = None
    ) -> FileVersion:
        """Write a file's bytes into `target` (a binary file object) as they arrive; its FileVersion."""
        async with self._stream(calls.open_file(session_id, path, version_id=version_id, at=at)) as download:
            async for chunk in download.aiter_bytes():
                target.write(chunk)
            return download.info

    def stream_export(
        self,
        session_id: str,
        *,
        prefix: str = "",
        paths: Sequence[str] = (),
        at: datetime | None = None,
        redact: bool = False,
    ) -> AbstractAsyncContextManager[AsyncDownload[None]]:
        """`async with client.stream_export(sid) as download:` a zip of the session's files, made while it is sent."""
        return self._stream(calls.export_zip(session_id, prefix=prefix, paths=paths, at=at, redact=redact))
