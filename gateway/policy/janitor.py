"""`session-gateway janitor run`: enforce the tier promises that the backend's lifecycle engine does not.

It walks every version under the key root, judges each file's history against its tier, and removes exact
versions (or, for an expired current version, puts a checked delete marker on top). Every action names an exact
version, so the run is idempotent, and several replicas running it at once can only repeat each other's work:

- versions of ephemeral files of ended sessions: removed;
- a current version past its tier's retention: a delete marker on top, as S3's Expiration does (withdrawn again
  if a new write landed first, so nothing written after the check is hidden);
- old versions past the tier's noncurrent retention, beyond the newest N kept: removed (S3's
  NoncurrentVersionExpiration with NewerNoncurrentVersions), for the tiers whose rule in the bucket does not say
  exactly that: the bucket's lifecycle configuration is read once per run, because what a backend keeps of the
  rendered rules is what counts (Ceph RGW 16 and moto drop NewerNoncurrentVersions). `GATEWAY_S3_FLAVOR`, when
  set, stands for the bucket's rules;
- delete markers with no versions left under them: removed;
- exports (status records and zips, beside a session's files) older than `GATEWAY_EXPORT_TTL_SECONDS`: every
  version removed, whatever their tier's rules say (those are only a safety net for exports);
- multipart uploads left open longer than the bucket's `abort_incomplete_multipart_days`: aborted (S3's
  AbortIncompleteMultipartUpload, for backends whose lifecycle engine does not run);
- resumable uploads past their expiry: ended as a termination ends them (`gateway.resumable.sweep`), in the same
  phase; their multipart uploads are judged by that expiry, not by the rule above;
- projects: the records its walk passes are handed to `gateway.projects.cleanup`, which warns about those whose
  cleanup comes near and cleans up those that are due (a whole-bucket run only).
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from gateway import changes
from gateway.changes import SYSTEM_JANITOR, Change, ChangeHook
from gateway.errors import GatewayError, ObjectMissing, PreconditionFailed
from gateway.keys import (
    SESSION_RECORD_NAME,
    OwnerSpace,
    SessionKeys,
    is_export_key,
    project_record_of,
    session_prefix_of,
    snapshot_record_of,
)
from gateway.policy import lifecycle
from gateway.policy.tiers import Policy, tier_of
from gateway.policy.visibility import DELETE, EXPIRE, Verdict, judge_history
from gateway.settings import Settings
from gateway.storage.preconditions import Precondition
from gateway.storage.store import Store, VersionEntry
from gateway.storage.tagging import tags_of
from gateway.storage.writes import DeleteMarker, VersionWriter

if TYPE_CHECKING:
    from gateway.index.upkeep import SessionAction, SessionUpkeep
    from gateway.projects.cleanup import ProjectAction, ProjectCleanup
    from gateway.recovery.snapshots import SessionSnapshots
    from gateway.resumable.sweep import Seen, UploadSweep

ABORT = "abort"
DROP_SNAPSHOT = "drop-snapshot"
END_UPLOAD = "end-upload"
VERBS = {EXPIRE: "expire", DELETE: "delete", ABORT: "abort", DROP_SNAPSHOT: "remove snapshot", END_UPLOAD: "end"}


@dataclass(frozen=True)
class Action:
    # EXPIRE: a delete marker on top of `version_id`; DELETE: remove `version_id` for good;
    # ABORT: abort the multipart upload whose id is `version_id`; END_UPLOAD: end the resumable upload whose prefix
    # is `key` and id `version_id`
    kind: str
    key: str
    version_id: str
    reason: str

    def describe(self) -> str:
        if self.kind == DROP_SNAPSHOT:
            return f"{VERBS[self.kind]} {self.version_id} ({self.key}): {self.reason}"
        what = "upload" if self.kind in (ABORT, END_UPLOAD) else "version"
        return f"{VERBS[self.kind]} {self.key} {what} {self.version_id}: {self.reason}"


@dataclass
class Report:
    dry_run: bool
    actions: list[Action] = field(default_factory=list)
    withdrawn: int = 0  # expiries undone because a new version landed first
    unreadable_records: list[str] = field(default_factory=list)  # session records that are not valid JSON objects
    # Tiers whose old versions the janitor removes because the bucket's lifecycle rules do not.
    pruned_tiers: frozenset[str] = frozenset()
    # The care of sessions (`gateway.index.upkeep`): index repairs, idle sessions archived, orphans removed.
    sessions: list[SessionAction] = field(default_factory=list)
    # Projects warned about or cleaned up (`gateway.projects.cleanup`), and the records the walk passed.
    projects: list[ProjectAction] = field(default_factory=list)
    project_records: list[tuple[OwnerSpace, str]] = field(default_factory=list, repr=False)
    # What the walk passed under resumable uploads' prefixes, by prefix.
    uploads_seen: dict[str, Seen] = field(default_factory=dict, repr=False)

    def described(self) -> list[str]:
        return [a.describe() for a in self.actions] + [a.describe() for a in self.sessions + self.projects]

    def summary(self) -> str:
        counts = Counter(action.reason for action in self.actions)
        counts.update(Counter(action.kind for action in self.sessions))
        verb = "would take" if self.dry_run else "took"
        lines = [f"{verb} {len(self.actions) + len(self.sessions)} action(s)"] + [
            f"  {n:6d}  {reason}" for reason, n in counts.items()
        ]
        if self.withdrawn:
            lines.append(f"  {self.withdrawn:6d}  expiries withdrawn: the file was written again meanwhile")
        for kind, n in Counter(action.kind for action in self.projects).items():
            lines.append(f"  {n:6d}  project(s): {kind}")
        lines += [f"  unreadable session record (repair or delete it): {key}" for key in self.unreadable_records]
        if self.pruned_tiers:
            tiers = ", ".join(sorted(self.pruned_tiers))
            lines.append(f"old versions judged here for tier(s) {tiers}: the bucket's lifecycle rules leave them")
        return "\n".join(lines)


def _ends_with_session(verdict: Verdict) -> bool:
    """What ending a session removes at once: its ephemeral versions, and the markers they leave alone."""
    return verdict.entry.is_delete_marker or (verdict.tier is not None and verdict.tier.ends_with_session)


class Janitor:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        policy: Policy,
        *,
        writer: VersionWriter,
        hook: ChangeHook,
        snapshots: SessionSnapshots | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._snapshots = snapshots
        self._store = store
        self._settings = settings
        self._policy = policy
        self._writer = writer
        self._hook = hook
        self._clock = clock or (lambda: datetime.now(UTC))
        # Set by the assembly, which has the sessions and their index: the care of sessions, and the pass over
        # projects at the end of a whole-bucket run.
        self.upkeep: SessionUpkeep | None = None
        self.projects: ProjectCleanup | None = None
        # Set by the assembly: the care of resumable uploads.
        self.resumable: UploadSweep | None = None

    async def run(self, *, dry_run: bool, prefix: str | None = None, only_ephemeral: bool = False) -> Report:
        root = self._settings.key_root
        walk = prefix if prefix is not None else (root + "/" if root else "")
        pruned_tiers = frozenset() if only_ephemeral else await self.tiers_to_prune()
        report = Report(dry_run=dry_run, pruned_tiers=pruned_tiers)
        ended: dict[str, bool] = {}
        group: list[VersionEntry] = []
        async for page in self._store.version_pages(walk):
            for entry in page:
                if group and entry.key != group[0].key:
                    report.actions += await self._judge(group, ended, only_ephemeral, report)
                    group = []
                group.append(entry)
        if group:
            report.actions += await self._judge(group, ended, only_ephemeral, report)
        if not only_ephemeral:
            report.actions += await self._abandoned_uploads(walk, report)
        if not dry_run:
            await self._carry_out(walk, report)
        if self.projects is not None and prefix is None and not only_ephemeral:
            report.projects = await self.projects.sweep(report.project_records, dry_run=dry_run)
        if self.upkeep is not None and prefix is None and not only_ephemeral:
            report.sessions = (await self.upkeep.run(dry_run=dry_run)).actions
        return report

    async def tiers_to_prune(self) -> frozenset[str]:
        """The tiers whose old versions this janitor removes: those whose noncurrent promise is missing from the
        bucket's lifecycle rules, or only partly there (see `lifecycle.janitor_noncurrent_tiers`)."""
        root, flavor = self._settings.key_root, self._settings.s3_flavor
        rules: dict[str, Any] | None
        if flavor is not None:
            rules = lifecycle.rules_for(self._policy, key_root=root, flavor=flavor)
        else:
            rules = await self._store.get_lifecycle()
        return lifecycle.janitor_noncurrent_tiers(self._policy, rules, key_root=root)

    async def remove_ephemeral(self, keys: SessionKeys) -> Report:
        """Remove every version of the ephemeral files of one (ended) session."""
        return await self.run(dry_run=False, prefix=keys.files_prefix, only_ephemeral=True)

    async def _session_ended(self, session_prefix: str, cache: dict[str, bool], report: Report) -> bool:
        if session_prefix not in cache:
            record_key = session_prefix + SESSION_RECORD_NAME
            try:
                data, _ = await self._store.read_bytes(record_key)
                record = json.loads(data)
                # Archived sessions ended first: their ephemeral files go as well.
                cache[session_prefix] = isinstance(record, dict) and record.get("state") in ("ended", "archived")
            except ObjectMissing:
                cache[session_prefix] = False
            except (ValueError, RecursionError):
                # Written around the gateway, or before it refused such bodies: nothing is removed on its account.
                report.unreadable_records.append(record_key)
                cache[session_prefix] = False
        return cache[session_prefix]

    async def _judge(
        self, group: list[VersionEntry], ended: dict[str, bool], only_ephemeral: bool, report: Report
    ) -> list[Action]:
        """Actions for one key's history (newest first)."""
        key = group[0].key
        project = project_record_of(self._settings.key_root, key)
        if project is not None:
            if not group[0].is_delete_marker:
                report.project_records.append(project)
            return []
        if self.resumable is not None and self.resumable.note(report.uploads_seen, key, group):
            return []
        saved = snapshot_record_of(self._settings.key_root, key)
        if saved is not None:
            return [] if only_ephemeral else await self._expired_snapshot(group, *saved)
        if is_export_key(self._settings.key_root, key):
            return [] if only_ephemeral else self._expired_export(group)
        session_prefix = session_prefix_of(self._settings.key_root, key)
        if session_prefix is None:
            return []  # session records and anything else the gateway does not manage as a file
        versions = [entry for entry in group if not entry.is_delete_marker]
        tags = await tags_of(self._store, [(key, entry.version_id) for entry in versions])
        tiers = {
            entry.version_id: tier_of(self._policy, entry_tags)
            for entry, entry_tags in zip(versions, tags, strict=True)
        }
        verdicts = judge_history(
            group,
            tiers,
            now=self._clock(),
            day_seconds=self._settings.day_seconds,
            session_ended=await self._session_ended(session_prefix, ended, report),
            expire_delete_markers=self._policy.expire_delete_markers,
            pruned_tiers=report.pruned_tiers,
        )
        return [
            Action(verdict.action, key, verdict.entry.version_id, verdict.reason or "")
            for verdict in verdicts
            if verdict.action is not None and (not only_ephemeral or _ends_with_session(verdict))
        ]

    async def _expired_snapshot(self, group: list[VersionEntry], session_prefix: str, name: str) -> list[Action]:
        """An automatic snapshot past its keep time, or one a stopped replica left half-made or half-removed."""
        if self._snapshots is None or group[0].is_delete_marker:
            return []
        try:
            record = await self._snapshots.get(SessionKeys(session_prefix), name)
        except GatewayError:  # removed meanwhile, or damaged: nothing is removed on its account
            return []
        reason = self._snapshots.judge(record)
        return [] if reason is None else [Action(DROP_SNAPSHOT, group[0].key, name, reason)]

    def _expired_export(self, group: list[VersionEntry]) -> list[Action]:
        """Versions of an export's record or zip past the export's time to live (counted from each one's write)."""
        cutoff = self._clock() - timedelta(seconds=self._settings.export_ttl_seconds)
        return [
            Action(DELETE, entry.key, entry.version_id, "export past its time to live")
            for entry in group
            if entry.last_modified <= cutoff
        ]

    async def _abandoned_uploads(self, walk: str, report: Report) -> list[Action]:
        ended: list[Action] = []
        judged: set[str] = set()
        if self.resumable is not None:
            due, judged = await self.resumable.judge(report.uploads_seen)
            ended = [Action(END_UPLOAD, item.prefix, item.upload_id, item.reason) for item in due]
        days = self._policy.abort_incomplete_multipart_days
        cutoff = self._clock() - timedelta(seconds=days * self._settings.day_seconds)
        reason = f"multipart upload open for over {days} day(s)"
        return ended + [
            Action(ABORT, upload.key, upload.upload_id, reason)
            async for page in self._store.pending_uploads(walk)
            for upload in page
            if upload.initiated < cutoff and upload.upload_id not in judged
        ]

    async def _carry_out(self, walk: str, report: Report) -> None:
        deletions = [(a.key, a.version_id) for a in report.actions if a.kind == DELETE]
        await self._store.delete_versions(walk, deletions)
        for action in report.actions:
            if action.kind == DROP_SNAPSHOT and self._snapshots is not None:
                found = snapshot_record_of(self._settings.key_root, action.key)
                if found is not None:
                    await self._snapshots.expire(SessionKeys(found[0]), action.version_id)
            if action.kind == DELETE:
                await self._announce(changes.VERSION_REMOVED, action)
            if action.kind == ABORT:
                # Completed or aborted meanwhile (by another janitor, or the client) is as good.
                with contextlib.suppress(ObjectMissing):
                    await self._store.abort_multipart(action.key, action.version_id)
                await self._announce(changes.UPLOAD_ABORTED, action)
            if action.kind == END_UPLOAD and self.resumable is not None:
                # Announced as aborted by the upload's own ending, as a termination is.
                await self.resumable.end(action.key, action.reason)
        for action in report.actions:
            if action.kind == EXPIRE:
                if await self._expire(action):
                    await self._announce(changes.VERSION_EXPIRED, action)
                else:
                    report.withdrawn += 1

    async def _expire(self, action: Action) -> bool:
        """Put a delete marker on top of the expired version, unless a newer write got there first."""
        try:
            await self._writer.write(
                action.key, DeleteMarker(), precondition=Precondition(if_version=action.version_id)
            )
        except PreconditionFailed:
            return False
        return True

    async def _announce(self, what: str, action: Action) -> None:
        session_prefix = session_prefix_of(self._settings.key_root, action.key)
        session_id = session_prefix.rstrip("/").rsplit("/", 1)[-1] if session_prefix else None
        await self._hook.announce(
            Change(
                action=what,
                actor=SYSTEM_JANITOR,
                key=action.key,
                session_id=session_id,
                version_id=action.version_id,
                detail={"reason": action.reason},
                at=self._clock(),
            )
        )
