"""Sessions: a record object per session, next to the session's files, in the same bucket.

The record (`.../s/{id}/session.json`) is the session's existence: a session whose record is absent or deleted
does not exist, whatever objects remain under its prefix.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from gateway.errors import BadRequest, NotFound, ObjectMissing
from gateway.files import iso
from gateway.keys import Owner, SessionKeys, encode_session_id
from gateway.store import Store

MAX_NAME_CHARS = 256
MAX_METADATA_BYTES = 16 * 1024
RECORD_CONTENT_TYPE = "application/json"
FETCH_CONCURRENCY = 16


@dataclass(frozen=True)
class SessionRecord:
    id: str
    name: str | None
    created_at: str
    updated_at: str
    state: str
    metadata: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "state": self.state,
            "metadata": self.metadata,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionRecord:
        return cls(
            id=str(data["id"]),
            name=data.get("name"),
            created_at=str(data["created_at"]),
            updated_at=str(data["updated_at"]),
            state=str(data.get("state", "active")),
            metadata=dict(data.get("metadata") or {}),
        )


def new_session_id() -> str:
    return encode_session_id(time.time_ns() // 1_000_000, os.urandom(10))


def _name(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME_CHARS or any(ord(c) < 0x20 for c in value):
        raise BadRequest(f"name must be a string of at most {MAX_NAME_CHARS} characters, without control characters")
    return value


def _metadata(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest("metadata must be a JSON object")
    if len(json.dumps(value).encode()) > MAX_METADATA_BYTES:
        raise BadRequest(f"metadata must encode to at most {MAX_METADATA_BYTES} bytes of JSON")
    return value


class Sessions:
    def __init__(self, store: Store, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._clock = clock

    async def create(self, owner: Owner, body: Mapping[str, Any]) -> SessionRecord:
        _reject_unknown(body, {"name", "metadata"})
        now = iso(self._clock())
        record = SessionRecord(
            id=new_session_id(),
            name=_name(body.get("name")),
            created_at=now,
            updated_at=now,
            state="active",
            metadata=_metadata(body.get("metadata", {})),
        )
        await self._save(owner.session(record.id), record)
        return record

    async def get(self, owner: Owner, session_id: str) -> SessionRecord:
        keys = owner.session(session_id)
        try:
            data, _ = await self._store.read_bytes(keys.record)
        except ObjectMissing as exc:
            raise NotFound("no such session") from exc
        return SessionRecord.from_json(json.loads(data))

    async def keys_of(self, owner: Owner, session_id: str) -> SessionKeys:
        """The keys of a session the owner has; 404 for any other."""
        await self.get(owner, session_id)
        return owner.session(session_id)

    async def list(self, owner: Owner, *, limit: int, cursor: str | None) -> dict[str, Any]:
        page = await self._store.list_page(owner.sessions_prefix, delimiter="/", limit=limit, cursor=cursor)
        ids = [sid for sid in map(owner.session_id_from_prefix, page.prefixes) if sid is not None]
        gate = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def fetch(session_id: str) -> SessionRecord | None:
            async with gate:
                try:
                    return await self.get(owner, session_id)
                except NotFound:
                    return None  # files left behind by a deleted session

        records = await asyncio.gather(*(fetch(sid) for sid in ids))
        return {"items": [r.to_json() for r in records if r is not None], "next_cursor": page.cursor}

    async def update(self, owner: Owner, session_id: str, body: Mapping[str, Any]) -> SessionRecord:
        _reject_unknown(body, {"name", "metadata"})
        record = await self.get(owner, session_id)
        changes: dict[str, Any] = {}
        if "name" in body:
            changes["name"] = _name(body["name"])
        if "metadata" in body:
            patch = _metadata(body["metadata"])
            # JSON merge patch (RFC 7396) on the top level: null removes a key.
            merged = {**record.metadata, **patch}
            changes["metadata"] = _metadata({k: v for k, v in merged.items() if v is not None})
        updated = replace(record, updated_at=iso(self._clock()), **changes)
        await self._save(owner.session(session_id), updated)
        return updated

    async def delete(self, owner: Owner, session_id: str, *, purge: bool) -> None:
        keys = await self.keys_of(owner, session_id)
        if purge:
            await self._store.purge(keys.prefix)
            return
        # Files first: a failure half-way leaves a session that still exists and can be deleted again.
        await self._store.delete_all_current(keys.files_prefix)
        await self._store.delete(keys.record)

    async def _save(self, keys: SessionKeys, record: SessionRecord) -> None:
        data = json.dumps(record.to_json(), separators=(",", ":")).encode()
        await self._store.put(keys.record, data, content_type=RECORD_CONTENT_TYPE, metadata={})


def _reject_unknown(body: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
