"""`Client`: the gateway's operations as blocking calls, over one httpx connection pool."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, Generic, Protocol, Self, TypeVar

import httpx

from session_gateway_client import calls, config
from session_gateway_client.binding import pages, sync
from session_gateway_client.errors import ConnectionFailed, error_of
from session_gateway_client.models import FileVersion
from session_gateway_client.operations import Call
from session_gateway_client.uploads import sync_content

T = TypeVar("T")
USER_AGENT = "session-gateway-client/0.1"


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


class Download(Generic[T]):
    """An answer being received: `info` from its headers, its bytes read as they arrive (exactly as stored)."""

    def __init__(self, info: T, response: httpx.Response) -> None:
        self.info = info
        self._response = response

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        return self._response.iter_raw(chunk_size)

    def read(self) -> bytes:
        return b"".join(self._response.iter_raw())


def base_headers(token: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, **(extra or {})}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


class Client:
    """A blocking client of one gateway, as one caller (the token's).

    `url` and `token` default to the environment variables SGW_URL and SGW_TOKEN. Pass `http` to use an httpx
    client of your own (proxies, certificates, transports); this client then leaves closing it to you.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        headers: Mapping[str, str] | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.url, token = config.resolve(url, token)
        self._headers = base_headers(token, headers)
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout, verify=config.tls_context())

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _request(self, call: Call[Any]) -> httpx.Request:
        headers = {**self._headers, **call.headers}
        content: Any = None
        if call.body is not None:
            length, content = sync_content(call.body)
            headers.update(length)
        return self._http.build_request(
            call.endpoint.method,
            self.url + call.url,
            params=call.params or None,
            headers=headers,
            json=call.json,
            content=content,
        )

    def _send(self, call: Call[Any], *, stream: bool) -> httpx.Response:
        try:
            response = self._http.send(self._request(call), stream=stream)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{call.endpoint.method} {self.url}{call.url}: {exc}") from exc
        if response.is_error:
            try:
                response.read()
            finally:
                response.close()
            raise error_of(response)
        return response

    def send(self, call: Call[T]) -> T:
        """Send one call and read its answer (every method does this)."""
        return call.read(self._send(call, stream=False))

    @contextmanager
    def _stream(self, call: Call[T]) -> Iterator[Download[T]]:
        response = self._send(call, stream=True)
        try:
            yield Download(call.read(response), response)
        finally:
            response.close()

    # Sessions
    create_session = sync(calls.create_session)
    get_session = sync(calls.get_session)
    list_sessions = pages(calls.list_sessions_page)
    list_sessions_page = sync(calls.list_sessions_page)
    update_session = sync(calls.update_session)
    end_session = sync(calls.end_session)
    archive_session = sync(calls.archive_session)
    reactivate_session = sync(calls.reactivate_session)
    delete_session = sync(calls.delete_session)
    fork_session = sync(calls.fork_session)

    # Files
    upload = sync(calls.upload)
    download = sync(calls.download)
    read_range = sync(calls.read_range)
    file_info = sync(calls.file_info)
    list_files = pages(calls.list_files_page)
    list_files_page = sync(calls.list_files_page)
    delete_file = sync(calls.delete_file)
    delete_folder = sync(calls.delete_folder)
    set_tier = sync(calls.set_tier)
    set_folder_tier = sync(calls.set_folder_tier)
    history = pages(calls.history_page)
    history_page = sync(calls.history_page)
    rollback = sync(calls.rollback)
    copy = sync(calls.copy)
    move = sync(calls.move)
    create_link = sync(calls.create_link)

    # Grants and share links
    create_grant = sync(calls.create_grant)
    list_grants = sync(calls.list_grants)
    revoke_grant = sync(calls.revoke_grant)
    list_shared = sync(calls.list_shared)
    create_share = sync(calls.create_share)
    list_shares = sync(calls.list_shares)
    revoke_share = sync(calls.revoke_share)

    # Exports
    start_export = sync(calls.start_export)
    get_export = sync(calls.get_export)

    def stream_file(
        self,
        session_id: str,
        path: str,
        *,
        version_id: str | None = None,
        at: datetime | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> AbstractContextManager[Download[FileVersion]]:
        """`with client.stream_file(sid, path) as download:` the file's FileVersion in `download.info`, its bytes
        from `download.iter_bytes()`, never all in memory; `start`/`end` read a range as in `read_range`."""
        return self._stream(calls.open_file(session_id, path, version_id=version_id, at=at, start=start, end=end))

    def download_to(
        self, session_id: str, path: str, target: Writable, *, version_id: str | None = None, at: datetime | None = None
    ) -> FileVersion:
        """Write a file's bytes into `target` (a binary file object) as they arrive; its FileVersion."""
        with self._stream(calls.open_file(session_id, path, version_id=version_id, at=at)) as download:
            for chunk in download.iter_bytes():
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
    ) -> AbstractContextManager[Download[None]]:
        """`with client.stream_export(sid) as download:` a zip of the session's files from `download.iter_bytes()`,
        made while it is sent (a `manifest.json` last)."""
        return self._stream(calls.export_zip(session_id, prefix=prefix, paths=paths, at=at, redact=redact))
