"""The files of `sgw://`: read as ranges of the version opened, written as one upload when closed."""

from __future__ import annotations

import errno
import mimetypes
import tempfile
from typing import TYPE_CHECKING, Any

from fsspec.spec import AbstractBufferedFile

from session_gateway_client.errors import PreconditionFailed, RangeNotSatisfiable

if TYPE_CHECKING:
    from session_gateway_client.fs import SessionGatewayFileSystem

# Written bytes stay in memory up to this, then go to a temporary file until the upload.
SPOOL_MEMORY_BYTES = 8 << 20


def content_type_of(path: str, given: str | None) -> str | None:
    """The given type, or one guessed from the file's name (None: the gateway's default)."""
    return given or mimetypes.guess_type(path.rsplit("/", 1)[-1])[0]


class Counted:
    """A local file read for an upload, reporting progress to an fsspec callback; seekable, so sent with a
    Content-Length."""

    def __init__(self, source: Any, callback: Any) -> None:
        self._source, self._callback = source, callback

    def read(self, size: int = -1, /) -> bytes:
        data: bytes = self._source.read(size)
        self._callback.relative_update(len(data))
        return data

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return int(self._source.tell())

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._source.seek(offset, whence))


class SessionGatewayFile(AbstractBufferedFile):
    """A file of a session, opened for reading (ranges of one version) or writing (one upload on close).

    Options of `fs.open`: `content_type` and `tier` for writing (the type is otherwise guessed from the name),
    `version_id` for reading an older version. Mode `xb` writes only if no file exists (FileExistsError).
    """

    def __init__(
        self,
        fs: SessionGatewayFileSystem,
        path: str,
        mode: str = "rb",
        block_size: Any = "default",
        autocommit: bool = True,
        cache_type: str = "readahead",
        cache_options: dict[str, Any] | None = None,
        *,
        content_type: str | None = None,
        tier: str | None = None,
        version_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        if mode == "ab":
            raise NotImplementedError("files are replaced whole: open them with 'wb'")
        self._filesystem = fs  # typed, unlike the base class's `fs`
        self.session_id, self.file_path = fs._file_parts(path)
        self.content_type = content_type_of(self.file_path, content_type)
        self.tier = tier
        self._spool: Any = None
        details = None
        if mode == "rb":
            details = fs._file_entry(
                self.session_id, fs.client.file_info(self.session_id, self.file_path, version_id=version_id)
            )
        # Every range read names the version opened.
        self.version_id = details["version_id"] if details else version_id
        super().__init__(
            fs,
            path,
            mode,
            block_size,
            autocommit,
            cache_type=cache_type,
            cache_options=cache_options,
            size=details["size"] if details else None,
            **kwargs,
        )
        if details is not None:
            self.details = details

    def _fetch_range(self, start: int, end: int) -> bytes:
        end = min(end, self.size)
        if start >= end:
            return b""
        try:
            return self._filesystem.client.read_range(
                self.session_id, self.file_path, start, end, version_id=self.version_id
            )
        except RangeNotSatisfiable:
            return b""

    def _initiate_upload(self) -> None:
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115 - closed on upload

    def _upload_chunk(self, final: bool = False) -> bool:
        self._spool.write(self.buffer.getbuffer())
        if final and self.autocommit:
            self.commit()
        return True

    def commit(self) -> None:
        spool, self._spool = self._spool, None
        if spool is None:
            return
        try:
            spool.seek(0)
            self._filesystem.client.upload(
                self.session_id,
                self.file_path,
                spool,
                content_type=self.content_type,
                tier=self.tier,
                if_none_match="*" if self.mode == "xb" else None,
            )
        except PreconditionFailed as exc:
            raise FileExistsError(errno.EEXIST, "the file exists", self.path) from exc
        finally:
            spool.close()

    def discard(self) -> None:
        spool, self._spool = self._spool, None
        if spool is not None:
            spool.close()

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None and self.writable():
            # Nothing half-written becomes a version of the file.
            self.discard()
            self.closed = True
            return
        self.close()
