"""An on-disk session store as `import-tree` reads it: which directories are sessions, and the files in each.

A layout such as `{user}/{session}/` says where sessions lie under the directory given: one path segment per
level, `{user}` and `{session}` once each, other segments literal (`{user}/sessions/{session}`). Nothing is
followed through a symbolic link: links are reported and left alone, at every level, and files are opened with
`O_NOFOLLOW`, so a link swapped in after the walk cannot lead the import elsewhere. Entries are visited in name
order, so reports of two runs line up.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import BinaryIO

USER, SESSION = "{user}", "{session}"
READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Layout:
    segments: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Layout:
        """A layout from its text; a ValueError says what is wrong with it."""
        segments = tuple(text.strip("/").split("/"))
        for segment in segments:
            if segment in ("", ".", ".."):
                raise ValueError(f"the layout {text!r} has an empty, '.' or '..' segment")
            if ("{" in segment or "}" in segment) and segment not in (USER, SESSION):
                raise ValueError(f"the layout segment {segment!r} is neither literal nor {USER} or {SESSION}")
        if segments.count(USER) != 1 or segments.count(SESSION) != 1:
            raise ValueError(f"the layout {text!r} must hold {USER} and {SESSION} once each")
        return cls(segments)


@dataclass(frozen=True)
class SessionDir:
    user: str
    name: str  # the {session} segment: the imported session's name
    origin: str  # where it lies under the directory given, '/'-separated: recorded in the session's metadata
    path: str


@dataclass(frozen=True)
class DiskFile:
    relative: str  # under its session directory, '/'-separated
    path: str
    size: int


@dataclass(frozen=True)
class Passed:
    """Something under the directory that is not imported, and why (`rule` as in the zip import's report)."""

    where: str
    rule: str
    detail: str


def shown(text: str) -> str:
    """A name as it can be printed on one line: undecodable bytes and control characters escaped."""
    decoded = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(char if char.isprintable() or char == " " else ascii(char)[1:-1] for char in decoded)


def _children(path: str, where: str) -> list[os.DirEntry[str]] | Passed:
    try:
        with os.scandir(path) as found:
            return sorted(found, key=lambda entry: entry.name)
    except OSError as exc:
        return Passed(where, "unreadable", f"the folder cannot be listed ({exc.strerror or exc})")


def _joined(where: str, name: str) -> str:
    return f"{where}/{name}" if where else name


def session_dirs(root: str, layout: Layout) -> Iterator[SessionDir | Passed]:
    """The session directories the layout finds under `root`, and what it passes over on the way."""
    yield from _level(root, "", layout.segments, {})


def _level(path: str, where: str, rest: tuple[str, ...], bound: dict[str, str]) -> Iterator[SessionDir | Passed]:
    if not rest:
        yield SessionDir(bound[USER], bound[SESSION], where, path)
        return
    segment, below = rest[0], rest[1:]
    children = _children(path, where or ".")
    if isinstance(children, Passed):
        yield children
        return
    for entry in children:
        here = _joined(where, entry.name)
        if segment not in (USER, SESSION) and entry.name != segment:
            continue
        if entry.is_symlink():
            yield Passed(here, "symlink", "a symbolic link; links are not followed")
        elif not entry.is_dir(follow_symlinks=False):
            yield Passed(here, "not-a-directory", f"the layout expects a folder here ({'/'.join(rest)})")
        elif segment in (USER, SESSION) and (refused := _unusable_name(here, entry.name)) is not None:
            yield refused
        else:
            yield from _level(entry.path, here, below, {**bound, segment: entry.name})


def _unusable_name(where: str, name: str) -> Passed | None:
    """A user or session folder whose name cannot be a user id or a session name."""
    if any(0xD800 <= ord(char) <= 0xDFFF for char in name):
        return Passed(where, "utf-8", "the name is not valid UTF-8")
    if shown(name) != name:
        return Passed(where, "control-character", "the name holds control or invisible characters")
    return None


def session_files(session: SessionDir) -> Iterator[DiskFile | Passed]:
    """Every regular file under a session directory, at any depth; links and other kinds are passed over."""
    yield from _files(session.path, session.origin, "")


def _files(path: str, origin: str, relative: str) -> Iterator[DiskFile | Passed]:
    children = _children(path, _joined(origin, relative))
    if isinstance(children, Passed):
        yield children
        return
    for entry in children:
        inner = _joined(relative, entry.name)
        where = _joined(origin, inner)
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError as exc:
            yield Passed(where, "unreadable", f"cannot be examined ({exc.strerror or exc})")
            continue
        if stat.S_ISLNK(info.st_mode):
            yield Passed(where, "symlink", "a symbolic link; links are not imported")
        elif stat.S_ISDIR(info.st_mode):
            yield from _files(entry.path, origin, inner)
        elif not stat.S_ISREG(info.st_mode):
            yield Passed(where, "not-a-file", "a device, pipe or socket, not a file")
        else:
            yield DiskFile(inner, entry.path, info.st_size)


def _open(path: str) -> BinaryIO:
    # O_NOFOLLOW: a file replaced by a link since the walk is refused (ELOOP), not followed.
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")


async def file_chunks(path: str) -> AsyncIterator[bytes]:
    """A file's bytes, read a chunk at a time off the event loop."""
    handle = await asyncio.to_thread(_open, path)
    try:
        while chunk := await asyncio.to_thread(handle.read, READ_CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


async def check_readable(path: str) -> None:
    """Raise the OSError a run would meet opening the file (dry runs)."""
    handle = await asyncio.to_thread(_open, path)
    await asyncio.to_thread(handle.close)


def _sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with _open(path) as handle:
        while chunk := handle.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


async def sha256_of(path: str) -> str:
    return await asyncio.to_thread(_sha256_of, path)
