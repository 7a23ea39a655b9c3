"""The audit log of one replica: records gathered in memory, written as one batch per flush.

Every committed change (from the change hook) and every denied request (from the error handler) becomes a
`Record`, kept in memory and written once per flush interval: the whole batch to the operators' stream
(`{root}/_audit/log/...`), and the records of each owner concerned to that owner's stream
(`{root}/_audit/owners/{tenant}/{user}/...`), which the session audit and the event feed read. A clean shutdown
writes what is pending; a crash loses at most what was gathered since the last flush.

Positions. A record's `pos` is the replica's clock when it was logged (never going back within a replica); a batch
is closed once its first record is `flush` old, so every record of a batch stands within `flush` of the batch's
first one (its stamp, the first part of its name). Readers of an owner's stream (the event feed) serve only records
older than a settle window and need every batch with a stamp before that to be in the bucket by then: so an owner
batch must be written within `flush + write_timeout` of its stamp. One that is not (its PUT timed out, failed, or
finished late) is written again under a fresh name, its records positioned at the new stamp (they keep their ids,
so a reader that saw the first copy drops the second). The operators' stream is read by time range, not by
cursor, and is simply retried under the same name.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime

from gateway.audit.denials import Denial, DenialLimiter
from gateway.audit.records import (
    BATCH_CONTENT_TYPE,
    DENIAL,
    SUPPRESSED,
    Record,
    change_record,
    encode_batch,
    iso_ms,
    ms_of,
)
from gateway.changes import Change
from gateway.keys import (
    BatchName,
    OwnerSpace,
    audit_log_batch,
    new_replica_id,
    owner_audit_batch,
    owner_label,
    owner_space_of_key,
)
from gateway.ordered import bounded
from gateway.storage.store import Store

log = logging.getLogger(__name__)
# Times an owner batch is written under a fresh name in one flush before it waits for the next.
REWRITES = 3


@dataclass
class _Batch:
    """Records gathered since a flush (or since `flush` after the first of them): one object per stream."""

    stamp: int
    seq: int
    records: list[tuple[Record, OwnerSpace | None]] = field(default_factory=list)
    # Its owners' parts were handed to their own writes (a retry of the operators' object must not repeat them).
    split: bool = False


@dataclass
class _OwnerBatch:
    space: OwnerSpace
    records: list[Record]
    # Set once a write failed: the next attempt gets a fresh stamp.
    stale: bool = False


class AuditLog:
    def __init__(
        self,
        store: Store,
        *,
        root: str,
        flush_seconds: float,
        write_timeout_seconds: float,
        denials_per_minute: int,
        clock: Callable[[], datetime],
        replica: str | None = None,
    ) -> None:
        self._store = store
        self._root = root
        self._clock = clock
        self.flush_ms = max(1, round(flush_seconds * 1000))
        self.write_timeout_ms = max(1, round(write_timeout_seconds * 1000))
        self.replica = replica or new_replica_id(os.urandom(5))
        self._limiter = DenialLimiter(denials_per_minute)
        self._open: _Batch | None = None
        self._closed: list[_Batch] = []
        self._owner_retries: list[_OwnerBatch] = []
        self._last_pos = 0
        self._records = 0
        self._batches = 0
        self._lock = asyncio.Lock()
        # Told of each change's record as it is logged (webhooks): one record, one id, wherever it goes.
        self.followers: list[Callable[[Record], None]] = []

    # Gathering (no I/O: on the path of requests)

    def listener(self, change: Change) -> None:
        """On the change hook: a record of the change, for the operators and for the owner of its key."""
        space = owner_space_of_key(self._root, change.key)
        owner = owner_label(self._root, space) if space is not None else None
        pos, record_id = self._next()
        record = change_record(change, record_id=record_id, pos=pos, owner=owner)
        self._add(record, space)
        for follower in self.followers:
            try:
                follower(record)
            except Exception:
                log.exception("a follower of the audit log failed on %s", record.id)

    def denied(self, denial: Denial) -> None:
        """From the error handler: a record of the denial, unless its caller has had their share this minute."""
        now = self._now_ms()
        if self._limiter.admit(denial, now):
            self._add(self._denial_record(denial, self._clock()), None)

    def _denial_record(self, denial: Denial, at: datetime, **detail: object) -> Record:
        pos, record_id = self._next()
        return Record(
            id=record_id,
            pos=pos,
            at=iso_ms(at),
            kind=DENIAL,
            operation=denial.operation if not detail else SUPPRESSED,
            actor="user" if denial.principal is not None else "anonymous",
            principal=denial.principal,
            tenant=denial.tenant,
            owner=denial.owner,
            session=denial.session,
            request_id=denial.request_id if not detail else None,
            status=denial.status,
            problem=denial.problem,
            target=denial.target,
            client=denial.client,
            detail=detail,
        )

    def _now_ms(self) -> int:
        return ms_of(self._clock())

    def _next(self) -> tuple[int, str]:
        self._last_pos = max(self._now_ms(), self._last_pos)
        self._records += 1
        return self._last_pos, f"{self.replica}-{self._records:010d}"

    def _add(self, record: Record, space: OwnerSpace | None) -> None:
        if self._open is not None and record.pos - self._open.stamp >= self.flush_ms:
            self._close()
        if self._open is None:
            self._batches += 1
            self._open = _Batch(record.pos, self._batches)
        self._open.records.append((record, space))

    def _close(self) -> None:
        if self._open is not None:
            self._closed.append(self._open)
            self._open = None

    @property
    def pending(self) -> int:
        """Records not yet in the operators' stream."""
        waiting = [*self._closed, *([self._open] if self._open else [])]
        return sum(len(batch.records) for batch in waiting)

    # Writing

    async def flush(self) -> int:
        """Write what was gathered; returns how many records reached the operators' stream. Failed writes stay
        pending for the next flush."""
        async with self._lock:
            for example, count, start in self._limiter.ended(self._now_ms()):
                record = self._denial_record(example, self._clock(), suppressed=count, window_start_ms=start)
                self._add(record, None)
            self._close()
            batches, self._closed = self._closed, []
            owner_batches, self._owner_retries = self._owner_retries, []
            for batch in batches:
                if not batch.split:
                    owner_batches.extend(self._by_owner(batch))
                    batch.split = True
            results = await asyncio.gather(
                bounded(batches, self._write_log),
                bounded(owner_batches, self._write_owner),
            )
            self._closed = [batch for batch, done in zip(batches, results[0], strict=True) if not done] + self._closed
            for owner_batch, done in zip(owner_batches, results[1], strict=True):
                if not done:
                    owner_batch.stale = True
                    self._owner_retries.append(owner_batch)
            return sum(len(batch.records) for batch, done in zip(batches, results[0], strict=True) if done)

    @staticmethod
    def _by_owner(batch: _Batch) -> list[_OwnerBatch]:
        grouped: dict[str, _OwnerBatch] = {}
        for record, space in batch.records:
            if space is not None:
                grouped.setdefault(space.prefix, _OwnerBatch(space, [])).records.append(record)
        return list(grouped.values())

    async def _write_log(self, batch: _Batch) -> bool:
        records = [record for record, _space in batch.records]
        name = BatchName(batch.stamp, max(record.pos for record in records), self.replica, batch.seq)
        key = audit_log_batch(self._root, name)
        try:
            await self._put(key, records, timeout_ms=self.flush_ms + self.write_timeout_ms)
            return True
        except Exception:
            log.exception("audit batch %s could not be written; it is tried again at the next flush", key)
            return False

    async def _write_owner(self, batch: _OwnerBatch) -> bool:
        records = batch.records
        stamp = min(record.pos for record in records)
        if batch.stale:
            stamp, records = self._restamped(records)
        for _attempt in range(REWRITES + 1):
            deadline = stamp + self.flush_ms + self.write_timeout_ms
            if deadline <= self._now_ms():
                stamp, records = self._restamped(records)
                continue
            self._batches += 1
            name = BatchName(stamp, max(record.pos for record in records), self.replica, self._batches)
            key = owner_audit_batch(self._root, batch.space, name)
            try:
                await self._put(key, records, timeout_ms=deadline - self._now_ms())
            except Exception as exc:
                log.warning("owner audit batch %s not written (%s); written again under a fresh name", key, exc)
                stamp, records = self._restamped(records)
                continue
            if self._now_ms() <= deadline:
                return True
            # In the bucket, but after readers may have passed its place: once more where they will look.
            stamp, records = self._restamped(records)
        batch.records = records
        return False

    def _restamped(self, records: list[Record]) -> tuple[int, list[Record]]:
        stamp = max(self._now_ms(), self._last_pos)
        return stamp, [record.at_position(stamp) for record in records]

    async def _put(self, key: str, records: list[Record], *, timeout_ms: int) -> None:
        data = encode_batch(records)
        md5 = hashlib.md5(data, usedforsecurity=False).digest()
        async with asyncio.timeout(max(timeout_ms, 1) / 1000):
            await self._store.put(key, data, content_type=BATCH_CONTENT_TYPE, metadata={}, content_md5=md5)

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every interval until `stop` is set, then once more (what a clean shutdown owes)."""
        loop = asyncio.get_running_loop()
        interval = self.flush_ms / 1000
        tick = loop.time()
        while not stop.is_set():
            # On a fixed beat, not an interval after the last flush ended: a record waits one interval at most.
            tick = max(tick + interval, loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=tick - loop.time())
            try:
                await self.flush()
            except Exception:
                log.exception("writing the audit log failed; what is pending is tried again at the next flush")
        if self.pending:
            log.error("%d audit record(s) could not be written before shutdown", self.pending)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[AuditLog]:
        """Flushing in the background while the block runs; everything pending written when it ends."""
        stop = asyncio.Event()
        task = asyncio.create_task(self.run(stop))
        try:
            yield self
        finally:
            stop.set()
            await task
