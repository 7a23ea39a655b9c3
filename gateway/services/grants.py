"""Grants: an owner opens one session (or a folder of it) to another user of the same tenant, to read or write.

Two objects per grant, both in the bucket:

- the **grant** itself, in the owner's session (`{session}/grants/{id}.json`): the truth, read on every use;
- an **index entry** under the grantee (`{grantee}/g/{session}.json`) naming the owner, so that a request for a
  session id that is not the caller's own can find whose it is (owner segments are opaque, so nothing else can).

The index entry is written first and the grant last: a grant that exists can always be found, and an index entry
without its grant (a crash in between, or a revocation) grants nothing. Revoking deletes the grant first, so it
takes effect at once on every replica: no replica keeps grants in memory. A user holds at most one grant per
session; a second is a 409 until the first is revoked.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway import changes, strict_json
from gateway.auth.tokens import MAX_CLAIM_CHARS
from gateway.changes import Actor, Change, ChangeHook
from gateway.errors import Conflict, InvalidBody, NotFound, ObjectMissing
from gateway.keys import Owner, SessionKeys, new_grant_id
from gateway.ordered import bounded
from gateway.storage.store import Store
from gateway.storage.writes import DeleteMarker, Prepared, VersionWriter
from gateway.wire import iso

READ_ACCESS = "read"
WRITE_ACCESS = "write"
ACCESS_LEVELS = (READ_ACCESS, WRITE_ACCESS)
RECORD_CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class Grant:
    id: str
    session_id: str
    owner: str  # the owner's user id (same tenant as the grantee)
    user: str  # the grantee
    access: str
    prefix: str  # '' for the whole session, else a folder path ending with '/'
    created_at: str
    expires_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "session_id": self.session_id,
            "owner": self.owner,
            "user": self.user,
            "access": self.access,
            "prefix": self.prefix,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> Grant:
        if not isinstance(data, dict):
            raise ValueError("a grant is a JSON object")
        expires = data.get("expires_at")
        return cls(
            id=str(data["id"]),
            session_id=str(data["session_id"]),
            owner=str(data["owner"]),
            user=str(data["user"]),
            access=str(data["access"]),
            prefix=str(data["prefix"]),
            created_at=str(data["created_at"]),
            expires_at=str(expires) if expires is not None else None,
        )

    def allows(self, need: str, now: datetime) -> bool:
        if self.expires_at is not None and datetime.fromisoformat(self.expires_at) <= now:
            return False
        return self.access == WRITE_ACCESS or need == READ_ACCESS


class Grants:
    def __init__(self, store: Store, writer: VersionWriter, hook: ChangeHook, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._writer = writer
        self._hook = hook
        self._clock = clock

    async def create(
        self, owner: Owner, keys: SessionKeys, *, user: str, access: str, prefix: str, expires_at: datetime | None
    ) -> Grant:
        """Open `keys`' session to `user` of the owner's tenant; the session must exist (the caller opened it)."""
        if not user or len(user) > MAX_CLAIM_CHARS:
            raise InvalidBody.field("user", f"a user id of 1 to {MAX_CLAIM_CHARS} characters")
        if user == owner.user:
            raise InvalidBody.field("user", "the session is already yours")
        if access not in ACCESS_LEVELS:
            raise InvalidBody.field("access", "one of: read, write")
        folder = keys.path_of(keys.folder(prefix)) if prefix else ""
        now = self._clock()
        if expires_at is not None and expires_at <= now:
            raise InvalidBody.field("expires_at", "must be in the future")
        grantee = Owner(owner.root, owner.tenant, user, owner.owner_key)
        index_key = grantee.granted(keys.session_id)
        if await self._current(index_key, keys) is not None:
            raise Conflict("this user already has a grant on this session; revoke it first")
        grant = Grant(
            id=new_grant_id(os.urandom(16)),
            session_id=keys.session_id,
            owner=owner.user,
            user=user,
            access=access,
            prefix=folder,
            created_at=iso(now),
            expires_at=iso(expires_at) if expires_at is not None else None,
        )
        entry = {"owner": owner.user, "session_id": keys.session_id, "grant_id": grant.id}
        await self._put(index_key, entry)
        written = await self._put(keys.grant(grant.id), grant.to_json())
        await self._announce(changes.GRANT_CREATED, owner, keys, grant, written)
        return grant

    async def of_session(self, keys: SessionKeys) -> list[Grant]:
        """The session's grants, expired ones included (they say when they ended), oldest first."""
        ids = []
        async for batch in self._store.current_keys(keys.grants_prefix):
            ids += [key[len(keys.grants_prefix) : -len(".json")] for key in batch if key.endswith(".json")]
        found = await bounded(ids, lambda grant_id: self._read(keys.grant(grant_id)))
        return sorted((g for g in found if g is not None), key=lambda g: (g.created_at, g.id))

    async def revoke(self, owner: Owner, keys: SessionKeys, grant_id: str) -> None:
        grant = await self._read(keys.grant(grant_id))
        if grant is None:
            raise NotFound("no such grant")
        # The grant first: from this moment nothing it opened can be reached, on any replica.
        written = await self._writer.write(keys.grant(grant_id), DeleteMarker(), prepared=Prepared(None, None))
        grantee = Owner(owner.root, owner.tenant, grant.user, owner.owner_key)
        index_key = grantee.granted(keys.session_id)
        entry = await self._entry(index_key, keys)
        if entry is not None and entry.get("grant_id") == grant_id:
            await self._writer.write(index_key, DeleteMarker(), prepared=Prepared(None, None))
        await self._announce(changes.GRANT_REVOKED, owner, keys, grant, written.info.version_id)

    async def revoke_all(self, owner: Owner, keys: SessionKeys) -> None:
        for grant in await self.of_session(keys):
            with contextlib.suppress(NotFound):  # revoked meanwhile by another request
                await self.revoke(owner, keys, grant.id)

    async def resolve(self, grantee: Owner, session_id: str, need: str) -> tuple[SessionKeys, Grant] | None:
        """The owner's keys for `session_id`, limited to what a live grant to `grantee` opens for `need`."""
        granted = await self._grant_for(grantee, session_id)
        if granted is None or not granted[1].allows(need, self._clock()):
            return None
        keys, grant = granted
        return keys.scoped(grant.prefix), grant

    async def shared_with(self, grantee: Owner) -> list[Grant]:
        """Live grants others gave `grantee`, newest session first."""
        session_ids = []
        async for batch in self._store.current_keys(grantee.granted_prefix):
            session_ids += [sid for sid in map(grantee.granted_session_id, batch) if sid is not None]
        found = await bounded(session_ids, lambda sid: self._grant_for(grantee, sid))
        now = self._clock()
        live = [grant for _keys, grant in (f for f in found if f is not None) if grant.allows(READ_ACCESS, now)]
        return sorted(live, key=lambda g: g.session_id, reverse=True)

    async def _grant_for(self, grantee: Owner, session_id: str) -> tuple[SessionKeys, Grant] | None:
        try:
            # Asked on every 404 of one's own: a missing entry is taken at its word (no listing to double-check it),
            # since the moment of re-linking that would fake a 404 happens only while an entry is being revoked.
            data, _ = await self._store.read_bytes(grantee.granted(session_id), believe_missing=True)
            entry = strict_json.loads(data)
            if not isinstance(entry, dict):
                return None
            owner = Owner(grantee.root, grantee.tenant, str(entry["owner"]), grantee.owner_key)
            keys = owner.session(session_id)
            grant = await self._read(keys.grant(str(entry["grant_id"])))
        except (ObjectMissing, NotFound, KeyError, TypeError, ValueError):
            return None
        if grant is None or grant.user != grantee.user or grant.session_id != session_id:
            return None
        return keys, grant

    async def _read(self, key: str) -> Grant | None:
        try:
            data, _ = await self._store.read_bytes(key)
            return Grant.from_json(strict_json.loads(data))
        except (ObjectMissing, KeyError, ValueError):
            return None  # gone, or a record this gateway did not write: either way it grants nothing

    async def _entry(self, key: str, keys: SessionKeys) -> dict[str, Any] | None:
        """The index entry at `key` for `keys`' session, live or not."""
        try:
            data, _ = await self._store.read_bytes(key)
            entry = strict_json.loads(data)
        except (ObjectMissing, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("session_id") != keys.session_id:
            return None
        return entry

    async def _current(self, key: str, keys: SessionKeys) -> dict[str, Any] | None:
        """The index entry at `key` for `keys`' session while its grant is live."""
        entry = await self._entry(key, keys)
        if entry is None:
            return None
        # An entry whose grant is gone (revoked, or a crash before the grant was written) is free to replace.
        grant_id = entry.get("grant_id")
        try:
            live = isinstance(grant_id, str) and await self._read(keys.grant(grant_id)) is not None
        except NotFound:
            live = False  # not a grant id at all
        return entry if live else None

    async def _put(self, key: str, data: dict[str, Any]) -> str | None:
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        written = await self._writer.write(key, body, prepared=Prepared(None, None), content_type=RECORD_CONTENT_TYPE)
        return written.info.version_id

    async def _announce(
        self, action: str, owner: Owner, keys: SessionKeys, grant: Grant, version_id: str | None
    ) -> None:
        detail = {"grant_id": grant.id, "user": grant.user, "access": grant.access, "prefix": grant.prefix}
        await self._hook.announce(
            Change(
                action=action,
                actor=Actor.user_of(owner.tenant, owner.user),
                key=keys.grant(grant.id),
                session_id=keys.session_id,
                version_id=version_id,
                detail=detail,
                at=self._clock(),
            )
        )
