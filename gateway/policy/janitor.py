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
- multipart uploads left open longer than the bucket's `abort_incomplete_multipart_days`: aborted (S3's
  AbortIncompleteMultipartUpload, for backends whose lifecycle engine does not run).
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.errors import ObjectMissing
from gateway.keys import SESSION_RECORD_NAME, SessionKeys, session_prefix_of
from gateway.policy import lifecycle, retention
from gateway.policy.tiers import Policy
from gateway.settings import Settings
from gateway.storage.store import Store, VersionEntry
from gateway.storage.tagging import tags_of

EXPIRE = "expire"
DELETE = "delete"
ABORT = "abort"
VERBS = {EXPIRE: "expire", DELETE: "delete", ABORT: "abort"}


@dataclass(frozen=True)
class Action:
    # EXPIRE: a delete marker on top of `version_id`; DELETE: remove `version_id` for good;
    # ABORT: abort the multipart upload whose id is `version_id`
    kind: str
    key: str
    version_id: str
    reason: str

    def describe(self) -> str:
        what = "upload" if self.kind == ABORT else "version"
        return f"{VERBS[self.kind]} {self.key} {what} {self.version_id}: {self.reason}"


@dataclass
class Report:
    dry_run: bool
    actions: list[Action] = field(default_factory=list)
    withdrawn: int = 0  # expiries undone because a new version landed first
    # Tiers whose old versions the janitor removes because the bucket's lifecycle rules do not.
    pruned_tiers: frozenset[str] = frozenset()

    def summary(self) -> str:
        counts = Counter(action.reason for action in self.actions)
        verb = "would take" if self.dry_run else "took"
        lines = [f"{verb} {len(self.actions)} action(s)"] + [f"  {n:6d}  {reason}" for reason, n in counts.items()]
        if self.withdrawn:
            lines.append(f"  {self.withdrawn:6d}  expiries withdrawn: the file was written again meanwhile")
        if self.pruned_tiers:
            tiers = ", ".join(sorted(self.pruned_tiers))
            lines.append(f"old versions judged here for tier(s) {tiers}: the bucket's lifecycle rules leave them")
        return "\n".join(lines)


class Janitor:
    def __init__(
        self, store: Store, settings: Settings, policy: Policy, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._store = store
        self._settings = settings
        self._policy = policy
        self._clock = clock or (lambda: datetime.now(UTC))

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
                    report.actions += await self._judge(group, ended, only_ephemeral, pruned_tiers)
                    group = []
                group.append(entry)
        if group:
            report.actions += await self._judge(group, ended, only_ephemeral, pruned_tiers)
        if not only_ephemeral:
            report.actions += await self._abandoned_uploads(walk)
        if not dry_run:
            await self._carry_out(walk, report)
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

    async def _session_ended(self, session_prefix: str, cache: dict[str, bool]) -> bool:
        if session_prefix not in cache:
            try:
                data, _ = await self._store.read_bytes(session_prefix + SESSION_RECORD_NAME)
                cache[session_prefix] = json.loads(data).get("state") == "ended"
            except ObjectMissing:
                cache[session_prefix] = False
        return cache[session_prefix]

    async def _judge(
        self, group: list[VersionEntry], ended: dict[str, bool], only_ephemeral: bool, pruned_tiers: frozenset[str]
    ) -> list[Action]:
        """Actions for one key's history (newest first)."""
        key = group[0].key
        session_prefix = session_prefix_of(self._settings.key_root, key)
        if session_prefix is None:
            return []  # session records and anything else the gateway does not manage as a file
        versions = [entry for entry in group if not entry.is_delete_marker]
        tags = await tags_of(self._store, [(key, entry.version_id) for entry in versions])
        tiers = {
            entry.version_id: retention.tier_of(self._policy, entry_tags)
            for entry, entry_tags in zip(versions, tags, strict=True)
        }
        session_ended = await self._session_ended(session_prefix, ended)
        now = self._clock()
        day = self._settings.day_seconds
        actions: list[Action] = []
        noncurrent_rank = 0
        for index, entry in enumerate(group):
            if entry.is_delete_marker:
                continue
            tier = tiers[entry.version_id]
            if tier is None:
                continue
            if session_ended and tier.ends_with_session:
                actions.append(Action(DELETE, key, entry.version_id, "ephemeral file of an ended session"))
                continue
            if only_ephemeral:
                continue
            if index == 0:
                if retention.current_is_gone(tier, entry.last_modified, now, day):
                    actions.append(Action(EXPIRE, key, entry.version_id, "past its tier's retention"))
                continue
            superseded = group[index - 1].last_modified
            gone = retention.noncurrent_is_gone(tier, superseded, now, day, newer_noncurrent=noncurrent_rank)
            if gone and tier.name in pruned_tiers:
                actions.append(Action(DELETE, key, entry.version_id, "old version beyond its tier's policy"))
            noncurrent_rank += 1
        removed = {action.version_id for action in actions if action.kind == DELETE}
        left = [entry for entry in group if entry.version_id not in removed]
        if self._policy.expire_delete_markers and left and all(entry.is_delete_marker for entry in left):
            actions += [Action(DELETE, key, entry.version_id, "delete marker with no versions left") for entry in left]
        return actions

    async def _abandoned_uploads(self, walk: str) -> list[Action]:
        days = self._policy.abort_incomplete_multipart_days
        cutoff = self._clock() - timedelta(seconds=days * self._settings.day_seconds)
        reason = f"multipart upload open for over {days} day(s)"
        return [
            Action(ABORT, upload.key, upload.upload_id, reason)
            async for page in self._store.pending_uploads(walk)
            for upload in page
            if upload.initiated < cutoff
        ]

    async def _carry_out(self, walk: str, report: Report) -> None:
        deletions = [(a.key, a.version_id) for a in report.actions if a.kind == DELETE]
        await self._store.delete_versions(walk, deletions)
        for action in report.actions:
            if action.kind == ABORT:
                # Completed or aborted meanwhile (by another janitor, or the client) is as good.
                with contextlib.suppress(ObjectMissing):
                    await self._store.abort_multipart(action.key, action.version_id)
        for action in report.actions:
            if action.kind == EXPIRE and not await self._expire(action):
                report.withdrawn += 1

    async def _expire(self, action: Action) -> bool:
        """Put a delete marker on top of the expired version, unless a newer write got there first."""
        marker = await self._store.delete_marking(action.key)
        if marker is None:
            return True
        below = await self._store.entry_below(action.key, marker)
        if below is not None and below.version_id == action.version_id:
            return True
        await self._store.delete_version(action.key, marker)
        return False
