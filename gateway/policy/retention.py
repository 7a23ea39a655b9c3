"""What a tier promises, in time: when a version stops being readable.

S3 lifecycle runs about once a day and may lag by days, so the gateway applies the same arithmetic at read time
and treats what S3 would already have removed as gone, whether or not S3 has got round to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from gateway.policy.tiers import TIER_TAG, Policy, Tier

DAY_SECONDS = 86_400


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


def version_is_certainly_gone(
    tier: Tier | None, created: datetime, now: datetime, day_seconds: int = DAY_SECONDS
) -> bool:
    """For a version read by id, without knowing when it was superseded: gone once it cannot exist any more.

    A version is superseded at the latest when its retention ends, and removed at the latest `noncurrent_days`
    after that.
    """
    if tier is None or tier.retention_days is None or tier.noncurrent_days is None or tier.keep_versions:
        return False  # without a bound in time, or when it may be among the versions kept by count
    return created + _days(tier.retention_days + tier.noncurrent_days, day_seconds) <= now


def tier_of(policy: Policy, tags: Mapping[str, str]) -> Tier | None:
    """The tier a version's tags name. None for untagged objects (written around the gateway) and for tiers the
    policy no longer has: no lifecycle rule matches them either, so nothing expires them."""
    return policy.tiers.get(tags.get(TIER_TAG, ""))


def tier_for_new_file(
    policy: Policy,
    path: str,
    *,
    explicit: str | None,
    session_default: str | None,
    folder_defaults: Mapping[str, str],
) -> str:
    """The tier of a new file: asked for, else its nearest folder's default, else the session's, else the policy's."""
    if explicit:
        return policy.tier(explicit).name
    folders = [folder for folder in folder_defaults if path.startswith(folder)]
    if folders:
        return folder_defaults[max(folders, key=len)]
    return session_default or policy.default_tier
