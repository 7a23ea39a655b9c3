"""What a browser is told about a file: its name, its type, and whether it may be shown inline.

Files are user content. Anything that a browser could execute (HTML, SVG, XML, scripts) is only ever offered as a
download, so a shared link cannot become stored cross-site scripting.
"""

from __future__ import annotations

import mimetypes
import re
from urllib.parse import quote

from gateway.errors import BadRequest

DEFAULT_CONTENT_TYPE = "application/octet-stream"
MAX_CONTENT_TYPE_CHARS = 255
_CHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # RFC 9110 token
_QUOTED = r'"[^"\\\x00-\x1f\x7f]*"'
_CONTENT_TYPE = re.compile(rf"{_CHARS}/{_CHARS}(\s*;\s*{_CHARS}=({_CHARS}|{_QUOTED}))*")
# Types a browser renders without running code in the origin.
_INLINE_SAFE = frozenset(
    {
        "text/plain",
        "text/csv",
        "application/json",
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "audio/mpeg",
        "audio/ogg",
        "audio/wav",
        "video/mp4",
        "video/webm",
    }
)


# The standard library's own table only: the system's files (/etc/mime.types) differ between machines, and every
# replica must store the same type for the same name.
_KNOWN_TYPES = mimetypes.MimeTypes()
for _extension in (".md", ".markdown"):
    _KNOWN_TYPES.add_type("text/markdown", _extension)
# A compressed file is stored as what it is, not as what it holds (`a.tar.gz` is gzip, not tar).
_ENCODED_TYPES = {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz"}


def content_type_for_name(name: str) -> str:
    """The type of a file known only by its name (imports): from its extension, else `application/octet-stream`."""
    found, encoding = _KNOWN_TYPES.guess_type(name, strict=False)
    if encoding is not None:
        return _ENCODED_TYPES.get(encoding, DEFAULT_CONTENT_TYPE)
    return found or DEFAULT_CONTENT_TYPE


def content_type_of(header: str | None) -> str:
    """The Content-Type to store for an upload; a malformed one is refused rather than guessed at."""
    if header is None or not header.strip():
        return DEFAULT_CONTENT_TYPE
    value = header.strip()
    if len(value) > MAX_CONTENT_TYPE_CHARS or not _CONTENT_TYPE.fullmatch(value):
        raise BadRequest("the Content-Type header is not a valid media type (type/subtype[; parameter=value])")
    return value


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def is_inline_safe(content_type: str) -> bool:
    return media_type(content_type) in _INLINE_SAFE


def content_disposition(filename: str, *, inline: bool) -> str:
    """An RFC 6266 header with an ASCII fallback name and the exact UTF-8 name in `filename*`."""
    kind = "inline" if inline else "attachment"
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\%;' else "_" for c in filename) or "download"
    encoded = quote(filename, safe="!#$&+-.^_`|~")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def download_disposition(path: str, content_type: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return content_disposition(name, inline=is_inline_safe(content_type))
