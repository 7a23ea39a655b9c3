"""The one judge of what retention has removed: pure, with the moment of judgement passed in.

S3 lifecycle runs about once a day and may lag by days, so whatever a tier's rules would already have removed is
treated as gone at read time, and the janitor removes it for good where the backend does not. Every reader (a file,
a listing, a history page, a link) and the janitor ask this module, so the gateway never shows what the janitor
would delete, nor deletes what it shows.

Two questions come with less knowledge than a whole history:
- the current version of a file, read alone: gone once its tier's retention has passed since it was written;
- an old version read by id, without knowing when it was superseded: gone once it cannot exist any more.

`tags_needed_*` say when a version is too young for any tier to have removed it yet, so a read can skip fetching its
tags (one S3 call) without weakening the promise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.policy.tiers import Policy, Tier
from gateway.storage.store import VersionEntry

DAY_SECONDS = 86_400

# What the janitor does about a version the judge removed.
EXPIRE = "expire"  # a delete marker on top of the current version, as S3's Expiration does
DELETE = "delete"  # the exact version removed for good
_BEYOND_POLICY = "old version beyond its tier's policy"


@dataclass(frozen=True)
class Verdict:
    """What retention says of one entry of a key's history."""

    entry: VersionEntry
    tier: Tier | None
    visible: bool
    action: str | None = None
    reason: str | None = None


def _days(count: int, day_seconds: int) -> timedelta:
    return timedelta(seconds=count * day_seconds)


def expires_at(tier: Tier | None, created: datetime, day_seconds: int = DAY_SECONDS) -> datetime | None:
    """When the current version of a file written at `created` stops being current (None: never)."""
    if tier is None or tier.retention_days is None:
        return None
    return created + _days(tier.retention_days, day_seconds)


def current_is_gone(tier: Tier | None, created: datetime, now: datetime, day_seconds: int = DAY_SECONDS) -> bool:
    ends = expires_at(tier, created, day_seconds)
    return ends is not None and ends <= now


def noncurrent_is_gone(
    tier: Tier | None,
    superseded: datetime,
    now: datetime,
    day_seconds: int = DAY_SECONDS,
    *,
    newer_noncurrent: int,
) -> bool:
    """Whether an old version is past its tier's noncurrent policy: S3's NoncurrentVersionExpiration with
    NewerNoncurrentVersions. It was superseded at `superseded`, and `newer_noncurrent` old versions are newer."""
    if tier is None or (tier.noncurrent_days is None and tier.keep_versions is None):
        return False
    old_enough = tier.noncurrent_days is None or superseded + _days(tier.noncurrent_days, day_seconds) <= now
    beyond_kept = tier.keep_versions is None or newer_noncurrent >= tier.keep_versions
    return old_enough and beyond_kept


def _certain_bound(tier: Tier) -> int | None:
    """Days after its write by which a version of `tier` has certainly been removed, whatever came after it."""
    if tier.retention_days is None or tier.noncurrent_days is None or tier.keep_versions:
        return None  # without a bound in time, or when it may be among the versions kept by count
    return tier.retention_days + tier.noncurrent_days


def pinned_is_gone(tier: Tier | None, created: datetime, now: datetime, day_seconds: int = DAY_SECONDS) -> bool:
    """For a version read by id, without knowing when it was superseded: gone once it cannot exist any more.

    A version is superseded at the latest when its retention ends, and removed at the latest `noncurrent_days`
    after that.
    """
    bound = None if tier is None else _certain_bound(tier)
    return bound is not None and created + _days(bound, day_seconds) <= now


def kept_until(tier: Tier | None, now: datetime, day_seconds: int = DAY_SECONDS) -> datetime | None:
    """Until when retention keeps a version that is current at `now`, whatever happens to it next (None: for good).

    It can stop being current at once (a new write), and is then removed `noncurrent_days` later at the earliest;
    a tier that keeps a count of old versions without an age may remove it at any time, and an ephemeral one with
    its session. Snapshots that end before this moment need no copy of the version to keep it.
    """
    if tier is None:
        return None
    if tier.ends_with_session or (tier.noncurrent_days is None and tier.keep_versions is not None):
        return now
    if tier.noncurrent_days is None:
        return None
    return now + _days(tier.noncurrent_days, day_seconds)


def tags_needed_for_current(policy: Policy, created: datetime, now: datetime, day_seconds: int = DAY_SECONDS) -> bool:
    """Whether some tier could already have expired a current version written at `created`."""
    bounds = [tier.retention_days for tier in policy.tiers.values() if tier.retention_days is not None]
    return bool(bounds) and created + _days(min(bounds), day_seconds) <= now


def tags_needed_for_pinned(policy: Policy, created: datetime, now: datetime, day_seconds: int = DAY_SECONDS) -> bool:
    """Whether some tier could already have removed a version written at `created`, read by its id."""
    bounds = [bound for tier in policy.tiers.values() if (bound := _certain_bound(tier)) is not None]
    return bool(bounds) and created + _days(min(bounds), day_seconds) <= now


def judge_history(
    entries: Sequence[VersionEntry],
    tiers: Mapping[str, Tier | None],
    *,
    now: datetime,
    day_seconds: int = DAY_SECONDS,
    from_top: bool = True,
    session_ended: bool = False,
    expire_delete_markers: bool = False,
    pruned_tiers: frozenset[str] | None = None,
) -> list[Verdict]:
    """Verdicts for one key's history, newest first; `tiers` maps each version id to its tier.

    `from_top` is False for a page that starts below the newest entry: its first entry is then judged as a pinned
    version, and old versions are counted from the top of the page, which undercounts and so only ever shows more.
    `session_ended` removes the versions of tiers that end with their session. With `expire_delete_markers`, delete
    markers with no version left under them are removed too (they only clutter listings). With `pruned_tiers`, old
    versions past their tier's policy are removed only for those tiers: for the others the bucket's lifecycle rules
    remove them, and until then they are only hidden.
    """
    verdicts: list[Verdict] = []
    noncurrent_rank = 0
    newer: VersionEntry | None = None
    for index, entry in enumerate(entries):
        tier = tiers.get(entry.version_id)
        verdict = _judge_one(entry, tier, newer, index, noncurrent_rank, now, day_seconds, from_top, session_ended)
        if (
            verdict.reason == _BEYOND_POLICY
            and pruned_tiers is not None
            and (tier is None or tier.name not in pruned_tiers)
        ):
            verdict = Verdict(entry, tier, False)  # hidden; the bucket's own rules remove it
        verdicts.append(verdict)
        if not entry.is_delete_marker and (index > 0 or not from_top):
            noncurrent_rank += 1
        newer = entry
    if expire_delete_markers and from_top:
        left = [v for v in verdicts if v.action != DELETE]
        if left and all(v.entry.is_delete_marker for v in left):
            removed = {v.entry.version_id for v in left}
            verdicts = [
                Verdict(v.entry, v.tier, False, DELETE, "delete marker with no versions left")
                if v.entry.version_id in removed
                else v
                for v in verdicts
            ]
    return verdicts


def _judge_one(
    entry: VersionEntry,
    tier: Tier | None,
    newer: VersionEntry | None,
    index: int,
    rank: int,
    now: datetime,
    day_seconds: int,
    from_top: bool,
    session_ended: bool,
) -> Verdict:
    if entry.is_delete_marker:
        return Verdict(entry, None, True)
    if session_ended and tier is not None and tier.ends_with_session:
        return Verdict(entry, tier, False, DELETE, "ephemeral file of an ended session")
    if index == 0 and from_top:
        if current_is_gone(tier, entry.last_modified, now, day_seconds):
            return Verdict(entry, tier, False, EXPIRE, "past its tier's retention")
        return Verdict(entry, tier, True)
    if newer is None:
        return Verdict(entry, tier, not pinned_is_gone(tier, entry.last_modified, now, day_seconds))
    if noncurrent_is_gone(tier, newer.last_modified, now, day_seconds, newer_noncurrent=rank):
        return Verdict(entry, tier, False, DELETE, _BEYOND_POLICY)
    return Verdict(entry, tier, True)
