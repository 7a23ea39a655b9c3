"""The manifest an export writes into its archive, read back on import.

`manifest.json` at the top of an archive, when it is an export's manifest, lists the archive's files::

    {"files": [{"path": "notes/a.md", "version_id": "...", "size": 12, "sha256": "<hex>", "tier": "persistent",
                "last_modified": "2026-01-01T00:00:00Z"}, ...], ...}

`path` is the entry's name in the archive. On import the manifest is not a file: each listed entry gets the listed
tier back, and its bytes must have the listed SHA-256 (otherwise the entry is refused). Other members, at the top
or in items, are ignored, so later exports may add some. A `manifest.json` that is not an object with a `files`
list is an ordinary file (a web app's manifest, say) and is imported as such. An item without a string `path` is
ignored; an item whose `tier` or `sha256` is not a string of the right form refuses its entry, naming the field.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from gateway import strict_json
from gateway.errors import InvalidBody
from gateway.settings import MiB

MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 16 * MiB
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Listed:
    """What the manifest says of one entry; `problem` when it says it in a form the import cannot use."""

    tier: str | None = None
    sha256: str | None = None
    problem: str | None = None


def parse_manifest(data: bytes) -> dict[str, Listed] | None:
    """Listed entries by NFC name, or None when `data` is not an export's manifest."""
    try:
        document = strict_json.loads(data)
    except InvalidBody:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("files"), list):
        return None
    listed: dict[str, Listed] = {}
    for item in document["files"]:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            continue
        listed[unicodedata.normalize("NFC", item["path"])] = _listed(item)
    return listed


def _listed(item: dict[str, object]) -> Listed:
    tier, sha256 = item.get("tier"), item.get("sha256")
    if tier is not None and (not isinstance(tier, str) or not tier):
        return Listed(problem="its tier in manifest.json is not a tier name")
    if sha256 is not None and (not isinstance(sha256, str) or not _SHA256.fullmatch(sha256.lower())):
        return Listed(problem="its sha256 in manifest.json is not 64 hexadecimal digits")
    return Listed(tier=tier, sha256=sha256.lower() if isinstance(sha256, str) else None)
