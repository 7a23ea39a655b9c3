"""Names of imported files: which become paths, and why the others are refused.

Archive entries and files on disk are named by whoever made them. Before a name reaches the path rules of
`gateway.keys` (which every path passes, through `SessionKeys.file`), the forms that mean "somewhere else" on some
system are refused with rules of their own, so the report says what was wrong: an absolute path, a drive letter,
a backslash (a folder separator on Windows), and bytes that are not UTF-8. A name refused here is never written.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from gateway.errors import InvalidPath
from gateway.keys import SessionKeys

_DRIVE = re.compile(r"[A-Za-z]:")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Refusal:
    """Why one entry or file was not imported: `rule` is stable, `detail` is for people."""

    rule: str
    detail: str


def refusal_of(name: str) -> Refusal | None:
    """The rule of imported names that `name` breaks, if any (the path rules are checked by `place`)."""
    if _SURROGATE.search(name):
        return Refusal("utf-8", "the name is not valid UTF-8")
    if name.startswith("/"):
        return Refusal("absolute-path", "the name is an absolute path; names must be relative")
    if _DRIVE.match(name):
        return Refusal("drive-letter", "the name starts with a drive letter; names must be relative")
    if "\\" in name:
        return Refusal("backslash", "the name contains a backslash; folders are separated by '/'")
    return None


def folder_of(keys: SessionKeys, folder: str) -> str:
    """The folder imported files are placed under: '' (the session's top) or a valid folder path ending in '/'.
    An invalid folder is a 400 `invalid-path`, before anything is read."""
    if folder in ("", "/"):
        return ""
    return keys.path_of(keys.folder(folder))


def place(keys: SessionKeys, folder: str, name: str) -> str | Refusal:
    """The path of an imported file, NFC-normalised and valid, or why there is none."""
    refused = refusal_of(name)
    if refused is not None:
        return refused
    try:
        return keys.path_of(keys.file(folder + name))
    except InvalidPath as exc:
        return Refusal(exc.rule, exc.detail)


def same_name_key(path: str) -> str:
    """What two names must differ in to be two files: their NFC forms (`place` already returns NFC)."""
    return unicodedata.normalize("NFC", path)
