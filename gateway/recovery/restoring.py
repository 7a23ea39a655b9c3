"""Bringing a session, or a folder of it, back to a moment or to a snapshot.

The plan compares what should be (the files as they were at the moment, through the one walk and the one
visibility judge; or a snapshot's manifest) with what is now, path by path:
- **restore**: missing now, or different (another SHA-256 or tier): the old version comes back as a new version, a
  server-side copy through the one write step (from the version itself, or from the snapshot's protected copy);
- **delete**: there now but not then: a delete marker;
- **unchanged**: the same version, or the same bytes and tier.

A dry run stops at the plan. A real restore first takes a `before-restore` snapshot of what it will change (so it
can be undone by restoring that snapshot), then carries the plan out 16 files at a time. Each write is
conditional on the version the plan saw, so a file changed meanwhile is skipped (and named), never overwritten.
Repeating a restore finds nothing left to do; a restore cut short (a replica stopped) is finished by the next call
with the same moment and folder, which reuses the snapshot taken the first time: the snapshot's record remembers
the restore until it completes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gateway import changes
from gateway.changes import Actor, Change, ChangeHook
from gateway.errors import Conflict, InvalidBody, NotFound, ObjectMissing, PreconditionFailed, TooManyFiles
from gateway.keys import SessionKeys
from gateway.ordered import bounded
from gateway.policy.tiers import Policy
from gateway.recovery.copying import Source, bring
from gateway.recovery.records import BEFORE_RESTORE, READY, PendingRestore, SnapshotRecord
from gateway.recovery.snapshots import SessionSnapshots, folder_of
from gateway.services.files import require_active
from gateway.services.moving import Moving
from gateway.services.sessions import Sessions
from gateway.services.snapshot import Selection, SnapshotFile, Snapshots, selectors
from gateway.settings import Settings
from gateway.storage.preconditions import Precondition
from gateway.storage.store import Store
from gateway.storage.writes import CREATE_ONLY, CopyOf, DeleteMarker, Prepared, VersionWriter
from gateway.wire import iso

# Up to this many chosen paths, each is listed on its own; beyond, their folder is walked once.
EXACT_PATHS = 64
# How many paths of each kind an answer names; the counts are always whole.
SHOWN_PATHS = 1000


@dataclass(frozen=True)
class Wanted:
    """What one path should hold after the restore: an exact version to copy, and what identifies its content."""

    path: str
    size: int
    source_key: str
    source_version: str | None
    version_id: str | None  # the file's own version then, for telling an unchanged file
    sha256: str | None
    tier: str | None
    tags: dict[str, str]


@dataclass(frozen=True)
class Step:
    path: str
    key: str
    current: str | None  # the version there now (None: nothing)
    wanted: Wanted | None  # None: delete


@dataclass
class RestoreReport:
    dry_run: bool
    prefix: str
    at: str | None = None
    snapshot: str | None = None
    restore: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    undo_snapshot: str | None = None
    resumed: bool = False
    session_restored: bool = False

    @property
    def complete(self) -> bool:
        return not self.dry_run and not self.skipped


class Restorer:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        policy: Policy,
        *,
        writer: VersionWriter,
        hook: ChangeHook,
        sessions: Sessions,
        snapshots: SessionSnapshots,
        moving: Moving,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._settings = settings
        self._policy = policy
        self._writer = writer
        self._hook = hook
        self._sessions = sessions
        self._snapshots = snapshots
        self._moving = moving
        self._clock = clock

    async def to_moment(
        self, actor: Actor, keys: SessionKeys, *, at: datetime, prefix: str, dry_run: bool
    ) -> RestoreReport:
        """Bring the files under folder `prefix` ('' for all) back to what they were at `at`."""
        if at > self._clock():
            raise InvalidBody.field("at", "is in the future; a restore goes back to a moment that has passed")
        require_active(await self._sessions.read(keys))
        selection = Selection(folder_of(keys, prefix))
        now = self._clock()
        walk = Snapshots(self._store, self._settings, self._policy, clock=lambda: now)
        past = walk.files(keys, selectors(keys, selection), at=at)
        wanted = [_from_version(found) async for found in _bounded_walk(past, self._limit)]
        report = RestoreReport(dry_run=dry_run, prefix=selection.prefix, at=iso(at))
        job = PendingRestore(at=iso(at), snapshot=None, prefix=selection.prefix)
        await self._carry_out(actor, keys, selection, wanted, report, job, detail={"at": iso(at)})
        return report

    async def from_snapshot(self, actor: Actor, keys: SessionKeys, name: str, *, dry_run: bool) -> RestoreReport:
        """Bring the files a snapshot covers back to what it holds; a session deleted since comes back too."""
        record = await self._snapshots.get(keys, name)
        if record.state != READY:
            raise Conflict(f"the snapshot {name!r} is {record.state}; only a ready snapshot can be restored")
        report = RestoreReport(dry_run=dry_run, prefix=record.prefix, snapshot=name)
        if not dry_run:
            report.session_restored = await self._session_back(actor, keys, record)
        try:
            require_active(await self._sessions.read(keys))
        except NotFound:
            if not dry_run:
                raise
            # A dry run of a deleted session's snapshot: everything in it would come back.
        wanted: list[Wanted] = []
        async with contextlib.aclosing(self._snapshots.files(keys, record)) as saved_files:
            async for saved in saved_files:
                if len(wanted) >= self._limit:
                    raise TooManyFiles(self._limit)
                source_key, source_version = self._snapshots.source_of(keys, record, saved)
                wanted.append(
                    Wanted(
                        saved.path,
                        saved.size,
                        source_key,
                        source_version,
                        saved.version_id,
                        saved.sha256,
                        saved.tier,
                        dict(saved.tags),
                    )
                )
        job = PendingRestore(at=None, snapshot=name, prefix=record.prefix)
        selection = Selection(record.prefix, record.paths)
        await self._carry_out(actor, keys, selection, wanted, report, job, detail={"snapshot": name})
        return report

    @property
    def _limit(self) -> int:
        return self._settings.max_bulk_files

    async def _carry_out(
        self,
        actor: Actor,
        keys: SessionKeys,
        selection: Selection,
        wanted: list[Wanted],
        report: RestoreReport,
        job: PendingRestore,
        *,
        detail: dict[str, str],
    ) -> None:
        steps, current = await self._plan(keys, selection, wanted, report)
        if report.dry_run:
            return
        pending = await self._pending(keys, job)
        if pending is not None:
            report.resumed = True
            report.undo_snapshot = pending.name
        elif steps:
            # Only what the restore changes: restoring it puts back those files and removes those it creates, and
            # leaves the rest alone. The plan has just read those files, so the snapshot does not walk again.
            changed = Selection(selection.prefix, tuple(sorted(step.path for step in steps)))
            taken = await self._snapshots.before(
                actor, keys, changed, BEFORE_RESTORE, restore=job, files=[current[s.path] for s in steps if s.current]
            )
            report.undo_snapshot = taken.name if taken else None

        async def one(step: Step) -> None:
            why = await self._apply(actor, keys, step, detail)
            if why is not None:
                report.skipped.append((step.path, why))

        await bounded(steps, one)
        report.skipped.sort()
        if not report.skipped and report.undo_snapshot is not None:
            await self._snapshots.mark_restored(keys, report.undo_snapshot)

    async def _plan(
        self, keys: SessionKeys, selection: Selection, wanted: list[Wanted], report: RestoreReport
    ) -> tuple[list[Step], dict[str, SnapshotFile]]:
        """The steps, and the files there now (by path) that they replace or remove."""
        now = self._clock()
        walk = Snapshots(self._store, self._settings, self._policy, clock=lambda: now)
        many = len(selection.paths) > EXACT_PATHS
        # Many paths (a snapshot of what a restore changed): one walk of the folder, kept to the paths, rather than
        # a listing per path.
        chosen = selectors(keys, Selection(selection.prefix) if many else selection)
        found = _bounded_walk(walk.files(keys, chosen, at=None), self._limit)
        current = {item.path: item async for item in found if not many or _selected(item.path, selection)}
        replaced = dict(current)
        steps: list[Step] = []
        for item in wanted:
            there = current.pop(item.path, None)
            if there is not None and _same(item, there):
                report.unchanged += 1
                continue
            steps.append(Step(item.path, keys.file(item.path), there.version_id if there else None, item))
            report.restore.append(item.path)
        for path, there in current.items():
            steps.append(Step(path, there.key, there.version_id, None))
            report.delete.append(path)
        report.restore.sort()
        report.delete.sort()
        return steps, replaced

    async def _pending(self, keys: SessionKeys, job: PendingRestore) -> SnapshotRecord | None:
        """The snapshot of this very restore, taken by an earlier call that did not finish it."""
        for record in reversed(await self._snapshots.all(keys)):
            if (
                record.reason == BEFORE_RESTORE
                and record.state == READY
                and record.restore is not None
                and record.restore.completed_at is None
                and record.restore.same_job(job)
            ):
                return record
        return None

    async def _apply(self, actor: Actor, keys: SessionKeys, step: Step, detail: dict[str, str]) -> str | None:
        """Carry out one step; the reason it was skipped, or None when it was done."""
        try:
            precondition, prepared = await self._look(step)
            if step.wanted is None:
                written = await self._writer.write(
                    step.key, DeleteMarker(), precondition=precondition, prepared=prepared
                )
                action = changes.FILE_DELETED
            else:
                wanted = step.wanted
                written = await bring(
                    self._store,
                    self._writer,
                    step.key,
                    Source(wanted.source_key, wanted.source_version, wanted.size),
                    tags=wanted.tags,
                    precondition=precondition,
                    prepared=prepared,
                )
                action = changes.FILE_RESTORED
        except PreconditionFailed:
            return "changed since the plan was made; restore again to include it"
        except ObjectMissing:
            return "the version to restore is gone"
        await self._hook.announce(
            Change(
                action=action,
                actor=actor,
                key=step.key,
                session_id=keys.session_id,
                path=step.path,
                version_id=written.info.version_id,
                previous_version_id=step.current,
                detail={"restore": detail},
                at=self._clock(),
            )
        )
        return None

    async def _look(self, step: Step) -> tuple[Precondition, Prepared | None]:
        """The condition of a step's write: the version the plan saw, or, where it saw nothing, the same look a
        copy takes at its target (a file its tier's retention has removed is as good as none)."""
        if step.current is not None:
            return Precondition(if_version=step.current), None
        look = await self._moving.look(step.key)
        if look is None:
            raise PreconditionFailed("a file appeared there since the plan was made")
        return look

    async def _session_back(self, actor: Actor, keys: SessionKeys, record: SnapshotRecord) -> bool:
        """A session deleted since the snapshot: its record as it was then. False when the session exists."""
        head = await self._store.latest_entry(keys.record)
        if head is not None and not head.is_delete_marker:
            return False
        if record.record_version is None:
            raise NotFound("no such session")
        try:
            source = await self._store.head(keys.record, record.record_version)
        except ObjectMissing as exc:
            raise NotFound("no such session") from exc
        version = head.version_id if head is not None else None
        precondition = Precondition(if_version=version) if version else CREATE_ONLY
        try:
            written = await self._writer.write(
                keys.record, CopyOf(source), precondition=precondition, metadata=source.metadata
            )
        except PreconditionFailed:
            return False  # brought back by another call meanwhile
        await self._hook.announce(
            Change(
                action=changes.SESSION_RESTORED,
                actor=actor,
                key=keys.record,
                session_id=keys.session_id,
                version_id=written.info.version_id,
                detail={"snapshot": record.name},
                at=self._clock(),
            )
        )
        return True


def _selected(path: str, selection: Selection) -> bool:
    return any(path == chosen or (chosen.endswith("/") and path.startswith(chosen)) for chosen in selection.paths)


def _same(wanted: Wanted, there: SnapshotFile) -> bool:
    tier = there.tier.name if there.tier else None
    if wanted.tier != tier:
        return False
    if wanted.version_id is not None and wanted.version_id == there.version_id:
        return True
    return wanted.sha256 is not None and wanted.sha256 == there.sha256


def _from_version(found: SnapshotFile) -> Wanted:
    return Wanted(
        found.path,
        found.size,
        found.key,
        found.version_id,
        found.version_id,
        found.sha256,
        found.tier.name if found.tier else None,
        dict(found.tags),
    )


async def _bounded_walk(files: AsyncIterator[SnapshotFile], limit: int) -> AsyncIterator[SnapshotFile]:
    count = 0
    async for found in files:
        count += 1
        if count > limit:
            raise TooManyFiles(limit)
        yield found
