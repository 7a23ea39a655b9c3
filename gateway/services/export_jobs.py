"""Exports built into the bucket: a status record per export, rewritten as the build goes, and the zip beside it.

There is no queue and no worker: the replica that accepted the export builds it, in a task of its own, right after
answering. The bucket is the only shared state, so the status record says everything other replicas need:

- `pending` (accepted), `running` (building), `done` (the zip is complete) or `failed` (with `error`);
- `heartbeat_at`, rewritten every `GATEWAY_EXPORT_HEARTBEAT_SECONDS` while the build runs. A replica that reads a
  record still pending or running whose heartbeat is older than `GATEWAY_EXPORT_STALE_SECONDS` knows its builder
  stopped (a crash, a deploy), and marks it failed.

Every rewrite is conditional on the version last seen (the conditional-write protocol of
`gateway.storage.preconditions`), so the builder and a replica that declares it abandoned cannot both win: a builder
whose heartbeat loses stops, and its multipart upload is aborted. The zip is written by the one write step as a
streamed upload: multipart above the threshold, completed only after its last byte, aborted on any failure, so no
partial zip is ever readable. A build declared dead after it completed has its zip removed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway import strict_json
from gateway.errors import (
    DamagedRecord,
    GatewayError,
    InvalidBody,
    NotFound,
    ObjectMissing,
    PayloadTooLarge,
    PreconditionFailed,
)
from gateway.keys import SessionKeys
from gateway.storage.preconditions import Precondition, normalise_etag
from gateway.storage.store import Store
from gateway.storage.tagging import tier_tags
from gateway.storage.writes import Prepared, Streamed, VersionWriter
from gateway.wire import iso

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
STATUSES = (PENDING, RUNNING, DONE, FAILED)
RECORD_TYPE = "application/json"
ZIP_TYPE = "application/zip"
ABANDONED = "the replica building this export stopped before it finished"
STOPPED = "the gateway was stopped while building this export"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportRecord:
    id: str
    status: str
    created_at: datetime
    heartbeat_at: datetime
    expires_at: datetime
    prefix: str
    paths: tuple[str, ...]
    at: datetime | None
    redact: bool
    session_name: str | None
    size: int | None = None  # bytes of zip so far (running) or in all (done)
    archive_version_id: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "created_at": iso(self.created_at),
            "heartbeat_at": iso(self.heartbeat_at),
            "expires_at": iso(self.expires_at),
            "prefix": self.prefix,
            "paths": list(self.paths),
            "at": iso(self.at) if self.at else None,
            "redact": self.redact,
            "session_name": self.session_name,
            "size": self.size,
            "archive_version_id": self.archive_version_id,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: object) -> ExportRecord:
        """Read a stored record back; ValueError (or KeyError, TypeError) for one that does not fit."""
        if not isinstance(data, dict):
            raise ValueError("the record is not a JSON object")

        def moment(name: str) -> datetime:
            value = datetime.fromisoformat(str(data[name]))
            if value.tzinfo is None:
                raise ValueError(f"{name} has no time zone")
            return value

        status = str(data["status"])
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        size = data.get("size")
        return cls(
            id=str(data["id"]),
            status=status,
            created_at=moment("created_at"),
            heartbeat_at=moment("heartbeat_at"),
            expires_at=moment("expires_at"),
            prefix=str(data["prefix"]),
            paths=tuple(str(path) for path in data["paths"]),
            at=None if data.get("at") is None else moment("at"),
            redact=bool(data["redact"]),
            session_name=None if data.get("session_name") is None else str(data["session_name"]),
            size=None if size is None else int(size),
            archive_version_id=None if data.get("archive_version_id") is None else str(data["archive_version_id"]),
            error=None if data.get("error") is None else str(data["error"]),
        )


@dataclass
class _Held:
    """A record as its writer last wrote it, and the ETag that the next rewrite is conditional on."""

    record: ExportRecord
    etag: str
    lost: bool = False  # another replica declared this build abandoned
    sent: _Counted | None = None  # the zip's bytes as they go to the store


class ExportJobs:
    def __init__(
        self,
        store: Store,
        *,
        writer: VersionWriter,
        tier: str,
        ttl_seconds: int,
        heartbeat_seconds: float,
        stale_seconds: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._writer = writer
        self._tier = tier
        self._ttl = timedelta(seconds=ttl_seconds)
        self._heartbeat = heartbeat_seconds
        self._stale = timedelta(seconds=stale_seconds)
        self._clock = clock

    @property
    def ttl(self) -> timedelta:
        return self._ttl

    def new_record(
        self,
        export_id: str,
        *,
        prefix: str,
        paths: tuple[str, ...],
        at: datetime | None,
        redact: bool,
        session_name: str | None,
    ) -> ExportRecord:
        now = self._clock()
        return ExportRecord(
            id=export_id,
            status=PENDING,
            created_at=now,
            heartbeat_at=now,
            expires_at=now + self._ttl,
            prefix=prefix,
            paths=paths,
            at=at,
            redact=redact,
            session_name=session_name,
        )

    async def create(self, keys: SessionKeys, record: ExportRecord) -> str:
        """Write a new export's first record; returns its ETag. A new id has no history to look at."""
        written = await self._writer.write(
            keys.export_record(record.id),
            _encode(record),
            prepared=Prepared(None, None),
            content_type=RECORD_TYPE,
            tags=tier_tags(self._tier),
        )
        return written.info.etag

    async def read(self, keys: SessionKeys, export_id: str) -> tuple[ExportRecord, str]:
        """The record and its ETag; 404 for an export that does not exist or has outlived its time to live."""
        key = keys.export_record(export_id)
        try:
            data, info = await self._store.read_bytes(key)
        except ObjectMissing as exc:
            raise NotFound("no such export") from exc
        try:
            record = ExportRecord.from_json(strict_json.loads(data))
        except (InvalidBody, ValueError, KeyError, TypeError) as exc:
            log.warning("export record %s cannot be read: %s", key, exc)
            raise DamagedRecord("this export's stored record cannot be read") from exc
        if record.expires_at <= self._clock():
            raise NotFound("no such export (it was removed after its time to live)")
        return record, info.etag

    def is_abandoned(self, record: ExportRecord) -> bool:
        return record.status in (PENDING, RUNNING) and record.heartbeat_at + self._stale < self._clock()

    async def abandon(self, keys: SessionKeys, record: ExportRecord, etag: str) -> ExportRecord:
        """Mark an abandoned build failed, unless its builder rewrote the record meanwhile; returns the record as
        it now stands. Whatever the build left of its zip is removed."""
        failed = replace(record, status=FAILED, error=ABANDONED, heartbeat_at=self._clock())
        try:
            await self._rewrite(keys, failed, etag)
        except PreconditionFailed:
            return (await self.read(keys, record.id))[0]
        await self._remove_zip(keys, record.id)
        return failed

    async def run(
        self, keys: SessionKeys, record: ExportRecord, etag: str, chunks: AsyncGenerator[bytes, None]
    ) -> None:
        """Build the zip from `chunks` and record the outcome. Never raises for a failed build: the record says."""
        held = _Held(record, etag)
        build = asyncio.current_task()
        assert build is not None
        try:
            await self._save(keys, held, status=RUNNING)
        except (PreconditionFailed, GatewayError):
            return  # already declared abandoned, or the store is gone: nothing was written
        held.sent = _Counted(chunks)
        heart = asyncio.create_task(self._beat(keys, held, build))
        try:
            written = await self._writer.write(
                keys.export_archive(record.id),
                Streamed(held.sent, None),
                prepared=Prepared(None, None),
                content_type=ZIP_TYPE,
                tags=tier_tags(self._tier),
            )
        except asyncio.CancelledError:
            if held.lost:
                build.uncancel()  # stopped on purpose: another replica has already recorded the failure
                return
            await self._fail(keys, held, STOPPED)
            raise
        except PayloadTooLarge as exc:
            limit = exc.extra.get("limit_bytes")
            await self._fail(keys, held, f"the zip would be larger than the {limit}-byte limit; export less at a time")
            return
        except GatewayError as exc:
            await self._fail(keys, held, exc.detail)
            return
        except Exception:
            log.exception("export %s failed", record.id)
            await self._fail(keys, held, "the export failed unexpectedly; the gateway's log has the details")
            return
        finally:
            heart.cancel()
            await asyncio.gather(heart, return_exceptions=True)
            with contextlib.suppress(Exception):
                await chunks.aclose()
        try:
            await self._save(
                keys, held, status=DONE, size=written.info.size, archive_version_id=written.info.version_id
            )
        except PreconditionFailed:
            await self._remove_zip(keys, record.id)  # declared abandoned just before it finished

    async def _beat(self, keys: SessionKeys, held: _Held, build: asyncio.Task[Any]) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            try:
                await self._save(keys, held, status=RUNNING)
            except PreconditionFailed:
                held.lost = True
                build.cancel()
                return
            except GatewayError as exc:  # one missed beat is not yet staleness; keep building
                log.warning("export %s: heartbeat not written: %s", held.record.id, exc.detail)

    async def _save(self, keys: SessionKeys, held: _Held, **changes: Any) -> None:
        if "size" not in changes and held.sent is not None:
            changes["size"] = held.sent.size
        updated = replace(held.record, heartbeat_at=self._clock(), **changes)
        held.etag = await self._rewrite(keys, updated, held.etag)
        held.record = updated

    async def _fail(self, keys: SessionKeys, held: _Held, error: str) -> None:
        try:
            await self._save(keys, held, status=FAILED, error=error)
        except GatewayError as exc:  # abandoned by now, or the store is unreachable: staleness will tell
            log.warning("export %s: failure not recorded: %s", held.record.id, exc.detail)

    async def _rewrite(self, keys: SessionKeys, record: ExportRecord, etag: str) -> str:
        precondition = Precondition(if_match=frozenset({normalise_etag(etag)}))
        written = await self._writer.write(
            keys.export_record(record.id),
            _encode(record),
            precondition=precondition,
            content_type=RECORD_TYPE,
            tags=tier_tags(self._tier),
        )
        return written.info.etag

    async def _remove_zip(self, keys: SessionKeys, export_id: str) -> None:
        archive = keys.export_archive(export_id)
        async for uploads in self._store.pending_uploads(archive):
            for upload in uploads:
                if upload.key == archive:
                    with contextlib.suppress(ObjectMissing):
                        await self._store.abort_multipart(archive, upload.upload_id)
        await self._store.purge(archive)


class _Counted:
    """The zip's chunks, counting the bytes that went by, so heartbeats can tell how far a build got."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self.size = 0

    def __aiter__(self) -> _Counted:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._chunks.__anext__()
        self.size += len(chunk)
        return chunk


def _encode(record: ExportRecord) -> bytes:
    return json.dumps(record.to_json(), separators=(",", ":")).encode()
