"""Sessions: a record object per session, next to the session's files, in the same bucket.

The record (`.../s/{id}/session.json`) is the session's existence: a session whose record is absent or deleted
does not exist, whatever objects remain under its prefix. Records change by read-modify-write; two replicas
changing one record at once go through the same conditional-write protocol as files, so no change is lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from gateway.auth.cursors import CursorSealer
from gateway.errors import BadRequest, Conflict, NotFound, ObjectMissing, PreconditionFailed
from gateway.keys import Owner, SessionKeys, encode_session_id
from gateway.policy.janitor import Janitor
from gateway.policy.tiers import Policy
from gateway.storage import preconditions
from gateway.storage.store import Store
from gateway.wire import iso

MAX_NAME_CHARS = 256
MAX_METADATA_BYTES = 16 * 1024
MAX_FOLDER_TIERS = 100
RECORD_CONTENT_TYPE = "application/json"
FETCH_CONCURRENCY = 16
UPDATE_ATTEMPTS = 30
# Backoff between attempts: random up to min(cap, base * 2**attempt), so writers that collided spread out.
BACKOFF_BASE_SECONDS = 0.005
BACKOFF_CAP_SECONDS = 0.25
ACTIVE, ENDED = "active", "ended"
# The operation name in session-list cursor bindings.
LIST_OPERATION = "sessions.list"


@dataclass(frozen=True)
class SessionRecord:
    id: str
    name: str | None
    created_at: str
    updated_at: str
    state: str
    metadata: dict[str, Any]
    default_tier: str | None = None
    folder_tiers: dict[str, str] = field(default_factory=dict)
    ended_at: str | None = None

    @property
    def ended(self) -> bool:
        return self.state == ENDED

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "state": self.state,
            "ended_at": self.ended_at,
            "metadata": self.metadata,
            "default_tier": self.default_tier,
            "folder_tiers": self.folder_tiers,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionRecord:
        return cls(
            id=str(data["id"]),
            name=data.get("name"),
            created_at=str(data["created_at"]),
            updated_at=str(data["updated_at"]),
            state=str(data.get("state", ACTIVE)),
            metadata=dict(data.get("metadata") or {}),
            default_tier=data.get("default_tier"),
            folder_tiers=dict(data.get("folder_tiers") or {}),
            ended_at=data.get("ended_at"),
        )


@dataclass(frozen=True)
class OpenSession:
    """A session the caller may reach: its keys and its record."""

    keys: SessionKeys
    record: SessionRecord


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
    def __init__(
        self,
        store: Store,
        policy: Policy,
        *,
        cursors: CursorSealer,
        janitor: Janitor | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._policy = policy
        self._cursors = cursors
        self._janitor = janitor
        self._clock = clock

    def _tier(self, value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise BadRequest("a tier must be a string")
        return self._policy.tier(value).name

    async def create(self, owner: Owner, body: Mapping[str, Any]) -> SessionRecord:
        _reject_unknown(body, {"name", "metadata", "default_tier"})
        now = iso(self._clock())
        record = SessionRecord(
            id=new_session_id(),
            name=_name(body.get("name")),
            created_at=now,
            updated_at=now,
            state=ACTIVE,
            metadata=_metadata(body.get("metadata", {})),
            default_tier=self._tier(body.get("default_tier")),
        )
        keys = owner.session(record.id)
        await self._store.put(keys.record, _encode(record), content_type=RECORD_CONTENT_TYPE, metadata={})
        return record

    async def get(self, owner: Owner, session_id: str) -> SessionRecord:
        return (await self._read(owner.session(session_id)))[0]

    async def open(self, owner: Owner, session_id: str) -> OpenSession:
        """The session's keys and record; 404 for a session the owner does not have."""
        keys = owner.session(session_id)
        record, _etag = await self._read(keys)
        return OpenSession(keys, record)

    async def _read(self, keys: SessionKeys) -> tuple[SessionRecord, str]:
        try:
            data, info = await self._store.read_bytes(keys.record)
        except ObjectMissing as exc:
            raise NotFound("no such session") from exc
        return SessionRecord.from_json(json.loads(data)), info.etag

    async def list(self, owner: Owner, *, limit: int, cursor: str | None) -> dict[str, Any]:
        # The owner's prefix names root, tenant and user injectively: a cursor lists only its owner's sessions.
        binding = (LIST_OPERATION, owner.sessions_prefix)
        continuation = self._cursors.open(cursor, binding, expect=("token",))["token"] if cursor else None
        page = await self._store.list_page(owner.sessions_prefix, delimiter="/", limit=limit, continuation=continuation)
        ids = [sid for sid in map(owner.session_id_from_prefix, page.prefixes) if sid is not None]
        gate = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def fetch(session_id: str) -> SessionRecord | None:
            async with gate:
                try:
                    return await self.get(owner, session_id)
                except NotFound:
                    return None  # files left behind by a deleted session

        records = await asyncio.gather(*(fetch(sid) for sid in ids))
        next_cursor = self._cursors.seal({"token": page.continuation}, binding) if page.continuation else None
        return {"items": [r.to_json() for r in records if r is not None], "next_cursor": next_cursor}

    async def update(self, owner: Owner, session_id: str, body: Mapping[str, Any]) -> SessionRecord:
        _reject_unknown(body, {"name", "metadata", "default_tier"})
        changes: dict[str, Any] = {}
        if "name" in body:
            changes["name"] = _name(body["name"])
        if "default_tier" in body:
            changes["default_tier"] = self._tier(body["default_tier"])
        patch = _metadata(body["metadata"]) if "metadata" in body else None

        def change(record: SessionRecord) -> SessionRecord:
            updated = replace(record, **changes)
            if patch is not None:
                # JSON merge patch (RFC 7396) on the top level: null removes a key.
                merged = {**record.metadata, **patch}
                updated = replace(updated, metadata=_metadata({k: v for k, v in merged.items() if v is not None}))
            return updated

        return await self._modify(owner.session(session_id), change)

    async def set_folder_tier(self, session: OpenSession, folder: str, tier: object) -> SessionRecord:
        """Make `tier` the default of new files under `folder` (None removes the folder's default)."""
        prefix = session.keys.path_of(session.keys.folder(folder))
        name = self._tier(tier)

        def change(record: SessionRecord) -> SessionRecord:
            folders = {k: v for k, v in record.folder_tiers.items() if k != prefix}
            if name is not None:
                folders[prefix] = name
            if len(folders) > MAX_FOLDER_TIERS:
                raise BadRequest(f"a session can have at most {MAX_FOLDER_TIERS} folder tiers")
            return replace(record, folder_tiers=folders)

        return await self._modify(session.keys, change)

    async def end(self, owner: Owner, session_id: str) -> SessionRecord:
        """Mark the session ended (read-only from now on) and delete its ephemeral files, every version.

        Repeating it changes nothing but sweeps again: a write that raced the end may have landed after a sweep.
        """
        keys = owner.session(session_id)
        record, _ = await self._read(keys)
        if not record.ended:
            now = iso(self._clock())
            record = await self._modify(keys, lambda r: r if r.ended else replace(r, state=ENDED, ended_at=now))
        if self._janitor is not None:
            await self._janitor.remove_ephemeral(keys)
        return record

    async def delete(self, owner: Owner, session_id: str, *, purge: bool) -> None:
        keys = (await self.open(owner, session_id)).keys
        if purge:
            await self._store.purge(keys.prefix)
            return
        # Files first: a failure half-way leaves a session that still exists and can be deleted again.
        await self._store.delete_all_current(keys.files_prefix)
        await self._store.delete(keys.record)

    async def _modify(self, keys: SessionKeys, change: Callable[[SessionRecord], SessionRecord]) -> SessionRecord:
        for attempt in range(UPDATE_ATTEMPTS):
            record, etag = await self._read(keys)
            updated = change(record)
            if updated == record:
                return record
            updated = replace(updated, updated_at=iso(self._clock()))
            precondition = preconditions.Precondition(if_match=frozenset({preconditions.normalise_etag(etag)}))
            try:
                base = await preconditions.check(self._store, keys.record, precondition)
                version = await self._store.put(
                    keys.record,
                    _encode(updated),
                    content_type=RECORD_CONTENT_TYPE,
                    metadata={preconditions.BASE_METADATA: base},
                )
                await preconditions.settle(self._store, keys.record, version, base)
            except PreconditionFailed:
                # Another replica changed the record first: back off a little, then apply the change to its version.
                ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
                await asyncio.sleep(random.uniform(0, ceiling))  # noqa: S311 (jitter, not secrets)
                continue
            return updated
        raise Conflict("the session is being changed by others right now; retry")


def _encode(record: SessionRecord) -> bytes:
    return json.dumps(record.to_json(), separators=(",", ":")).encode()


def _reject_unknown(body: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
