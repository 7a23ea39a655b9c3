"""The backup bucket's key layout (pure: no I/O, no clock)::

    {root}/owner-keys/{fingerprint}                       a copy of the deployment's owner key
    {root}/blobs/{sha256}                                  the bytes of file versions, one object per content
    {root}/blobs/unhashed/{name}/{version}                 the bytes of a version that carried no SHA-256
    {root}/entries/o/{tenant}/{user}/s/{session}/{name}/{stamp}_{version}.{kind}.json
                                                           one record per entry of a session's history

The entries of a session lie under its source prefix (built by `gateway.keys`, the owner segments as opaque as
there) moved from `{root}/` to `{root}/entries/`, so the backup of a session is one listing and sessions list in
the same order in both buckets. `{name}` is a digest of the key inside the session (`f/{path}` or
`session.json`): paths may be as long as a key may be, and a record's key must still fit. Everything a record key
says (the entry's time, version, kind) is also in the record; the key says it so that a listing alone tells what
is backed up and when each entry was made, and a restore reads only the records it restores.

Bytes are stored by content: a file forked, copied or rolled back is kept once, and two runs that copy the same
version at once write the same object with the same bytes. Every key is a function of what it describes, so every
write is repeatable.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway import keys

OWNER_KEYS_DIR = "owner-keys/"
BLOBS_DIR = "blobs/"
UNHASHED_DIR = "blobs/unhashed/"
ENTRIES_DIR = "entries/"
RECORD_SUFFIX = ".json"

# What a record stands for: a version whose bytes are kept, a delete marker, or a version of a tier that is not
# backed up (its bytes are not kept, but while it was current the file was not what the backup holds).
VERSION = "version"
DELETED = "deleted"
SKIPPED = "skipped"
KINDS = (VERSION, DELETED, SKIPPED)

_STAMP_FORMAT = "%Y%m%dT%H%M%S.%fZ"
STAMP_CHARS = 23
# Version ids as S3 implementations make them (AWS, Ceph RGW, moto); anything else is named by a digest.
_PLAIN_VERSION = re.compile(r"[A-Za-z0-9._-]{1,96}")
_DIGEST_CHARS = 32


def _rooted(root: str, rest: str) -> str:
    return f"{root}/{rest}" if root else rest


def _digest(text: str | bytes) -> str:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return base64.b32encode(hashlib.sha256(raw).digest()).decode("ascii")[:_DIGEST_CHARS].lower()


def stamp(moment: datetime) -> str:
    """A moment as a fixed-width UTC text that sorts as the moments do (microseconds kept)."""
    return moment.astimezone(UTC).strftime(_STAMP_FORMAT)


def stamp_moment(text: str) -> datetime:
    return datetime.strptime(text, _STAMP_FORMAT).replace(tzinfo=UTC)


def name_of(name: str) -> str:
    """The digest that stands for a key inside a session (`f/{path}`, `session.json`)."""
    return _digest(name)


def version_token(version_id: str) -> str:
    """A version id as a key segment: as it is when it is plain, else '~' and a digest (no id holds '~')."""
    return version_id if _PLAIN_VERSION.fullmatch(version_id) else "~" + _digest(version_id)


def owner_key_copy(root: str, owner_key: bytes) -> str:
    """Where a copy of an owner key is kept: named by its fingerprint, so a deployment whose key was ever replaced
    keeps every key its backed-up sessions need."""
    return _rooted(root, OWNER_KEYS_DIR + _digest(owner_key))


def owner_keys_prefix(root: str) -> str:
    return _rooted(root, OWNER_KEYS_DIR)


def blob(root: str, sha256: str) -> str:
    return _rooted(root, BLOBS_DIR + sha256)


def unhashed_blob(root: str, source_key: str, version_id: str) -> str:
    return _rooted(root, UNHASHED_DIR + f"{_digest(source_key)}/{version_token(version_id)}")


def entries_prefix(root: str) -> str:
    """Where every session's records lie: under it, the sessions in the order of their source prefixes."""
    return _rooted(root, ENTRIES_DIR)


def session_entries(root: str, session_prefix: str) -> str:
    """The records prefix of the session whose source prefix (from `gateway.keys`) is `session_prefix`."""
    base = _rooted(root, "")
    if not session_prefix.startswith(base):
        raise ValueError(f"{session_prefix!r} is not under the key root")
    return entries_prefix(root) + session_prefix[len(base) :]


def entry_key(root: str, session_prefix: str, name: str, moment: datetime, version_id: str, kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r}")
    file = f"{stamp(moment)}_{version_token(version_id)}.{kind}{RECORD_SUFFIX}"
    return session_entries(root, session_prefix) + f"{name_of(name)}/{file}"


@dataclass(frozen=True)
class Listed:
    """A record as its key names it."""

    key: str
    session_prefix: str  # the session's prefix in the source bucket
    name: str  # the digest of the key inside the session
    stamp: str
    token: str
    kind: str


def parse_entry(root: str, key: str) -> Listed | None:
    """What a record key names; None for keys that are not records of this layout (left alone)."""
    base = entries_prefix(root)
    if not key.startswith(base):
        return None
    found = keys.split_session_key(root, _rooted(root, key[len(base) :]))
    if found is None:
        return None
    session_prefix, rest = found
    name, slash, file = rest.partition("/")
    if not slash or len(name) != _DIGEST_CHARS or not file.endswith(RECORD_SUFFIX):
        return None
    body, dot, kind = file[: -len(RECORD_SUFFIX)].rpartition(".")
    if not dot or kind not in KINDS or len(body) <= STAMP_CHARS + 1 or body[STAMP_CHARS] != "_":
        return None
    moment = body[:STAMP_CHARS]
    try:
        stamp_moment(moment)
    except ValueError:
        return None
    return Listed(key, session_prefix, name, moment, body[STAMP_CHARS + 1 :], kind)
