"""What an export holds, written into the zip as its last entry: `manifest.json`.

Every entry is described by what is in the zip (`size`, `sha256` of the entry's bytes) and by where it came from
(`path`, `version_id`, `tier`, `last_modified`). A redacted entry also carries the original's `size` and `sha256`
and how many secrets of each kind were replaced; a file that was not scanned says why. The manifest also lists
what was asked for but not exported, so a reader can tell "absent" from "left out".

Zip entry names are the file paths, made safe for every unzip tool (`entry_name`): never `..` or `.` segments,
backslashes, a leading '/' or a drive letter. A name that had to change, and the manifest's own name when a file
is already called `manifest.json`, stay unique and are listed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.services.snapshot import SnapshotFile
from gateway.wire import iso

FORMAT = 1
MANIFEST_NAME = "manifest.json"
NOT_SCANNED_BINARY = "binary"
NOT_SCANNED_TOO_LARGE = "too-large"
_DRIVE = re.compile(r"[A-Za-z]:")


def entry_name(path: str) -> str | None:
    """A zip entry name for a file path that no unzip tool can place outside its target folder, or None when
    nothing of it is left (a key written around the gateway, such as '..')."""
    segments = [
        segment.replace("\\", "_") for segment in path.replace("\\", "/").split("/") if segment not in {"", ".", ".."}
    ]
    if not segments:
        return None
    if _DRIVE.match(segments[0]):
        # "C:" or "C:x" would be a drive on Windows.
        segments[0] = segments[0][0] + "_" + segments[0][2:]
    return "/".join(segments)


class Names:
    """Entry names already used in one zip; a repeated name gets " (2)", " (3)", ... before its extension."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def claim(self, name: str) -> str:
        candidate, number = name, 1
        while candidate in self._used:
            number += 1
            folder, _, leaf = name.rpartition("/")
            stem, dot, extension = leaf.rpartition(".")
            if not stem:  # no extension, or a name that starts with its only dot
                stem, dot, extension = leaf, "", ""
            candidate = f"{folder}/" * bool(folder) + f"{stem} ({number}){dot}{extension}"
        self._used.add(candidate)
        return candidate


@dataclass(frozen=True)
class Request:
    """What the export was asked for, repeated in the manifest."""

    session_id: str
    session_name: str | None
    prefix: str
    paths: tuple[str, ...]
    at: datetime | None
    redact: bool
    redaction_kinds: tuple[str, ...] = ()
    snapshot: str | None = None  # the snapshot the files come from


@dataclass
class Manifest:
    request: Request
    created_at: datetime
    files: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    replaced: Counter[str] = field(default_factory=Counter)
    bytes_in_files: int = 0

    def add(
        self,
        file: SnapshotFile,
        name: str,
        *,
        size: int,
        sha256: str,
        original: tuple[int, str] | None = None,
        replaced: dict[str, int] | None = None,
        not_scanned: str | None = None,
    ) -> None:
        entry: dict[str, Any] = {
            "path": file.path,
            # A snapshot's file is read from its protected copy; the version it keeps is the file's own.
            "version_id": file.original_version_id if file.from_snapshot else file.version_id,
            "size": size,
            "sha256": sha256,
            "tier": file.tier.name if file.tier else None,
            "last_modified": iso(file.last_modified),
        }
        if name != file.path:
            entry["name"] = name
        if self.request.redact:
            if not_scanned is not None:
                entry["redaction"] = {"scanned": False, "reason": not_scanned}
            else:
                entry["redaction"] = {"scanned": True, "replaced": dict(replaced or {})}
        if original is not None:
            entry["original"] = {"size": original[0], "sha256": original[1]}
        self.replaced.update(replaced or {})
        self.bytes_in_files += size
        self.files.append(entry)

    def skip(self, path: str, version_id: str | None, reason: str) -> None:
        self.skipped.append({"path": path, "version_id": version_id, "reason": reason})

    def render(self, missing: list[str]) -> bytes:
        asked = self.request
        body: dict[str, Any] = {
            "format": FORMAT,
            "session": {"id": asked.session_id, "name": asked.session_name},
            "created_at": iso(self.created_at),
            "selection": {
                "prefix": asked.prefix,
                "paths": list(asked.paths),
                "at": iso(asked.at) if asked.at else None,
                **({"snapshot": asked.snapshot} if asked.snapshot else {}),
            },
            "redact": asked.redact,
            "file_count": len(self.files),
            "total_size": self.bytes_in_files,
            "files": self.files,
            "not_found": missing,
            "skipped": self.skipped,
        }
        if asked.redact:
            changed = sum(1 for entry in self.files if entry.get("original"))
            unscanned = sum(1 for entry in self.files if not entry["redaction"]["scanned"])
            body["redaction"] = {
                "kinds": list(asked.redaction_kinds),
                "replaced": dict(sorted(self.replaced.items())),
                "files_changed": changed,
                "files_not_scanned": unscanned,
            }
        return json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")
