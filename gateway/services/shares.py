"""Share links: a URL of the gateway (`/s/{id}`) that anyone holding it may open, with no login, until it expires,
is revoked or runs out of downloads.

A link's id is its secret (160 random bits). Two objects per link:

- the **share** in the owner's session (`{session}/shares/{id}.json`): the truth, with its download count;
- an **index entry** under the gateway's own objects (`{root}/_gateway/shares/{id}.json`) naming the owner and
  session, because the id alone cannot find a session whose owner segments are opaque.

The index entry is written first and the share last, so a link that was answered 201 can always be found; an index
entry without its share opens nothing. Each opening reads the share (so a revocation or expiry holds at once, on
every replica), checks that what it points to still exists through the owner's keys (the same keys every route
uses, narrowed to a shared folder), counts the download with a conditional write (exact across replicas: a link
with `max_downloads` is never opened more often), and only then answers. Every refusal, whatever its reason, is the
same 404, so a holder cannot tell a revoked link from one that never existed.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from gateway import changes, strict_json
from gateway.changes import Actor, Change, ChangeHook
from gateway.errors import InvalidBody, NotFound, ObjectMissing
from gateway.keys import Owner, SessionKeys, new_share_id, share_index_key
from gateway.ordered import bounded
from gateway.services import records
from gateway.services.files import Files
from gateway.storage.store import Store
from gateway.storage.writes import DeleteMarker, Prepared, VersionWriter
from gateway.wire import iso

# How long the S3 URL a link redirects to stays valid: long enough to start the download, short enough that a
# copied S3 URL is of little use once the link is revoked.
REDIRECT_SECONDS = 300
MAX_DOWNLOADS = 1_000_000
GONE = "no such link"


@dataclass(frozen=True)
class Share:
    id: str
    session_id: str
    owner: str
    path: str | None  # a file, or
    prefix: str | None  # a folder (ending with '/')
    version_id: str | None
    created_at: str
    expires_at: str | None
    max_downloads: int | None
    downloads: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "session_id": self.session_id,
            "owner": self.owner,
            "path": self.path,
            "prefix": self.prefix,
            "version_id": self.version_id,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "max_downloads": self.max_downloads,
            "downloads": self.downloads,
        }

    @classmethod
    def from_json(cls, data: Any) -> Share:
        if not isinstance(data, dict):
            raise ValueError("a share is a JSON object")

        def text(name: str) -> str | None:
            value = data.get(name)
            return None if value is None else str(value)

        limit = data.get("max_downloads")
        return cls(
            id=str(data["id"]),
            session_id=str(data["session_id"]),
            owner=str(data["owner"]),
            path=text("path"),
            prefix=text("prefix"),
            version_id=text("version_id"),
            created_at=str(data["created_at"]),
            expires_at=text("expires_at"),
            max_downloads=int(limit) if limit is not None else None,
            downloads=int(data.get("downloads", 0)),
        )

    def open_at(self, now: datetime) -> bool:
        if self.expires_at is not None and datetime.fromisoformat(self.expires_at) <= now:
            return False
        return self.max_downloads is None or self.downloads < self.max_downloads


@dataclass(frozen=True)
class Opened:
    """What an opening of a link leads to: a presigned URL for a file, or a folder to stream as a zip."""

    share: Share
    keys: SessionKeys
    url: str | None = None


class Shares:
    def __init__(
        self,
        store: Store,
        writer: VersionWriter,
        files: Files,
        hook: ChangeHook,
        clock: Callable[[], datetime],
        *,
        root: str,
        owner_key: bytes,
    ) -> None:
        self._store = store
        self._writer = writer
        self._files = files
        self._hook = hook
        self._clock = clock
        self._root = root
        self._owner_key = owner_key

    async def create(
        self,
        owner: Owner,
        keys: SessionKeys,
        *,
        path: str | None,
        prefix: str | None,
        version_id: str | None,
        expires_in: int | None,
        max_downloads: int | None,
    ) -> Share:
        if (path is None) == (prefix is None):
            raise InvalidBody.field("path", "send either a file's path or a folder's prefix")
        if prefix is not None and version_id is not None:
            raise InvalidBody.field("version_id", "a version belongs to a file, not to a folder")
        if path is not None:
            # No links to nothing: the file (or that version) must exist and be reachable now.
            file = await self._files.head(keys, path, version_id)
            path = file.path
        else:
            assert prefix is not None
            # '' shares the whole session; anything else must be a folder path.
            prefix = keys.path_of(keys.folder(prefix)) if prefix else ""
        now = self._clock().replace(microsecond=0)
        share = Share(
            id=new_share_id(os.urandom(20)),
            session_id=keys.session_id,
            owner=owner.user,
            path=path,
            prefix=prefix,
            version_id=version_id,
            created_at=iso(now),
            expires_at=iso(now + timedelta(seconds=expires_in)) if expires_in is not None else None,
            max_downloads=max_downloads,
        )
        entry = {"tenant": owner.tenant, "owner": owner.user, "session_id": keys.session_id}
        await self._put(share_index_key(self._root, share.id), entry)
        written = await self._put(keys.share(share.id), share.to_json())
        await self._announce(changes.SHARE_CREATED, owner, keys, share, written)
        return share

    async def of_session(self, keys: SessionKeys) -> list[Share]:
        ids = []
        async for batch in self._store.current_keys(keys.shares_prefix):
            ids += [key[len(keys.shares_prefix) : -len(".json")] for key in batch if key.endswith(".json")]
        found = await bounded(ids, lambda share_id: self._read(keys, share_id))
        return sorted((s for s in found if s is not None), key=lambda s: (s.created_at, s.id))

    async def revoke(self, owner: Owner, keys: SessionKeys, share_id: str) -> None:
        share = await self._read(keys, share_id)
        if share is None:
            raise NotFound(GONE)
        # The share first: from this moment the link opens nothing, on any replica.
        written = await self._writer.write(keys.share(share_id), DeleteMarker(), prepared=Prepared(None, None))
        await self._writer.write(share_index_key(self._root, share_id), DeleteMarker(), prepared=Prepared(None, None))
        await self._announce(changes.SHARE_REVOKED, owner, keys, share, written.info.version_id)

    async def revoke_all(self, owner: Owner, keys: SessionKeys) -> None:
        for share in await self.of_session(keys):
            with contextlib.suppress(NotFound):  # revoked meanwhile by another request
                await self.revoke(owner, keys, share.id)

    async def open(self, share_id: str, *, count: bool = True, folder_ok: bool = True) -> Opened:
        """Follow a link: 404 (always the same) unless it is live and leads to something that exists."""
        found = await self._find(share_id)
        if found is None:
            raise NotFound(GONE)
        keys, share = found
        if not share.open_at(self._clock()):
            raise NotFound(GONE)
        url = None
        try:
            if share.path is not None:
                link = await self._files.link(
                    keys, share.path, version_id=share.version_id, expires_in=REDIRECT_SECONDS
                )
                url = link.url
            elif not folder_ok:
                raise NotFound(GONE)
            else:
                keys = keys.scoped(share.prefix or "")
        except NotFound:
            raise NotFound(GONE) from None
        counted = await self._count(keys, share_id) if count else share
        if counted is None:
            raise NotFound(GONE)  # revoked, expired or used up while this opening ran
        return Opened(counted, keys, url)

    async def _count(self, keys: SessionKeys, share_id: str) -> Share | None:
        now = self._clock()

        async def read() -> tuple[Share | None, str]:
            try:
                data, info = await self._store.read_bytes(keys.share(share_id))
                return Share.from_json(strict_json.loads(data)), info.etag
            except (ObjectMissing, KeyError, ValueError):
                return None, ""

        opened = False

        def count(share: Share | None) -> Share | None:
            # Called once per attempt; the last call is the attempt whose result stands.
            nonlocal opened
            opened = share is not None and share.open_at(now)
            return replace(share, downloads=share.downloads + 1) if share is not None and opened else share

        def encode(share: Share | None) -> bytes:
            assert share is not None
            return _encode(share.to_json())

        after = await records.modify(self._writer, keys.share(share_id), read, count, encode)
        return after if opened else None

    async def _find(self, share_id: str) -> tuple[SessionKeys, Share] | None:
        try:
            data, _ = await self._store.read_bytes(share_index_key(self._root, share_id))
            entry = strict_json.loads(data)
            if not isinstance(entry, dict):
                return None
            tenant = entry.get("tenant")
            owner = Owner(self._root, None if tenant is None else str(tenant), str(entry["owner"]), self._owner_key)
            keys = owner.session(str(entry["session_id"]))
        except (ObjectMissing, NotFound, KeyError, ValueError):
            return None
        share = await self._read(keys, share_id)
        return (keys, share) if share is not None and share.session_id == keys.session_id else None

    async def _read(self, keys: SessionKeys, share_id: str) -> Share | None:
        try:
            data, _ = await self._store.read_bytes(keys.share(share_id))
            return Share.from_json(strict_json.loads(data))
        except (ObjectMissing, NotFound, KeyError, ValueError):
            return None

    async def _put(self, key: str, data: dict[str, Any]) -> str | None:
        written = await self._writer.write(
            key, _encode(data), prepared=Prepared(None, None), content_type=records.RECORD_CONTENT_TYPE
        )
        return written.info.version_id

    async def _announce(
        self, action: str, owner: Owner, keys: SessionKeys, share: Share, version_id: str | None
    ) -> None:
        detail = {"share_id": share.id, "path": share.path, "prefix": share.prefix}
        await self._hook.announce(
            Change(
                action=action,
                actor=Actor.user_of(owner.tenant, owner.user),
                key=keys.share(share.id),
                session_id=keys.session_id,
                path=share.path,
                version_id=version_id,
                detail=detail,
                at=self._clock(),
            )
        )


def _encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
