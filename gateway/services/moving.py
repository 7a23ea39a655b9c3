"""Copying and moving files or folders, inside one session or into another session of the same caller.

Every copy is a server-side copy of an exact version through the one write step (`CopyOf`): no bytes pass through
the gateway, and the copy keeps the source's content type, metadata (its SHA-256) and tags (its tier, and the
SHA-256 of multipart uploads); the write step puts the tags back where the backend drops them on copies. A move is
a copy, then a delete marker on the source through the same step, so the source's history stays.

In order, and nothing is written before the last check:
1. the sessions' records (both must exist; the target must be active, and for a move the source too), read
   while the plan below is made;
2. the plan: which files (a folder's are listed, at most `GATEWAY_MAX_BULK_FILES`, else 413), and their targets,
   whose paths are checked by `SessionKeys` (a folder onto itself or into its own subfolder is 400);
3. without `overwrite`, a look at every target (16 at a time): any that exists is a 409 naming them. The look is
   the first step of a conditional write, so a file that appears at a target after it still makes that write
   lose (412) rather than be replaced;
4. the copies, 16 at a time; for a move, each source is deleted only once its copy has settled, and only if it is
   still the version that was copied. After a failure no new file is started; the problem then lists what was
   done (`copied`, `moved`), what failed, and how many were not attempted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from gateway import changes
from gateway.changes import Actor, Change, ChangeHook
from gateway.errors import (
    GatewayError,
    InvalidBody,
    NotFound,
    ObjectMissing,
    PreconditionFailed,
    TargetExists,
    TooManyFiles,
)
from gateway.keys import SessionKeys
from gateway.ordered import bounded
from gateway.policy import visibility
from gateway.policy.tiers import Policy, tier_of
from gateway.quotas.gate import Charge, Quotas, added_by, charging, removed_by
from gateway.quotas.ledger import ZERO, Figures
from gateway.recovery.records import BEFORE_MOVE
from gateway.recovery.snapshots import SessionSnapshots
from gateway.services.files import Files, StoredVersion, require_active
from gateway.services.sessions import Sessions
from gateway.services.snapshot import Selection
from gateway.settings import Settings
from gateway.storage.preconditions import Precondition
from gateway.storage.store import Store, VersionEntry
from gateway.storage.writes import CREATE_ONLY, CopyOf, DeleteMarker, Prepared, VersionWriter, Written

CONCURRENCY = 16
# A conflict answer names at most this many targets (and says how many there are).
SHOWN_CONFLICTS = 100
UNCONDITIONAL = Precondition()

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Pair:
    """One file to copy: the exact source version, and where it goes."""

    source: StoredVersion
    source_path: str
    target_key: str
    target_path: str


@dataclass(frozen=True)
class Transferred:
    source_path: str
    target_path: str
    version_id: str | None  # the new version at the target
    source_version_id: str | None

    def wire(self) -> dict[str, Any]:
        return {"from": self.source_path, "to": self.target_path, "version_id": self.version_id}


@dataclass(frozen=True)
class TransferReport:
    """What a copy or move did: every file, in path order."""

    moved: bool
    to_session: str
    items: list[Transferred]


@dataclass
class _Progress:
    """How far a run of copies got, for the answer to a failure part-way."""

    done: dict[int, Transferred] = field(default_factory=dict)  # copied, or moved (copied and source deleted)
    copied_only: dict[int, Transferred] = field(default_factory=dict)  # moves whose source had to stay
    failed: list[tuple[Pair, BaseException]] = field(default_factory=list)
    not_attempted: int = 0


class Moving:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        policy: Policy,
        *,
        sessions: Sessions,
        files: Files,
        writer: VersionWriter,
        hook: ChangeHook,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._settings = settings
        self._policy = policy
        self._sessions = sessions
        self._files = files
        self._writer = writer
        self._hook = hook
        self._clock = clock
        # Set by the assembly: an automatic snapshot of what a move takes away; the quotas copies count against.
        self.snapshots: SessionSnapshots | None = None
        self.quotas: Quotas | None = None

    async def transfer(
        self,
        actor: Actor,
        source: SessionKeys,
        from_path: str,
        target: SessionKeys,
        to_path: str,
        *,
        overwrite: bool,
        move: bool,
    ) -> TransferReport:
        """Copy (or move) the file or folder `from_path` of `source` to `to_path` of `target`."""
        same = source.prefix == target.prefix
        both = (source,) if same else (source, target)
        # The records and the plan's reads are independent; a missing or ended session stops the plan at once.
        planning = asyncio.ensure_future(self._plan(source, from_path, target, to_path, same=same))
        try:
            for record in await asyncio.gather(*(self._sessions.read(keys) for keys in both)):
                # Copying out of an ended session only reads it; whatever is written to must be active.
                if move or record.id == target.session_id:
                    require_active(record)
            pairs = await planning
        except BaseException:
            planning.cancel()
            await asyncio.gather(planning, return_exceptions=True)
            raise
        looks = None if overwrite else await self._look_at_targets(pairs)
        # Every copy is in place before its source goes, so a move needs the room of its copies too. Replaced
        # targets are not looked at to save room: only what was really added is counted once it is done.
        reserve = Figures(sum(pair.source.info.size for pair in pairs), len(pairs))
        target_scopes = self._files.scopes(actor, target)
        source_scopes = self._files.scopes(actor, source) if move and not same else None
        async with (
            charging(self.quotas, target_scopes, reserve) as added,
            charging(self.quotas, source_scopes, ZERO) as taken,
        ):
            if move and pairs and self.snapshots is not None and not source.scope:
                # Sources are deleted once copied: what leaves stays recoverable beyond retention.
                await self.snapshots.before(actor, source, _moved(source, from_path, pairs), BEFORE_MOVE)
            progress = await self._carry_out(
                actor, source, target, pairs, looks, move=move, charges=(added, added if same else taken)
            )
        return TransferReport(move, target.session_id, [progress.done[i] for i in sorted(progress.done)])

    async def _plan(
        self, source: SessionKeys, from_path: str, target: SessionKeys, to_path: str, *, same: bool
    ) -> list[Pair]:
        # Both paths are checked before anything is read (as prefixes: a file's key may take every byte allowed).
        source.listing(from_path)
        target.listing(to_path)
        if not from_path.endswith("/"):
            key = source.file(from_path)
            try:
                found = await self._files.read_version(key, None)
            except ObjectMissing:
                found = None  # not a file: perhaps a folder
            if found is not None:
                path = source.path_of(key)
                if to_path.endswith("/"):
                    to_path = target.path_of(target.folder(to_path)) + path.rsplit("/", 1)[-1]
                target_key = target.file(to_path)
                if same and target_key == key:
                    raise InvalidBody.field("to", "names the same file as from")
                return [Pair(found, path, target_key, target.path_of(target_key))]
        folder, target_folder = source.folder(from_path), target.folder(to_path)
        if same and target_folder.startswith(folder):
            raise InvalidBody.field("to", "a folder cannot be copied or moved onto itself or into its own subfolder")
        keys = await self._folder_keys(folder)
        folder_path, target_folder_path = source.path_of(folder), target.path_of(target_folder)
        # Every target is built (and its path checked) before anything is read or written.
        targets = [target.file(target_folder_path + source.path_of(key)[len(folder_path) :]) for key in keys]
        if same and not set(targets).isdisjoint(keys):
            raise InvalidBody.field("to", "some targets are among the files being copied or moved")
        versions = await bounded(keys, self._current_or_none)
        pairs = [
            Pair(version, source.path_of(key), target_key, target.path_of(target_key))
            for key, target_key, version in zip(keys, targets, versions, strict=True)
            if version is not None
        ]
        if not pairs:
            raise NotFound("no such file or folder")
        return pairs

    async def _folder_keys(self, folder: str) -> list[str]:
        """The current files under `folder`, in key order; 413 past the limit, before anything else is read."""
        limit = self._settings.max_bulk_files
        keys: list[str] = []
        async for batch in self._store.current_keys(folder):
            keys += batch
            if len(keys) > limit:
                raise TooManyFiles(limit)
        return keys

    async def _current_or_none(self, key: str) -> StoredVersion | None:
        try:
            return await self._files.read_version(key, None)
        except ObjectMissing:
            return None  # deleted meanwhile, or removed by its tier's retention

    async def _look_at_targets(self, pairs: list[Pair]) -> list[tuple[Precondition, Prepared]]:
        """The first step of each target's conditional write; 409 when any target holds a file."""
        looks = await bounded(pairs, self._look)
        conflicts = [pair.target_path for pair, look in zip(pairs, looks, strict=True) if look is None]
        if conflicts:
            shown = conflicts[:SHOWN_CONFLICTS]
            raise TargetExists(
                f"{len(conflicts)} target(s) already exist, {shown[0]!r} first; send overwrite: true to replace "
                "them. Nothing was written",
                extra={"conflicts": shown, "conflict_count": len(conflicts)},
            )
        return [look for look in looks if look is not None]

    async def _look(self, pair: Pair) -> tuple[Precondition, Prepared] | None:
        return await self.look(pair.target_key)

    async def look(self, key: str) -> tuple[Precondition, Prepared] | None:
        """How to write `key` without replacing a file: None when one is there. Restores use it too."""
        try:
            return CREATE_ONLY, await self._writer.prepare(key, CREATE_ONLY)
        except PreconditionFailed:
            pass
        # Something is there; a file its tier's retention has removed is as good as none, and is replaced only if
        # it is still the head when the copy lands.
        head = await self._store.latest_entry(key)
        if head is None or head.is_delete_marker:
            precondition = CREATE_ONLY  # deleted meanwhile: look again
        elif await self._expired(head):
            precondition = Precondition(if_version=head.version_id)
        else:
            return None
        try:
            return precondition, await self._writer.prepare(key, precondition)
        except PreconditionFailed:
            return None

    async def _expired(self, head: VersionEntry) -> bool:
        now, day = self._clock(), self._settings.day_seconds
        if not visibility.tags_needed_for_current(self._policy, head.last_modified, now, day):
            return False
        try:
            tags = await self._store.get_tags(head.key, head.version_id)
        except ObjectMissing:
            return True
        return visibility.current_is_gone(tier_of(self._policy, tags), head.last_modified, now, day)

    async def copy_one(self, pair: Pair, look: tuple[Precondition, Prepared] | None) -> Written:
        """The server-side copy of one file through the write step, keeping its type, metadata and tags."""
        precondition, prepared = look or (UNCONDITIONAL, None)
        info = pair.source.info
        return await self._writer.write(
            pair.target_key,
            CopyOf(info),
            precondition=precondition,
            prepared=prepared,
            metadata=info.metadata,
            tags=pair.source.tags,
        )

    async def _carry_out(
        self,
        actor: Actor,
        source: SessionKeys,
        target: SessionKeys,
        pairs: list[Pair],
        looks: list[tuple[Precondition, Prepared]] | None,
        *,
        move: bool,
        charges: tuple[Charge, Charge],
    ) -> _Progress:
        progress = _Progress()

        async def one(index: int) -> None:
            if progress.failed:
                progress.not_attempted += 1
                return
            pair = pairs[index]
            try:
                written = await self.copy_one(pair, looks[index] if looks else None)
            except Exception as exc:  # any failure stops the run; the answer says what was done before it
                progress.failed.append((pair, exc))
                return
            charges[0].add(added_by(written))
            done = Transferred(pair.source_path, pair.target_path, written.info.version_id, pair.source.info.version_id)
            origin = {"session_id": source.session_id, "path": pair.source_path, "version_id": done.source_version_id}
            await self.announce_written(actor, target, written, {"moved_from" if move else "copied_from": origin})
            if move:
                try:
                    charges[1].add(removed_by(await self._delete_source(actor, source, target, pair, done)))
                except Exception as exc:
                    progress.copied_only[index] = done
                    progress.failed.append((pair, exc))
                    return
            progress.done[index] = done

        await bounded(range(len(pairs)), one)
        if progress.failed:
            raise _part_way(progress, move=move)
        return progress

    async def _delete_source(
        self, actor: Actor, source: SessionKeys, target: SessionKeys, pair: Pair, done: Transferred
    ) -> Written:
        """A delete marker on the source, only while it is still the version that was copied: a file written there
        meanwhile is kept (the move then fails for that file, with its copy in place)."""
        version_id, key = pair.source.info.version_id, pair.source.info.key
        try:
            marker = await self._writer.write(
                key, DeleteMarker(), precondition=Precondition(if_version=version_id) if version_id else UNCONDITIONAL
            )
        except PreconditionFailed as exc:
            raise PreconditionFailed("the source was written during the move: it was copied, and kept") from exc
        moved_to = {"session_id": target.session_id, "path": done.target_path, "version_id": done.version_id}
        await self._hook.announce(
            Change(
                action=changes.FILE_DELETED,
                actor=actor,
                key=key,
                session_id=source.session_id,
                path=pair.source_path,
                version_id=marker.info.version_id,
                previous_version_id=version_id,
                detail={"moved_to": moved_to},
                at=self._clock(),
            )
        )
        return marker

    async def announce_written(self, actor: Actor, keys: SessionKeys, written: Written, detail: dict[str, Any]) -> None:
        key = written.info.key
        await self._hook.announce(
            Change(
                action=changes.FILE_WRITTEN,
                actor=actor,
                key=key,
                session_id=keys.session_id,
                path=keys.path_of(key),
                version_id=written.info.version_id,
                previous_version_id=written.previous.version_id if written.previous else None,
                detail={"size": written.info.size, **detail},
                at=self._clock(),
            )
        )


def _moved(source: SessionKeys, from_path: str, pairs: list[Pair]) -> Selection:
    """What a move takes away: the one file, or the folder."""
    if len(pairs) == 1 and pairs[0].source_path.rstrip("/") == from_path.rstrip("/"):
        return Selection("", (pairs[0].source_path,))
    return Selection(source.path_of(source.folder(from_path)))


def _part_way(progress: _Progress, *, move: bool) -> GatewayError:
    """The first failure, carrying what was done before and beside it."""
    pair, first = progress.failed[0]
    report: dict[str, Any] = {
        "moved" if move else "copied": [progress.done[i].wire() for i in sorted(progress.done)],
        "failed": [{"from": p.source_path, "to": p.target_path, "detail": _detail(exc)} for p, exc in progress.failed],
        "not_attempted": progress.not_attempted,
    }
    if move:
        # Copied, but the source stayed (it changed meanwhile, or its delete failed): nothing is lost either way.
        report["copied"] = [progress.copied_only[i].wire() for i in sorted(progress.copied_only)]
    if isinstance(first, GatewayError):
        # The cause's own status and type, so that a client can tell a busy backend from a lost race.
        first.detail = f"{first.detail} (at {pair.source_path!r}); the files listed as done were done"
        first.extra.update(report)
        return first
    log.error("copying %s failed part-way", pair.source_path, exc_info=first)
    return GatewayError("the operation failed part-way; the files listed as done were done", extra=report)


def _detail(exc: BaseException) -> str:
    return exc.detail if isinstance(exc, GatewayError) else "internal error"
