"""The one place that turns (tenant, user, session, path) into S3 keys.

Layout::

    {root}/o/{tenant}/{user}/s/{session}/session.json   the session record
    {root}/o/{tenant}/{user}/s/{session}/f/{path}        the session's files
    {root}/o/{tenant}/{user}/s/{session}/exports/{id}.json   an export's status record
    {root}/o/{tenant}/{user}/s/{session}/exports/{id}.zip    an export's zip, once built
    {root}/o/{tenant}/{user}/s/{session}/activity.json   when the session's files last changed, how many, how big
    {root}/o/{tenant}/{user}/s/{session}/uploads/{id}/state.json   a resumable upload's state
    {root}/o/{tenant}/{user}/s/{session}/uploads/{id}/tail/{name}  bytes of it kept between two requests
    {root}/o/{tenant}/{user}/i/sessions.json             the owner's session index: every session's summary
    {root}/o/{tenant}/{user}/i/d/{session}               a note that the session changed since that summary
    {root}/o/{tenant}/_usage/                            the tenant's usage ledger (quotas)
    {root}/o/{tenant}/{user}/_usage/                     the user's usage ledger
    {root}/o/{tenant}/{user}/_usage/s/{session}/         a session's usage ledger
    {root}/o/{tenant}/{user}/p/{project}.json            a project's record (its sessions name it in theirs)
    {root}/_gateway/owner-key                           the key that makes owner segments opaque
    {root}/_gateway/probe/{token}                        short-lived objects the gateway writes to learn the backend

Tenant and user come from token claims, which the gateway does not control. Each is first encoded injectively
into one safe segment (`encode_identity`), then made opaque: the owner segments are a keyed hash (HMAC-SHA-256
under the deployment's owner key) of those encodings. Presigned links carry the key, and a link must not tell
whoever holds it whose file it is; a plain hash would let them confirm a guess (`alice@example.com`?), a keyed one
does not. Two owners never share a prefix (130 bits of the hash are kept) and no segment can be `/`, `.` or `..`.

Earlier versions kept the readable encodings themselves, `{root}/t/{tenant}/u/{user}/s/...`; the hash input is
exactly those segments, so `legacy_owner_prefix` maps old keys to new ones without knowing the original claims
(`gateway/policy/migration.py` moves them).

File paths are validated (not encoded) so keys stay readable in the bucket; which code points they may hold is
`gateway.codepoints`.

Everything here is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import string
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote_to_bytes

from gateway import codepoints
from gateway.errors import InvalidPath, NotFound

MAX_KEY_BYTES = 1024
# Encoded identity segments longer than this are replaced by a digest so a pathological `sub` cannot eat the key
# budget that belongs to file paths.
MAX_IDENTITY_SEGMENT = 96
_IDENTITY_SAFE = frozenset(string.ascii_letters + string.digits + "-_")
# Only encoded identities can contain '%', and only digests start with '~': the two forms never collide.
_DIGEST_MARK = "~"
SESSION_RECORD_NAME = "session.json"
FILES_DIR = "f/"
# Beside `f/`, so no file path can name an export, and nothing that lists or judges files ever sees one.
EXPORTS_DIR = "exports/"
EXPORT_RECORD_SUFFIX = ".json"
EXPORT_ARCHIVE_SUFFIX = ".zip"
SERVER_KEY_NAME = "_gateway/server-key"
ACTIVITY_NAME = "activity.json"
# Beside `s/` under an owner: the index of their sessions (a cache of the records, which are the truth).
INDEX_DIR = "i/"
INDEX_BASE_NAME = "sessions.json"
INDEX_NOTES_DIR = "d/"
# Beside `s/` under an owner: their projects' records. A project id is `{prefix}-{8 hex}`; the prefix is the
# caller's (lower-case, starting with a letter, then letters, digits and '-', at most 32 characters).
PROJECTS_DIR = "p/"
PROJECT_RECORD_SUFFIX = ".json"
_PROJECT_PREFIX = re.compile(r"[a-z][a-z0-9-]{0,31}")
_PROJECT_ID = re.compile(rf"{_PROJECT_PREFIX.pattern}-[0-9a-f]{{8}}")
# Beside `f/` in a session: the grants its owner gave (the truth about each grant).
GRANTS_DIR = "grants/"
# Beside `s/` under an owner: which sessions others granted them, one entry per session (an index, not the truth).
GRANTED_DIR = "g/"
_GRANT_ID = re.compile(r"[a-z2-7]{26}")
# Beside `grants/` in a session: its share links (the truth about each), and, under the gateway's own objects, an
# index from a link's id to the session it belongs to (owner segments are opaque, so the id alone finds nothing).
SHARES_DIR = "shares/"
SNAPSHOTS_DIR = "snapshots/"
SNAPSHOT_RECORD_SUFFIX = ".json"
# A snapshot's name: ASCII letters, digits, '.', '_' and '-', starting with a letter or digit; it is part of keys.
_SNAPSHOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# A noncharacter, so no path holds it, and no code point sorts after it: a folder's key followed by it sorts after
# every key under the folder and before every key beyond it (in code point order, which is S3's UTF-8 byte order).
PAST_FOLDER = "\U0010ffff"
SHARE_INDEX_DIR = "_gateway/shares/"
# Beside `f/` in a session: resumable uploads, each under a prefix of its own holding its state record and the short
# tails of its bytes kept between two requests. No file path can name them; the bytes themselves go to a multipart
# upload of the file's own key, which no listing shows until it is complete.
UPLOADS_DIR = "uploads/"
UPLOAD_STATE_NAME = "state.json"
UPLOAD_TAILS_DIR = "tail/"
_UPLOAD_ID = re.compile(r"[a-z2-7]{26}")
_TAIL_NAME = re.compile(r"[a-z2-7]{16}")
_SHARE_ID = re.compile(r"[a-z2-7]{32}")

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_SESSION_ID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
_ROOT_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
# The tenant encoding of tokens without a tenant claim. No claim value can produce it: encoded values hold only
# letters, digits, '-', '_' and '%XX', and digests are '~' and 52 base32 letters. A tenant literally named "default"
# (or anything else) therefore never shares a prefix with tenant-less tokens.
NO_TENANT_SEGMENT = "~none"
OWNERS_DIR = "o/"
LEGACY_OWNERS_DIR = "t/"
OWNER_KEY_NAME = "_gateway/owner-key"
# Base32 characters of the keyed hash kept per owner segment: 130 bits, so no two owners ever share one.
OWNER_SEGMENT_CHARS = 26
_OWNER_SEGMENT = rf"[a-z2-7]{{{OWNER_SEGMENT_CHARS}}}"
_LEGACY_SEGMENT = r"(?:[A-Za-z0-9_%-]+|~[a-z2-7]+|~none)"
# The usage ledgers of quotas (`gateway.quotas`): a tenant's beside its user segments, a user's beside `s/` and `g/`,
# and a session's under its user's (outside the session's prefix, so a purge of the session leaves the figures the
# gateway needs to give its room back). `_` is no base32 character, so no owner segment is ever `_usage`; nothing
# under `f/` can name a ledger, and no walk of sessions (`split_session_key`) ever meets one.
USAGE_DIR = "_usage/"
USAGE_BASE = "base.json"
USAGE_ENTRIES = "e/"
USAGE_SESSIONS = "s/"
# A ledger entry's name says everything: when (ms), whose (a random nonce shared by an operation's entries), what
# kind (r: reserved, c: committed), and the figures (bytes, files; signed decimal).
_USAGE_NONCE = re.compile(r"[a-z2-7]{16}")
_USAGE_ENTRY = re.compile(r"(\d{13})\.([a-z2-7]{16})\.([rc])\.(-?\d{1,19})\.(-?\d{1,19})")
USAGE_SCOPES = ("tenant", "user", "session")
# The gateway's own objects live beside `t/`, so no tenant, user or path can ever name them.
PROBE_DIR = "_gateway/probe/"
_PROBE_TOKEN = re.compile(r"[A-Za-z0-9_-]*")


def encode_identity(value: str) -> str:
    """Encode a tenant or user claim as one key segment, injectively."""
    if not value:
        raise ValueError("identity values must not be empty")
    # surrogatepass keeps lone surrogates (legal in JSON strings) distinct instead of failing or merging them.
    raw = value.encode("utf-8", "surrogatepass")
    encoded = "".join(chr(b) if chr(b) in _IDENTITY_SAFE else f"%{b:02X}" for b in raw)
    if len(encoded) <= MAX_IDENTITY_SEGMENT:
        return encoded
    digest = base64.b32encode(hashlib.sha256(raw).digest()).decode("ascii").rstrip("=").lower()
    return _DIGEST_MARK + digest


def decode_identity(segment: str) -> str | None:
    """Inverse of `encode_identity` for the readable form; None for digests, which cannot be reversed."""
    if segment.startswith(_DIGEST_MARK):
        return None
    return unquote_to_bytes(segment).decode("utf-8", "surrogatepass")


def validate_root(root: str) -> str:
    """Normalise the configured key root: '' or slash-separated safe segments, without surrounding slashes."""
    stripped = root.strip("/")
    if not stripped:
        return ""
    for segment in stripped.split("/"):
        if not _ROOT_SEGMENT.fullmatch(segment) or segment in {".", ".."}:
            raise ValueError(f"invalid key root segment {segment!r}: use letters, digits, '.', '_' or '-'")
    return stripped


def encode_session_id(timestamp_ms: int, randomness: bytes) -> str:
    """A 26-character ULID: Crockford base32 of a 48-bit millisecond time and 80 random bits.

    Fixed width and a time prefix make ids sort by creation time, so S3's lexicographic listing is chronological.
    """
    if not 0 <= timestamp_ms < 2**48 or len(randomness) != 10:
        raise ValueError("a session id needs a 48-bit timestamp and 10 random bytes")
    number = (timestamp_ms << 80) | int.from_bytes(randomness, "big")
    chars = []
    for _ in range(26):
        number, digit = divmod(number, 32)
        chars.append(_CROCKFORD[digit])
    return "".join(reversed(chars))


def is_session_id(value: str) -> bool:
    return _SESSION_ID.fullmatch(value) is not None


def session_id_ms(session_id: str) -> int:
    """The millisecond time a session id (a ULID) was made at: its first 10 characters."""
    if not is_session_id(session_id):
        raise ValueError(f"{session_id!r} is not a session id")
    number = 0
    for char in session_id[:10]:
        number = number * 32 + _CROCKFORD.index(char)
    return number


def new_grant_id(randomness: bytes) -> str:
    """An unguessable grant id: 26 base32 characters of 16 random bytes."""
    if len(randomness) != 16:
        raise ValueError("a grant id needs 16 random bytes")
    return base64.b32encode(randomness).decode("ascii").rstrip("=").lower()[:26]


def is_grant_id(value: str) -> bool:
    return _GRANT_ID.fullmatch(value) is not None


def new_upload_id(randomness: bytes) -> str:
    """An unguessable upload id: 26 base32 characters of 16 random bytes."""
    if len(randomness) != 16:
        raise ValueError("an upload id needs 16 random bytes")
    return base64.b32encode(randomness).decode("ascii").rstrip("=").lower()[:26]


def is_upload_id(value: str) -> bool:
    return _UPLOAD_ID.fullmatch(value) is not None


def new_tail_name(randomness: bytes) -> str:
    """The name of one tail of an upload's bytes: 16 base32 characters of 10 random bytes."""
    if len(randomness) != 10:
        raise ValueError("a tail name needs 10 random bytes")
    return base64.b32encode(randomness).decode("ascii").lower()


def upload_of(root: str, key: str) -> tuple[SessionKeys, UploadKeys] | None:
    """For any key under a resumable upload's prefix, anywhere in the bucket: its session and the upload."""
    pattern = f"({_sessions_layout(root)}){re.escape(UPLOADS_DIR)}({_UPLOAD_ID.pattern})/"
    match = re.match(pattern, key)
    if match is None:
        return None
    return SessionKeys(match.group(1)), UploadKeys(match.group(0))


def new_share_id(randomness: bytes) -> str:
    """A share link's id, which is also its secret: 160 random bits as 32 base32 characters."""
    if len(randomness) != 20:
        raise ValueError("a share id needs 20 random bytes")
    return base64.b32encode(randomness).decode("ascii").lower()


def is_share_id(value: str) -> bool:
    return _SHARE_ID.fullmatch(value) is not None


def is_project_prefix(value: str) -> bool:
    return _PROJECT_PREFIX.fullmatch(value) is not None


def is_project_id(value: str) -> bool:
    return _PROJECT_ID.fullmatch(value) is not None


def new_project_id(prefix: str, randomness: bytes) -> str:
    """`{prefix}-{8 hex}`: the caller's prefix (already checked) and 4 random bytes."""
    if not is_project_prefix(prefix) or len(randomness) != 4:
        raise ValueError("a project id needs a valid prefix and 4 random bytes")
    return f"{prefix}-{randomness.hex()}"


def project_record_of(root: str, key: str) -> tuple[OwnerSpace, str] | None:
    """For the key of a project's record anywhere in the bucket: its owner and the project's id."""
    owners = re.escape(_rooted(root, OWNERS_DIR)) + rf"{_OWNER_SEGMENT}/{_OWNER_SEGMENT}/"
    pattern = f"({owners}){re.escape(PROJECTS_DIR)}({_PROJECT_ID.pattern}){re.escape(PROJECT_RECORD_SUFFIX)}"
    match = re.fullmatch(pattern, key)
    return (OwnerSpace(match.group(1)), match.group(2)) if match else None


def is_snapshot_name(value: str) -> bool:
    return _SNAPSHOT_NAME.fullmatch(value) is not None


def snapshot_record_of(root: str, key: str) -> tuple[str, str] | None:
    """For the key of a snapshot's record anywhere in the bucket: its session prefix and the snapshot's name."""
    layout = re.escape(_rooted(root, OWNERS_DIR)) + rf"{_OWNER_SEGMENT}/{_OWNER_SEGMENT}/s/{_SESSION_ID.pattern}/"
    match = re.fullmatch(
        f"({layout}){re.escape(SNAPSHOTS_DIR)}({_SNAPSHOT_NAME.pattern}){re.escape(SNAPSHOT_RECORD_SUFFIX)}", key
    )
    return (match.group(1), match.group(2)) if match else None


def share_index_key(root: str, share_id: str) -> str:
    """Where a share link's id leads to its session: under `_gateway/`, beside `o/`, never a session's key."""
    if not is_share_id(share_id):
        raise NotFound("no such link")
    return _rooted(root, SHARE_INDEX_DIR + share_id + ".json")


def _check_text(value: str, what: str) -> str:
    """NFC-normalise a client path and refuse code points that would not display honestly (`gateway.codepoints`)."""
    normalised = unicodedata.normalize("NFC", value)
    refused = codepoints.refusal(normalised)
    if refused is not None:
        raise InvalidPath(refused.rule, f"{what} {refused.detail}")
    return normalised


def _check_segments(segments: list[str], what: str) -> None:
    for segment in segments:
        if segment == "":
            raise InvalidPath("empty-segment", f"{what} has an empty segment (a leading, trailing or doubled '/')")
        if segment in {".", ".."}:
            raise InvalidPath("dot-segment", f"{what} has a '{segment}' segment; paths cannot be relative")


def decode_path_bytes(raw: bytes) -> str:
    """Percent-decode a raw URL path fragment and require valid UTF-8."""
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidPath("utf-8", "the path is not valid UTF-8") from exc


def _rooted(root: str, rest: str) -> str:
    return f"{root}/{rest}" if root else rest


def _sessions_layout(root: str) -> str:
    """A pattern of any session's prefix under `root`."""
    return re.escape(_rooted(root, OWNERS_DIR)) + rf"{_OWNER_SEGMENT}/{_OWNER_SEGMENT}/s/{_SESSION_ID.pattern}/"


def session_prefix_of(root: str, key: str) -> str | None:
    """The session prefix of a file key anywhere in the bucket, or None when `key` is not a session file."""
    match = re.match(_sessions_layout(root) + re.escape(FILES_DIR), key)
    return match.group(0)[: -len(FILES_DIR)] if match else None


def split_session_key(root: str, key: str) -> tuple[str, str] | None:
    """A key inside any session of the bucket as (the session's prefix, the rest: `session.json`, `f/{path}`, ...);
    None for keys outside every session (the gateway's own objects, grant indexes, the old layout)."""
    match = re.match(_sessions_layout(root), key)
    return (match.group(0), key[match.end() :]) if match else None


def is_export_key(root: str, key: str) -> bool:
    """Whether `key` is an export's status record or zip, in any session of the bucket."""
    suffixes = f"(?:{re.escape(EXPORT_RECORD_SUFFIX)}|{re.escape(EXPORT_ARCHIVE_SUFFIX)})"
    pattern = _sessions_layout(root) + re.escape(EXPORTS_DIR) + _SESSION_ID.pattern + suffixes
    return re.fullmatch(pattern, key) is not None


def server_key_name(root: str) -> str:
    """Where the gateway keeps its random server key: under the root, beside `o/`, so never a session's key."""
    return _rooted(root, SERVER_KEY_NAME)


def owner_key_name(root: str) -> str:
    """Where the deployment's owner key lives: beside `o/`, never a session's key."""
    return _rooted(root, OWNER_KEY_NAME)


def _opaque(owner_key: bytes, label: bytes) -> str:
    digest = hmac.new(owner_key, label, hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[:OWNER_SEGMENT_CHARS].lower()


def owner_segments(owner_key: bytes, tenant_segment: str, user_segment: str) -> tuple[str, str]:
    """The opaque tenant and user segments for the readable (legacy) ones.

    The user's hash covers the tenant too, so one user in two tenants cannot be linked by their segments. Readable
    segments never hold '/', so the labels are unambiguous.
    """
    tenant = _opaque(owner_key, b"tenant/" + tenant_segment.encode("ascii"))
    user = _opaque(owner_key, b"user/" + f"{tenant_segment}/{user_segment}".encode("ascii"))
    return tenant, user


def legacy_owner_prefix(root: str, key: str) -> tuple[str, str, str] | None:
    """For a key of the earlier readable layout: its owner prefix and readable tenant and user segments."""
    pattern = re.escape(_rooted(root, LEGACY_OWNERS_DIR)) + rf"({_LEGACY_SEGMENT})/u/({_LEGACY_SEGMENT})/s/"
    match = re.match(pattern, key)
    return (match.group(0), match.group(1), match.group(2)) if match else None


def _export_id(value: str) -> str:
    # Export ids are ULIDs like session ids; anything else cannot name an export, and must not hint at why.
    if not is_session_id(value):
        raise NotFound("no such export")
    return value


def _snapshot_name(value: str) -> str:
    if not is_snapshot_name(value):
        raise NotFound("no such snapshot")
    return value


@dataclass(frozen=True)
class Owner:
    """Whose files these are: the validated identity every key is built from."""

    root: str
    tenant: str | None  # None: the token named no tenant
    user: str
    # The deployment's owner key (`owner_key_name`); it makes the owner segments opaque.
    owner_key: bytes = field(repr=False)

    @property
    def sessions_prefix(self) -> str:
        tenant, user = owner_segments(self.owner_key, self.legacy_tenant_segment, encode_identity(self.user))
        return _rooted(self.root, f"{OWNERS_DIR}{tenant}/{user}/s/")

    @property
    def prefix(self) -> str:
        """Everything of this owner's: their sessions (`s/`) and the index of what others granted them (`g/`)."""
        return self.sessions_prefix[: -len("s/")]

    @property
    def granted_prefix(self) -> str:
        """Where the index of sessions others granted this owner lives: beside `s/`, never a session's key."""
        return self.prefix + GRANTED_DIR

    def granted(self, session_id: str) -> str:
        """The index entry for another owner's session `session_id` granted to this owner."""
        if not is_session_id(session_id):
            raise NotFound("no such session")
        return self.granted_prefix + session_id + ".json"

    def granted_session_id(self, key: str) -> str | None:
        if not key.startswith(self.granted_prefix) or not key.endswith(".json"):
            return None
        candidate = key[len(self.granted_prefix) : -len(".json")]
        return candidate if is_session_id(candidate) else None

    @property
    def legacy_tenant_segment(self) -> str:
        return NO_TENANT_SEGMENT if self.tenant is None else encode_identity(self.tenant)

    @property
    def space(self) -> OwnerSpace:
        return OwnerSpace(self.prefix)

    def session(self, session_id: str) -> SessionKeys:
        return self.space.session(session_id)

    def session_id_from_prefix(self, prefix: str) -> str | None:
        """The session id in a listing's common prefix, or None when it is not one of this owner's sessions."""
        return self.space.session_id_from_prefix(prefix)


@dataclass(frozen=True)
class OwnerSpace:
    """An owner's keys known by their prefix alone (`{root}/o/{tenant}/{user}/`): what the index needs, and what a
    walk over every owner of the bucket can name without knowing their claims."""

    prefix: str

    @property
    def sessions_prefix(self) -> str:
        return self.prefix + "s/"

    @property
    def index_prefix(self) -> str:
        return self.prefix + INDEX_DIR

    @property
    def index_base(self) -> str:
        return self.index_prefix + INDEX_BASE_NAME

    @property
    def index_notes_prefix(self) -> str:
        return self.index_prefix + INDEX_NOTES_DIR

    @property
    def projects_prefix(self) -> str:
        return self.prefix + PROJECTS_DIR

    def project(self, project_id: str) -> str:
        """A project's record; an id this API cannot have made names nothing (404)."""
        if not is_project_id(project_id):
            raise NotFound("no such project")
        return self.projects_prefix + project_id + PROJECT_RECORD_SUFFIX

    def project_id_of(self, key: str) -> str | None:
        """The project whose record `key` is, or None for any other key."""
        if not key.startswith(self.projects_prefix) or not key.endswith(PROJECT_RECORD_SUFFIX):
            return None
        candidate = key[len(self.projects_prefix) : -len(PROJECT_RECORD_SUFFIX)]
        return candidate if is_project_id(candidate) else None

    def index_note_session_id(self, key: str) -> str | None:
        """The session a change note names, or None for a key that is not one of this owner's notes."""
        if not key.startswith(self.index_notes_prefix):
            return None
        candidate = key[len(self.index_notes_prefix) :]
        return candidate if is_session_id(candidate) else None

    def session(self, session_id: str) -> SessionKeys:
        if not is_session_id(session_id):
            # A malformed id cannot name an existing session, and must not hint at why.
            raise NotFound("no such session")
        return SessionKeys(self.sessions_prefix + session_id + "/")

    def session_id_from_prefix(self, prefix: str) -> str | None:
        if not prefix.startswith(self.sessions_prefix) or not prefix.endswith("/"):
            return None
        candidate = prefix[len(self.sessions_prefix) : -1]
        return candidate if is_session_id(candidate) else None


def owners_prefix(root: str) -> str:
    """Where every owner's keys begin: `{root}/o/`, then a tenant segment, then a user segment."""
    return _rooted(root, OWNERS_DIR)


def owner_space_of(root: str, prefix: str) -> OwnerSpace | None:
    """The owner whose prefix `prefix` is (a listing's common prefix two levels under `owners_prefix`)."""
    pattern = re.escape(owners_prefix(root)) + rf"{_OWNER_SEGMENT}/{_OWNER_SEGMENT}/"
    return OwnerSpace(prefix) if re.fullmatch(pattern, prefix) else None


def session_keys_of(root: str, key: str) -> SessionKeys | None:
    """The keys of the session `key` lies in (its record, one of its files, anything under its prefix)."""
    match = re.match(_sessions_layout(root), key)
    return SessionKeys(match.group(0)) if match else None


@dataclass(frozen=True)
class SessionKeys:
    """Keys inside one session; `prefix` ends with '/'.

    `scope`, when set, is the folder (ending with '/') a grant opens to someone other than the owner: files outside
    it cannot be named (404, as if they did not exist) and listings are narrowed to it. Every service builds its
    keys here, so a grant's limit holds for every route without each one checking it.
    """

    prefix: str
    scope: str = ""

    @property
    def record(self) -> str:
        return self.prefix + SESSION_RECORD_NAME

    @property
    def session_id(self) -> str:
        return self.prefix.rstrip("/").rsplit("/", 1)[-1]

    @property
    def files_prefix(self) -> str:
        return self.prefix + FILES_DIR

    @property
    def activity(self) -> str:
        return self.prefix + ACTIVITY_NAME

    @property
    def index_note(self) -> str:
        """The change note of this session in its owner's index (`{owner}/i/d/{session}`)."""
        owner_prefix = self.prefix.rstrip("/").rsplit("/", 2)[0] + "/"
        return owner_prefix + INDEX_DIR + INDEX_NOTES_DIR + self.session_id

    @property
    def exports_prefix(self) -> str:
        return self.prefix + EXPORTS_DIR

    def export_record(self, export_id: str) -> str:
        """The status record of an export; an id this API cannot have made names nothing (404)."""
        return self.exports_prefix + _export_id(export_id) + EXPORT_RECORD_SUFFIX

    def export_archive(self, export_id: str) -> str:
        """Where an export's zip is built."""
        return self.exports_prefix + _export_id(export_id) + EXPORT_ARCHIVE_SUFFIX

    def file(self, path: str) -> str:
        """The key of a file; `path` is raw client input and is validated here."""
        key = self._file(path)
        self._require_in_scope(key)
        return key

    def folder(self, path: str) -> str:
        """The key prefix of a folder (ends with '/'); accepts one trailing '/' on `path`."""
        trimmed = path[:-1] if path.endswith("/") else path
        key = self._file(trimmed) + "/"
        self._require_in_scope(key)
        return key

    def _require_in_scope(self, key: str) -> None:
        if self.scope and not key.startswith(self.files_prefix + self.scope):
            raise NotFound("no such file")

    def _file(self, path: str) -> str:
        normalised = _check_text(path, "the path")
        if normalised == "":
            raise InvalidPath("empty", "the path is empty")
        _check_segments(normalised.split("/"), "the path")
        return self._bounded(self.files_prefix + normalised)

    def listing(self, prefix: str) -> str:
        """The key prefix for listing files whose path starts with `prefix` (which may end mid-name)."""
        normalised = _check_text(prefix, "the prefix")
        if normalised:
            segments = normalised.split("/")
            _check_segments(segments[:-1], "the prefix")
            if segments[-1] in {".", ".."}:
                raise InvalidPath("dot-segment", "the prefix ends with a relative segment")
        if self.scope and not normalised.startswith(self.scope):
            if not self.scope.startswith(normalised):
                raise NotFound("no such file")
            normalised = self.scope  # a wider listing shows what the grant opens, nothing beside it
        return self._bounded(self.files_prefix + normalised)

    def marker(self, path: str) -> str:
        """Where a listing goes on after the file `path`, or, for a folder path (ending in '/'), after every file
        under it: keys strictly greater than this one follow."""
        if path.endswith("/"):
            return self.folder(path) + PAST_FOLDER
        return self.file(path)

    def scoped(self, folder: str) -> SessionKeys:
        """These keys limited to `folder` (a validated folder path ending with '/', or '' for the whole session)."""
        return SessionKeys(self.prefix, folder)

    @property
    def grants_prefix(self) -> str:
        return self.prefix + GRANTS_DIR

    @property
    def shares_prefix(self) -> str:
        return self.prefix + SHARES_DIR

    def share(self, share_id: str) -> str:
        if not is_share_id(share_id):
            raise NotFound("no such link")
        return self.shares_prefix + share_id + ".json"

    @property
    def snapshots_prefix(self) -> str:
        return self.prefix + SNAPSHOTS_DIR

    def snapshot_record(self, name: str) -> str:
        """A snapshot's record; a name this API cannot have made names nothing (404)."""
        return self.snapshots_prefix + _snapshot_name(name) + SNAPSHOT_RECORD_SUFFIX

    def snapshot_copies(self, name: str) -> str:
        """The prefix of a snapshot's protected copies and its manifest (ends with '/')."""
        return self.snapshots_prefix + _snapshot_name(name) + "/"

    def snapshot_copy(self, name: str, index: int) -> str:
        """The protected copy of a snapshot's `index`-th file: numbered, so a long path never makes a long key."""
        return self.snapshot_copies(name) + f"c/{index:08d}"

    def snapshot_manifest(self, name: str) -> str:
        return self.snapshot_copies(name) + "manifest.jsonl"

    @property
    def uploads_prefix(self) -> str:
        return self.prefix + UPLOADS_DIR

    def upload(self, upload_id: str) -> UploadKeys:
        """The keys of a resumable upload; an id this API cannot have made names nothing (404)."""
        if not is_upload_id(upload_id):
            raise NotFound("no such upload")
        return UploadKeys(self.uploads_prefix + upload_id + "/")

    def grant(self, grant_id: str) -> str:
        if not is_grant_id(grant_id):
            raise NotFound("no such grant")
        return self.grants_prefix + grant_id + ".json"

    def path_of(self, key: str) -> str:
        """The client-facing path of a file key in this session."""
        if not key.startswith(self.files_prefix):
            raise ValueError(f"key {key!r} is not a file of this session")
        return key[len(self.files_prefix) :]

    @staticmethod
    def _bounded(key: str) -> str:
        size = len(key.encode("utf-8"))
        if size > MAX_KEY_BYTES:
            raise InvalidPath(
                "too-long",
                f"the path makes a storage key of {size} bytes; the limit is {MAX_KEY_BYTES} bytes including the "
                "session prefix",
            )
        return key


@dataclass(frozen=True)
class UploadKeys:
    """The keys of one resumable upload (`SessionKeys.upload`); `prefix` ends with '/'."""

    prefix: str

    @property
    def upload_id(self) -> str:
        return self.prefix.rstrip("/").rsplit("/", 1)[-1]

    @property
    def state(self) -> str:
        return self.prefix + UPLOAD_STATE_NAME

    @property
    def tails_prefix(self) -> str:
        return self.prefix + UPLOAD_TAILS_DIR

    def tail(self, name: str) -> str:
        if not _TAIL_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a tail name this gateway makes")
        return self.tails_prefix + name


def probe_key(root: str, token: str) -> str:
    """The key of a probe object, `{root}/_gateway/probe/{token}`; an empty token gives the prefix of every probe key.

    Outside every tenant's prefix and outside `session_prefix_of`, so no caller can reach it and the janitor leaves
    it alone. `token` is what makes concurrent probes (several replicas starting at once) use different keys.
    """
    if not _PROBE_TOKEN.fullmatch(token):
        raise ValueError(f"a probe token is letters, digits, '-' or '_' (got {token!r})")
    base = PROBE_DIR + token
    clean_root = validate_root(root)
    return f"{clean_root}/{base}" if clean_root else base


@dataclass(frozen=True)
class UsageEntryName:
    """What a usage ledger entry's key says (see `UsageKeys.entry`)."""

    at_ms: int
    nonce: str
    kind: str  # "r" reserved, "c" committed
    bytes: int
    files: int


def new_usage_nonce(randomness: bytes) -> str:
    """The nonce that names one operation's ledger entries: 16 base32 characters of 10 random bytes."""
    if len(randomness) != 10:
        raise ValueError("a usage nonce needs 10 random bytes")
    return base64.b32encode(randomness).decode("ascii").lower()


@dataclass(frozen=True)
class UsageKeys:
    """The usage ledger of one quota scope (`gateway.quotas.ledger`): a base record and small entries whose keys
    hold all they say, so a scope's figures are one GET and one LIST. `counted` is the key prefix whose current
    files the scope counts; `root` tells file keys from the rest under it."""

    scope: str  # one of USAGE_SCOPES
    prefix: str  # ends with '/'
    counted: str
    root: str

    @property
    def base(self) -> str:
        return self.prefix + USAGE_BASE

    @property
    def entries_prefix(self) -> str:
        return self.prefix + USAGE_ENTRIES

    def entry(self, at_ms: int, nonce: str, kind: str, size: int, files: int) -> str:
        if not 0 <= at_ms < 10**13 or not _USAGE_NONCE.fullmatch(nonce) or kind not in ("r", "c"):
            raise ValueError("a usage entry needs a 13-digit time, a nonce and a kind of r or c")
        return self.entries_prefix + f"{at_ms:013d}.{nonce}.{kind}.{size:d}.{files:d}"

    def entry_of(self, key: str) -> UsageEntryName | None:
        """What an entry's key says; None for anything else under the prefix."""
        if not key.startswith(self.entries_prefix):
            return None
        match = _USAGE_ENTRY.fullmatch(key[len(self.entries_prefix) :])
        if match is None:
            return None
        at, nonce, kind, size, files = match.groups()
        return UsageEntryName(int(at), nonce, kind, int(size), int(files))

    def counts(self, key: str) -> bool:
        """Whether `key` (listed under `counted`) is a session file this scope counts."""
        return key.startswith(self.counted) and session_prefix_of(self.root, key) is not None


def usage_scopes(root: str, session_prefix: str) -> tuple[UsageKeys, UsageKeys, UsageKeys]:
    """The ledgers of the tenant, the user and the session whose prefix is `session_prefix` (from any session's
    keys: a grantee's writes land in the owner's session, and count against the owner)."""
    match = re.fullmatch(
        "(" + re.escape(_rooted(root, OWNERS_DIR)) + f"{_OWNER_SEGMENT}/)({_OWNER_SEGMENT}/)s/({_SESSION_ID.pattern})/",
        session_prefix,
    )
    if match is None:
        raise ValueError(f"{session_prefix!r} is not a session's prefix")
    tenant, user, session_id = match.group(1), match.group(1) + match.group(2), match.group(3)
    tenant_keys, user_keys = _owner_usage(root, tenant, user)
    session_keys = UsageKeys(
        "session", user + USAGE_DIR + USAGE_SESSIONS + session_id + "/", session_prefix + FILES_DIR, root
    )
    return tenant_keys, user_keys, session_keys


def owner_usage_scopes(owner: Owner) -> tuple[UsageKeys, UsageKeys]:
    """The ledgers of an owner's tenant and of the owner."""
    user = owner.prefix
    return _owner_usage(owner.root, user[: user.rindex("/", 0, -1) + 1], user)


def _owner_usage(root: str, tenant: str, user: str) -> tuple[UsageKeys, UsageKeys]:
    return UsageKeys("tenant", tenant + USAGE_DIR, tenant, root), UsageKeys("user", user + USAGE_DIR, user + "s/", root)


def usage_keys_of_base(root: str, key: str) -> UsageKeys | None:
    """The ledger whose base record is `key`, anywhere in the bucket (the janitor's recount finds them by listing)."""
    owners = re.escape(_rooted(root, OWNERS_DIR))
    usage, base = re.escape(USAGE_DIR), re.escape(USAGE_BASE)
    match = re.fullmatch(
        f"({owners}{_OWNER_SEGMENT}/)(?:({_OWNER_SEGMENT}/)(?:{re.escape(USAGE_DIR + USAGE_SESSIONS)}"
        f"({_SESSION_ID.pattern})/{base}|{usage}{base})|{usage}{base})",
        key,
    )
    if match is None:
        return None
    tenant, user, session_id = match.groups()
    if user is None:
        return _owner_usage(root, tenant, tenant)[0]
    if session_id is None:
        return _owner_usage(root, tenant, tenant + user)[1]
    return usage_scopes(root, f"{tenant}{user}s/{session_id}/")[2]


# The audit log, the event feed and webhook dead letters (`gateway.audit`, `gateway.events`): beside `o/` and
# `_gateway/`, so no token or path can name them, nothing that walks sessions or owners meets them, and an operator
# can protect (object lock, replication, lifecycle) each of them with one prefix rule.
#
#     {root}/_audit/log/{yyyy}/{mm}/{dd}/{hh}/{batch}      every record of every replica, by time (operators)
#     {root}/_audit/owners/{tenant}/{user}/{batch}         the records of one owner's sessions and projects
#     {root}/_webhooks/dead/{yyyy}/{mm}/{dd}/{batch}       webhook deliveries given up on
#
# A batch's name is `{stamp}-{last}-{replica}-{seq}.jsonl`: the position (milliseconds since the epoch, 13 digits) of
# its first and last record, the replica that wrote it (8 base32 characters, new at every start) and that replica's
# batch number, so that names sort by time and two batches never share one.
AUDIT_LOG_DIR = "_audit/log/"
AUDIT_OWNERS_DIR = "_audit/owners/"
DEAD_LETTERS_DIR = "_webhooks/dead/"
BATCH_SUFFIX = ".jsonl"
_REPLICA = re.compile(r"[a-z2-7]{8}")
_BATCH_NAME = re.compile(r"(\d{13})-(\d{13})-([a-z2-7]{8})-(\d{10})" + re.escape(BATCH_SUFFIX))
_MAX_MS = 10**13


@dataclass(frozen=True, order=True)
class BatchName:
    """What a batch's name says: its first and last position, whose it is, and its number."""

    stamp: int
    last: int
    replica: str
    seq: int

    @property
    def name(self) -> str:
        if not (0 <= self.stamp <= self.last < _MAX_MS) or not _REPLICA.fullmatch(self.replica):
            raise ValueError("a batch needs 13-digit positions in order and a replica id")
        if not 0 <= self.seq < 10**10:
            raise ValueError("a batch number has at most 10 digits")
        return f"{self.stamp:013d}-{self.last:013d}-{self.replica}-{self.seq:010d}{BATCH_SUFFIX}"


def new_replica_id(randomness: bytes) -> str:
    """A replica's id for the names of its batches: 8 base32 characters of 5 random bytes."""
    if len(randomness) != 5:
        raise ValueError("a replica id needs 5 random bytes")
    return base64.b32encode(randomness).decode("ascii").lower()


def batch_name_of(key: str) -> BatchName | None:
    """What the name of the batch `key` says, or None for any other key."""
    match = _BATCH_NAME.fullmatch(key.rsplit("/", 1)[-1])
    if match is None:
        return None
    return BatchName(int(match.group(1)), int(match.group(2)), match.group(3), int(match.group(4)))


def _hours(stamp_ms: int) -> str:
    """The UTC hour of a position, as `yyyy/mm/dd/hh/`."""
    moment = datetime.fromtimestamp(max(stamp_ms, 0) / 1000, UTC)
    return f"{moment.year:04d}/{moment.month:02d}/{moment.day:02d}/{moment.hour:02d}/"


def audit_log_prefix(root: str) -> str:
    """Where the operators' stream begins."""
    return _rooted(validate_root(root), AUDIT_LOG_DIR)


def audit_log_batch(root: str, batch: BatchName) -> str:
    """A batch of the operators' stream, under the UTC hour of its first record."""
    return audit_log_prefix(root) + _hours(batch.stamp) + batch.name


def audit_log_start(root: str, stamp_ms: int) -> str:
    """A key that every batch of the operators' stream whose first record is at `stamp_ms` or later sorts after."""
    return audit_log_prefix(root) + _hours(stamp_ms) + f"{max(stamp_ms, 0):013d}"


def owner_space_of_key(root: str, key: str) -> OwnerSpace | None:
    """The owner whose keys `key` lies among (a session's, a project's, an index's), or None for any other key."""
    match = re.match(re.escape(owners_prefix(root)) + rf"{_OWNER_SEGMENT}/{_OWNER_SEGMENT}/", key)
    return OwnerSpace(match.group(0)) if match else None


def owner_audit_prefix(root: str, space: OwnerSpace) -> str:
    """Where the records of one owner's sessions and projects are: `{root}/_audit/owners/{tenant}/{user}/`."""
    owners = owners_prefix(root)
    if not space.prefix.startswith(owners):
        raise ValueError(f"{space.prefix!r} is not an owner's prefix")
    return _rooted(validate_root(root), AUDIT_OWNERS_DIR) + space.prefix[len(owners) :]


def owner_audit_batch(root: str, space: OwnerSpace, batch: BatchName) -> str:
    return owner_audit_prefix(root, space) + batch.name


def owner_audit_start(root: str, space: OwnerSpace, stamp_ms: int) -> str:
    """A key that every batch of the owner whose first record is at `stamp_ms` or later sorts after."""
    return owner_audit_prefix(root, space) + f"{max(stamp_ms, 0):013d}"


def owner_label(root: str, space: OwnerSpace) -> str:
    """The owner's opaque segments as `{tenant}/{user}`: how records name whose they are."""
    return owner_audit_prefix(root, space)[len(_rooted(validate_root(root), AUDIT_OWNERS_DIR)) : -1]


def tenant_label(owner_key: bytes, tenant: str | None) -> str:
    """A tenant's opaque segment, as the first part of the `owner_label` of each of its owners."""
    segment = NO_TENANT_SEGMENT if tenant is None else encode_identity(tenant)
    return _opaque(owner_key, b"tenant/" + segment.encode("ascii"))


def dead_letter_key(root: str, batch: BatchName) -> str:
    """A webhook delivery given up on, under the UTC day it was given up."""
    return _rooted(validate_root(root), DEAD_LETTERS_DIR) + _hours(batch.stamp)[: -len("hh/")] + batch.name
