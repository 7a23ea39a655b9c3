"""`sgw://{session}/{path}`: a gateway's sessions as an fsspec filesystem.

The first segment of a path is a session id, the rest a file path inside it; `sgw://` itself holds the caller's
sessions, as directories. Folders exist only through the files under them, as in S3: `mkdir` does nothing, and a
folder is gone once its last file is. Storage options `url` and `token` say where the gateway is and who calls it;
left out, the environment variables SGW_URL and SGW_TOKEN do (read at each call, so a filesystem fsspec cached
follows them).

Reading fetches ranges of the version that was current when the file was opened, so a file written meanwhile
never mixes two versions; writing spools to memory, then to a temporary file past 8 MiB, and uploads once, on
close: nothing is written when the `with` block raises.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from typing import Any

from fsspec.callbacks import DEFAULT_CALLBACK
from fsspec.spec import AbstractFileSystem
from fsspec.utils import isfilelike, stringify_path

from session_gateway_client import config
from session_gateway_client.errors import NotFound, PreconditionFailed, RangeNotSatisfiable
from session_gateway_client.fs_file import Counted, SessionGatewayFile, content_type_of
from session_gateway_client.models import FileEntry, FileVersion, SessionSummary
from session_gateway_client.sync import Client

PROTOCOL = "sgw"
# The gateway's largest page: listings here read every page anyway.
PAGE = 1000


class SessionGatewayFileSystem(AbstractFileSystem):
    protocol = PROTOCOL
    root_marker = ""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 60.0, **kwargs: Any):
        super().__init__(**kwargs)
        self._url, self._token, self._timeout = url, token, timeout
        self._clients: dict[tuple[str, str | None], Client] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> Client:
        """The client for the configured gateway and token (one per pair: the environment may change)."""
        where = config.resolve(self._url, self._token)
        with self._lock:
            found = self._clients.get(where)
            if found is None:
                found = self._clients[where] = Client(*where, timeout=self._timeout)
            return found

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(item) for item in path]
        text = str(stringify_path(path))
        for marker in (PROTOCOL + "://", PROTOCOL + "::"):
            text = text.removeprefix(marker)
        return text.strip("/")

    def _split(self, path: str) -> tuple[str, str]:
        session_id, _, rest = self._strip_protocol(path).partition("/")
        return session_id, rest

    def _file_parts(self, path: str) -> tuple[str, str]:
        session_id, rest = self._split(path)
        if not session_id:
            raise ValueError(f"{path!r} names no file: sgw://{{session}}/{{path}}")
        if not rest:
            raise IsADirectoryError(path)
        return session_id, rest

    # --- what a path is -----------------------------------------------------------------------------------------

    @staticmethod
    def _file_entry(session_id: str, file: FileEntry | FileVersion) -> dict[str, Any]:
        entry = {
            "name": f"{session_id}/{file.path}",
            "size": file.size,
            "type": "file",
            "etag": file.etag,
            "version_id": file.version_id,
            "last_modified": file.last_modified,
            "tier": file.tier,
            "expires_at": file.expires_at,
            "sha256": file.sha256,
        }
        if isinstance(file, FileVersion):
            entry["content_type"] = file.content_type
        return entry

    @staticmethod
    def _session_entry(session: SessionSummary) -> dict[str, Any]:
        return {
            "name": session.id,
            "size": 0,
            "type": "directory",
            "session_name": session.name,
            "state": session.state,
            "created_at": session.created_at,
            "last_activity_at": session.last_activity_at,
            "file_count": session.file_count,
            "bytes": session.bytes,
            "tags": session.tags,
        }

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        if not path:
            entries = [self._session_entry(session) for session in self.client.list_sessions(limit=PAGE)]
        else:
            session_id, rest = self._split(path)
            entries = self._folder(session_id, rest)
            if not entries and rest:
                # Not a folder: a file lists as itself (or is not found).
                entries = [self._file_entry(session_id, self.client.file_info(session_id, rest))]
        return entries if detail else [entry["name"] for entry in entries]

    def _folder(self, session_id: str, folder: str) -> list[dict[str, Any]]:
        prefix = f"{folder}/" if folder else ""
        entries: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.client.list_files_page(session_id, prefix=prefix, delimiter="/", cursor=cursor, limit=PAGE)
            entries += [self._directory(f"{session_id}/{name.rstrip('/')}") for name in page.prefixes]
            entries += [self._file_entry(session_id, item) for item in page.items]
            if page.next_cursor is None:
                return entries
            cursor = page.next_cursor

    def find(
        self, path: str, maxdepth: int | None = None, withdirs: bool = False, detail: bool = False, **kwargs: Any
    ) -> Any:
        """Everything under a path from one flat listing (a request per 1,000 files), not a walk folder by folder;
        the folders with `withdirs` are those the files' paths pass through."""
        session_id, rest = self._split(path)
        if not session_id or maxdepth is not None:
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail, **kwargs)
        prefix = f"{rest}/" if rest else ""
        found: dict[str, dict[str, Any]] = {}
        try:
            for item in self.client.list_files(session_id, prefix=prefix, limit=PAGE):
                entry = self._file_entry(session_id, item)
                found[entry["name"]] = entry
                if withdirs:
                    folders = item.path[len(prefix) :].split("/")[:-1]
                    for depth in range(1, len(folders) + 1):
                        name = f"{session_id}/{prefix}{'/'.join(folders[:depth])}"
                        found.setdefault(name, self._directory(name))
        except NotFound:
            pass  # no such session: nothing under it, as fsspec's walk says of a missing path
        if rest and not found:
            with contextlib.suppress(FileNotFoundError):
                found[self._strip_protocol(path)] = self.info(path)
        elif withdirs and found:
            base = self._strip_protocol(path)
            found.setdefault(base, self._directory(base))
        names = sorted(found)
        return {name: found[name] for name in names} if detail else names

    @staticmethod
    def _directory(name: str) -> dict[str, Any]:
        return {"name": name, "size": 0, "type": "directory"}

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        session_id, rest = self._split(path)
        if not session_id:
            return self._directory("")
        if not rest:
            return self._session_entry(self.client.get_session(session_id))
        try:
            file = self.client.file_info(session_id, rest, version_id=kwargs.get("version_id"))
            return self._file_entry(session_id, file)
        except NotFound:
            pass
        if self.client.list_files_page(session_id, prefix=rest + "/", limit=1).items:
            return self._directory(path)
        raise FileNotFoundError(errno.ENOENT, "no such file or folder", path)

    def modified(self, path: str) -> Any:
        return self.info(path)["last_modified"]

    def ukey(self, path: str) -> str:
        entry = self.info(path)
        return f"{entry.get('etag')}:{entry.get('version_id')}"

    # --- reading and writing ------------------------------------------------------------------------------------

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> SessionGatewayFile:
        return SessionGatewayFile(self, path, mode, block_size, autocommit, cache_options=cache_options, **kwargs)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        session_id, rest = self._file_parts(path)
        version_id = kwargs.get("version_id")
        if start is None and end is None:
            return self.client.download(session_id, rest, version_id=version_id)
        if start is not None and start < 0 and end is None:
            # The last bytes: one suffix range, whatever the size (a longer suffix is the whole file).
            return self.client.read_range(session_id, rest, start, version_id=version_id)
        if (start is not None and start < 0) or (end is not None and end < 0):
            size = int(self.info(path, version_id=version_id)["size"])
            start = None if start is None else max(size + start, 0) if start < 0 else start
            end = None if end is None else max(size + end, 0) if end < 0 else end
        start = start or 0
        if end is not None and end <= start:
            return b""
        try:
            return self.client.read_range(session_id, rest, start, end, version_id=version_id)
        except RangeNotSatisfiable:
            return b""  # from beyond the end: nothing, as a slice would give

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        session_id, rest = self._file_parts(path)
        try:
            self.client.upload(
                session_id,
                rest,
                value,
                content_type=content_type_of(rest, kwargs.get("content_type")),
                tier=kwargs.get("tier"),
                if_none_match="*" if mode == "create" else None,
            )
        except PreconditionFailed as exc:
            raise FileExistsError(errno.EEXIST, "the file exists", path) from exc

    def put_file(
        self, lpath: str, rpath: str, callback: Any = DEFAULT_CALLBACK, mode: str = "overwrite", **kwargs: Any
    ) -> None:
        if os.path.isdir(lpath):
            return  # folders exist through their files
        session_id, rest = self._file_parts(rpath)
        with open(lpath, "rb") as source:
            callback.set_size(os.fstat(source.fileno()).st_size)
            try:
                self.client.upload(
                    session_id,
                    rest,
                    Counted(source, callback),
                    content_type=content_type_of(rest, kwargs.get("content_type")),
                    tier=kwargs.get("tier"),
                    if_none_match="*" if mode == "create" else None,
                )
            except PreconditionFailed as exc:
                raise FileExistsError(errno.EEXIST, "the file exists", rpath) from exc

    def get_file(
        self, rpath: str, lpath: Any, callback: Any = DEFAULT_CALLBACK, outfile: Any = None, **kwargs: Any
    ) -> None:
        if outfile is None and isfilelike(lpath):
            outfile = lpath
        session_id, rest = self._split(rpath)
        try:
            self._download(session_id, rest, lpath, outfile, callback, kwargs.get("version_id"))
        except (IsADirectoryError, NotFound):
            if not self.isdir(rpath):
                raise
            if outfile is None:
                os.makedirs(lpath, exist_ok=True)

    def _download(
        self, session_id: str, path: str, lpath: Any, outfile: Any, callback: Any, version_id: str | None
    ) -> None:
        if not path:
            raise IsADirectoryError(errno.EISDIR, "a session", session_id)
        with self.client.stream_file(session_id, path, version_id=version_id) as download:
            callback.set_size(download.info.size)
            target = outfile
            if target is None:
                os.makedirs(os.path.dirname(os.path.abspath(lpath)), exist_ok=True)
                target = open(lpath, "wb")  # noqa: SIM115 - closed below, removed when incomplete
            try:
                for chunk in download.iter_bytes():
                    target.write(chunk)
                    callback.relative_update(len(chunk))
            except BaseException:
                if outfile is None:
                    target.close()
                    os.remove(lpath)
                raise
            if outfile is None:
                target.close()

    # --- changing the tree --------------------------------------------------------------------------------------

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Nothing to do: folders exist through their files, and sessions are made by `Client.create_session`."""

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Nothing to do, as for `mkdir`."""

    def rm_file(self, path: str) -> None:
        session_id, rest = self._file_parts(path)
        self.client.delete_file(session_id, rest)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Delete files; with `recursive`, a folder in one request (server-side), or a whole session when the
        path is `sgw://{session}` (recoverably, as the gateway deletes sessions). Lists and globs delete what they
        expand to, file by file."""
        if not isinstance(path, str) or maxdepth is not None or any(char in path for char in "*?["):
            for expanded in reversed(self.expand_path(path, recursive=recursive, maxdepth=maxdepth)):
                if self._split(expanded)[1]:
                    # A folder among the paths is gone with its files.
                    with contextlib.suppress(FileNotFoundError):
                        self.rm_file(expanded)
            return
        session_id, rest = self._split(path)
        if not session_id:
            raise PermissionError(errno.EPERM, "sgw:// holds every session: delete them one by one", path)
        if not rest:
            if not recursive:
                raise IsADirectoryError(errno.EISDIR, "a session: pass recursive=True to delete it", path)
            self.client.delete_session(session_id)
            return
        if not recursive:
            self.rm_file(path)
            return
        found = False
        if self.client.list_files_page(session_id, prefix=rest + "/", limit=1).items:
            self.client.delete_folder(session_id, rest)
            found = True
        try:
            self.client.delete_file(session_id, rest)
        except NotFound:
            if not found:
                raise

    def rmdir(self, path: str) -> None:
        """A session with no files is deleted; folders need nothing (they go with their last file)."""
        session_id, rest = self._split(path)
        if session_id and not rest:
            if self.client.list_files_page(session_id, limit=1).items:
                raise OSError(errno.ENOTEMPTY, "the session has files", path)
            self.client.delete_session(session_id)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """A server-side copy (no bytes pass through here), also into another session of the caller."""
        (source_session, source), (target_session, target) = self._file_parts(path1), self._file_parts(path2)
        to_session = None if target_session == source_session else target_session
        self.client.copy(source_session, source, target, to_session=to_session, overwrite=True)

    def mv(self, path1: Any, path2: Any, recursive: bool = False, maxdepth: int | None = None, **kwargs: Any) -> None:
        """A server-side move of a file or a folder (history stays at the source); lists and globs as fsspec does."""
        if not isinstance(path1, str) or not isinstance(path2, str) or maxdepth is not None or "*" in path1:
            super().mv(path1, path2, recursive=recursive, maxdepth=maxdepth, **kwargs)
            return
        (source_session, source), (target_session, target) = self._file_parts(path1), self._file_parts(path2)
        if self.info(path1)["type"] == "directory":
            source, target = source + "/", target + "/"
        to_session = None if target_session == source_session else target_session
        self.client.move(source_session, source, target, to_session=to_session, overwrite=True)

    def sign(self, path: str, expiration: int = 100, **kwargs: Any) -> str:
        """A presigned download link to the file, valid `expiration` seconds."""
        session_id, rest = self._file_parts(path)
        return self.client.create_link(session_id, rest, expires_in=int(expiration), **kwargs).url
