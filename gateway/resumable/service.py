"""Resumable uploads: creating one, reading how far it is, taking its bytes request by request (the last ones
complete it into a file version: `completion`), and ending it (termination, expiry).

Any replica takes any request: all an upload has is in the bucket (`state`), and the bytes go straight into an S3
multipart upload of the file's own key, so the completion copies nothing. A request's bytes are cut into parts of
one size (`parts`); what is left over at its end is kept as a small tail object and prepended to the next
request's bytes, so a client sending small chunks still makes progress.

The file's SHA-256 (every version carries it) is computed as the bytes pass while one replica sees them all in
order: each replica keeps, per upload, the digest of the bytes up to the offset it last moved the upload to, and
goes on with it when the next request finds the upload at that offset. An upload whose requests went to several
replicas is read back once completed, streamed, for its digest.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway import changes
from gateway.changes import Actor, Change, ChangeHook
from gateway.errors import (
    ChecksumMismatch,
    Conflict,
    GatewayError,
    InvalidPath,
    InvalidUploadMetadata,
    NotFound,
    ObjectMissing,
    PayloadTooLarge,
)
from gateway.keys import SessionKeys, UploadKeys, new_tail_name, new_upload_id
from gateway.policy.tiers import Policy
from gateway.quotas.gate import charging, room_for
from gateway.resumable import state as states
from gateway.resumable.completion import Completion, Refused
from gateway.resumable.parts import Parts
from gateway.resumable.protocol import Metadata
from gateway.resumable.state import NO_SUCH_UPLOAD, Part, Tail, UploadState
from gateway.services.files import Files, require_active
from gateway.services.sessions import Sessions
from gateway.settings import Settings
from gateway.storage.preconditions import Precondition
from gateway.storage.store import Store
from gateway.storage.uploads import part_size_for
from gateway.storage.writes import VersionWriter
from gateway.wire import iso

# Per-upload digests a replica keeps (the oldest go first): a few dozen bytes each.
DIGESTS_KEPT = 1024


@dataclass(frozen=True)
class Status:
    upload_id: str
    offset: int
    length: int
    metadata: str
    # None once the file is complete (tus: Upload-Expires is for unfinished uploads).
    expires_at: datetime | None


class Uploads:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        policy: Policy,
        *,
        files: Files,
        sessions: Sessions,
        writer: VersionWriter,
        hook: ChangeHook,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._settings = settings
        self._policy = policy
        self._files = files
        self._sessions = sessions
        self._writer = writer
        self._hook = hook
        self._clock = clock
        self._completion = Completion(store, writer, files, clock, self._expiry)
        # Upload id -> (offset, digest of the bytes before it), for uploads this replica moved last.
        self._digests: OrderedDict[str, tuple[int, Any]] = OrderedDict()

    @property
    def max_bytes(self) -> int:
        return self._settings.max_upload_bytes

    # Creation

    async def create(
        self,
        actor: Actor,
        creator: str,
        keys: SessionKeys,
        *,
        length: int,
        metadata: Metadata,
        precondition: Precondition,
    ) -> tuple[UploadKeys, UploadState]:
        """A new upload of `length` bytes; the checks of a file PUT come first (the path and tier, the session is
        active, the precondition, the quotas), so that a refusal comes before any byte is sent."""
        if length > self.max_bytes:
            raise PayloadTooLarge(
                f"the file is larger than the {self.max_bytes}-byte upload limit", extra={"limit_bytes": self.max_bytes}
            )
        key = _file_key(keys, metadata.path)
        if metadata.tier is not None and metadata.tier not in self._policy.tiers:
            names = list(self._policy.names)
            raise InvalidUploadMetadata(
                "tier", f"unknown tier; valid tiers: {', '.join(names)}", extra={"valid_tiers": names}
            )
        upload = keys.upload(new_upload_id(os.urandom(16)))
        now = self._clock()
        new = UploadState(
            creator=creator,
            path=keys.path_of(key),
            content_type=metadata.content_type,
            tier=metadata.tier,
            metadata=metadata.raw,
            length=length,
            part_size=part_size_for(length, self._settings.multipart_threshold_bytes),
            multipart=None,
            base=None,
            if_match=tuple(sorted(precondition.if_match)) if precondition.if_match is not None else None,
            if_none_match=precondition.if_none_match_any,
            created_at=iso(now),
            expires_at=iso(self._expiry()),
        )
        if length == 0:
            # Complete at once: an empty file is a file PUT of nothing.
            written = await self._files.write(
                actor,
                keys,
                new.path,
                _nothing(),
                content_type=new.content_type,
                declared_length=0,
                precondition=precondition,
                tier=new.tier,
            )
            done = replace(new, complete=True, version_id=written.file.version_id)
            await states.create(self._writer, upload, done)
            return upload, done
        record, prepared = await asyncio.gather(
            self._sessions.read(keys), self._writer.prepare(key, precondition), return_exceptions=True
        )
        if isinstance(record, BaseException):
            raise record
        if isinstance(prepared, BaseException):
            raise prepared
        require_active(record)
        async with charging(self._files.quotas, self._files.scopes(actor, keys), room_for(prepared, length)[0]):
            pass  # admitted now; the completion is admitted again, by the file's final size
        multipart = await self._writer.begin(key, prepared, content_type=new.content_type)
        new = replace(new, multipart=multipart, base=prepared.base)
        try:
            await states.create(self._writer, upload, new)
        except BaseException:
            with contextlib.suppress(GatewayError):
                await asyncio.shield(self._store.abort_multipart(key, multipart))
            raise
        return upload, new

    # Reading

    async def state_of(self, creator: str, keys: SessionKeys, upload_id: str) -> tuple[UploadKeys, UploadState]:
        """The upload, when the caller made it and it has not expired; 404 otherwise, the same as for none."""
        upload = keys.upload(upload_id)
        found = await states.read(self._store, upload)
        if found.creator != creator or found.expires() <= self._clock():
            raise NotFound(NO_SUCH_UPLOAD)
        return upload, found

    def status(self, upload: UploadKeys, found: UploadState) -> Status:
        expires = None if found.complete else found.expires()
        return Status(upload.upload_id, found.offset, found.length, found.metadata, expires)

    # Bytes

    async def patch(
        self,
        actor: Actor,
        keys: SessionKeys,
        upload: UploadKeys,
        found: UploadState,
        *,
        offset: int,
        body: AsyncIterator[bytes],
        content_length: int | None,
        checksum: bytes | None,
    ) -> Status:
        """Take the bytes of one request at `offset` (which must be the upload's), and complete the file when they
        are its last. Nothing moves unless every byte of the request is in S3 and matches `checksum`."""
        states.check_position(found, offset)
        remaining = found.length - offset
        if content_length is not None and content_length > remaining:
            raise PayloadTooLarge(
                f"the upload has {remaining} bytes left; this request has {content_length}",
                extra={"limit_bytes": remaining},
            )
        if content_length == 0 or remaining == 0:
            return self.status(upload, found)
        assert found.multipart is not None
        key = keys.file(found.path)
        tail_bytes = await self._read_tail(upload, found)
        whole = self._digest_at(upload.upload_id, offset)
        check = hashlib.sha256() if checksum is not None else None
        # Parts lie at fixed places in the file (part n holds bytes from (n - 1) * part_size on), so a request cut
        # short or raced leaves no stray part behind: the next one to send that part replaces it.
        parts = Parts(self._store, key, found.multipart, found.part_size, len(found.parts) + 1)
        received = 0
        try:
            await parts.add(tail_bytes)
            async for chunk in body:
                received += len(chunk)
                if received > remaining:
                    raise PayloadTooLarge(
                        f"the upload has {remaining} bytes left; this request sent more",
                        extra={"limit_bytes": remaining},
                    )
                if whole is not None:
                    whole.update(chunk)
                if check is not None:
                    check.update(chunk)
                await parts.add(chunk)
            # A body that ended early (the client hung up) is kept as far as it came, as tus asks; unless it had
            # to match a checksum, which only the whole body can.
            if check is not None and check.digest() != checksum:
                raise ChecksumMismatch("the bytes do not match Upload-Checksum; none were taken, the offset stays")
            final = received == remaining
            rest = b""
            if final:
                await parts.send_rest()
            else:
                rest = parts.rest()
            sent = await parts.finish()
        except BaseException:
            await asyncio.shield(parts.cancel())
            raise
        if received == 0:
            return self.status(upload, found)
        if final:
            return await self._complete(actor, keys, upload, found, offset, sent, whole)
        return await self._advance(upload, found, offset, received, sent, rest, whole)

    async def _read_tail(self, upload: UploadKeys, found: UploadState) -> bytes:
        if found.tail is None:
            return b""
        stream = await self._store.get(
            upload.tail(found.tail.name), version_id=found.tail.version_id, believe_missing=True
        )
        data = b"".join([chunk async for chunk in stream.body])
        if len(data) != found.tail.size:
            raise Conflict("the upload's kept bytes changed under it; send the rest again")
        return data

    async def _advance(
        self,
        upload: UploadKeys,
        found: UploadState,
        offset: int,
        received: int,
        sent: list[Part],
        rest: bytes,
        whole: Any,
    ) -> Status:
        tail = None
        if rest:
            name = new_tail_name(os.urandom(10))
            md5 = hashlib.md5(rest, usedforsecurity=False).digest()
            put = await self._store.put(
                upload.tail(name), rest, content_type="application/octet-stream", metadata={}, content_md5=md5
            )
            tail = Tail(name, put.version_id, len(rest))
        expires = iso(self._expiry())

        def advance(current: UploadState) -> UploadState:
            states.check_position(current, offset)
            return replace(
                current, offset=offset + received, parts=current.parts + tuple(sent), tail=tail, expires_at=expires
            )

        try:
            moved = await states.change(self._store, self._writer, upload, advance, known=found)
        except BaseException:
            if tail is not None:
                await asyncio.shield(self._drop_tail(upload, tail))
            raise
        if found.tail is not None:
            # The state at an offset is the one request that moved the upload there: the tail it named is the one
            # the bytes above were prepended with.
            await self._drop_tail(upload, found.tail)
        if whole is not None:
            self._remember(upload.upload_id, moved.offset, whole)
        return self.status(upload, moved)

    async def _complete(
        self,
        actor: Actor,
        keys: SessionKeys,
        upload: UploadKeys,
        found: UploadState,
        offset: int,
        sent: list[Part],
        whole: Any,
    ) -> Status:
        self._digests.pop(upload.upload_id, None)
        sha256 = whole.hexdigest() if whole is not None else None
        try:
            done = await self._completion.complete(actor, keys, upload, found, offset, sent, sha256)
        except Refused as refused:
            # Refused (the precondition, a quota, an ended session) or failed: the upload ends, nothing is stored.
            await asyncio.shield(
                self.discard(actor, keys, upload, refused.state, f"its completion failed: {refused.error.detail}")
            )
            raise refused.error from None
        return self.status(upload, done)

    async def _drop_tail(self, upload: UploadKeys, tail: Tail) -> None:
        """A tail no record names any more; one left behind goes with the upload's prefix."""
        with contextlib.suppress(GatewayError):
            if tail.version_id is not None:
                await self._store.delete_version(upload.tail(tail.name), tail.version_id)
            else:
                await self._store.purge(upload.tail(tail.name))

    # The end

    async def discard(
        self, actor: Actor, keys: SessionKeys, upload: UploadKeys, found: UploadState, reason: str
    ) -> None:
        """End an upload: its S3 multipart upload aborted, its record and tails removed; an unfinished one is
        announced as aborted (a finished one's file stays; only its record goes)."""
        key = keys.file(found.path)
        if found.multipart is not None and not found.complete:
            with contextlib.suppress(ObjectMissing):  # completed or aborted already
                await self._store.abort_multipart(key, found.multipart)
        await self._store.purge(upload.prefix)
        self._digests.pop(upload.upload_id, None)
        if found.complete:
            return
        await self._hook.announce(
            Change(
                action=changes.UPLOAD_ABORTED,
                actor=actor,
                key=key,
                session_id=keys.session_id,
                path=found.path,
                version_id=None,
                detail={"upload": upload.upload_id, "reason": reason},
                at=self._clock(),
            )
        )

    # Digests of the bytes so far, per replica

    def _digest_at(self, upload_id: str, offset: int) -> Any:
        """A copy of the digest of the upload's first `offset` bytes, when this replica has it (None otherwise)."""
        if offset == 0:
            return hashlib.sha256()
        kept = self._digests.get(upload_id)
        if kept is None or kept[0] != offset:
            return None
        return kept[1].copy()

    def _remember(self, upload_id: str, offset: int, digest: Any) -> None:
        self._digests[upload_id] = (offset, digest)
        self._digests.move_to_end(upload_id)
        while len(self._digests) > DIGESTS_KEPT:
            self._digests.popitem(last=False)

    def _expiry(self) -> datetime:
        return self._clock() + timedelta(seconds=self._settings.upload_expiry_seconds)


def _file_key(keys: SessionKeys, path: str) -> str:
    """The file's key; a path that breaks a path rule is refused naming the metadata key it came in."""
    try:
        return keys.file(path)
    except InvalidPath as exc:
        raise InvalidUploadMetadata("path", exc.detail, extra={"rule": exc.rule}) from None


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator
