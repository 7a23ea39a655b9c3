"""A record of the backup: one entry of a session's history as it was in the source bucket.

A version's record says everything needed to write it again: its time, size, SHA-256, content type, metadata and
tags (the tier among them), and which object of the backup holds its bytes. A delete marker's or a skipped
version's record says when the file stopped being what the backup holds. `below` is the entry under it in the
key's history when it was backed up: entries of one key made in the same microsecond are ordered by it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gateway.backup.layout import KINDS, VERSION
from gateway.wire import iso, moment

FORMAT = 1
CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class Entry:
    kind: str
    key: str  # the source key
    name: str  # the key inside its session: `f/{path}` or `session.json`
    version_id: str
    time: datetime
    below: str | None
    tier: str | None = None
    size: int | None = None
    sha256: str | None = None
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    blob: str | None = None

    def encode(self) -> bytes:
        document: dict[str, Any] = {
            "format": FORMAT,
            "kind": self.kind,
            "key": self.key,
            "name": self.name,
            "version_id": self.version_id,
            "time": iso(self.time),
            "below": self.below,
            "tier": self.tier,
        }
        if self.kind == VERSION:
            document.update(
                size=self.size,
                sha256=self.sha256,
                content_type=self.content_type,
                metadata=self.metadata,
                tags=self.tags,
                blob=self.blob,
            )
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> Entry:
        """A stored record; ValueError says what is wrong with one that does not fit."""
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError(f"not a record of format {FORMAT}")
        kind = _text(document, "kind")
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        entry = cls(
            kind=kind,
            key=_text(document, "key"),
            name=_text(document, "name"),
            version_id=_text(document, "version_id"),
            time=moment(_text(document, "time")),
            below=_optional(document, "below", str),
            tier=_optional(document, "tier", str),
        )
        if kind != VERSION:
            return entry
        size = document.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError("size is not a byte count")
        return replace(
            entry,
            size=size,
            sha256=_optional(document, "sha256", str),
            content_type=_text(document, "content_type"),
            metadata=_strings(document, "metadata"),
            tags=_strings(document, "tags"),
            blob=_text(document, "blob"),
        )


def _text(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return value


def _optional(document: dict[str, Any], name: str, kind: type[str]) -> str | None:
    value = document.get(name)
    if value is not None and not isinstance(value, kind):
        raise ValueError(f"{name} is not a string")
    return value


def _strings(document: dict[str, Any], name: str) -> dict[str, str]:
    value = document.get(name)
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"{name} is not an object of strings")
    return dict(value)
