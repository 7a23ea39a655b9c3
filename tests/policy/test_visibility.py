"""The visibility judge: what retention has removed, judged the same way for readers and for the janitor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.policy import visibility
from gateway.policy.tiers import Policy, Tier
from gateway.storage.store import VersionEntry

DAY = 86_400
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _tier(name: str, retention: int | None, noncurrent: int | None, keep: int | None, ends: bool = False) -> Tier:
    return Tier(name, name, retention, noncurrent, keep, (), ends)


SHORT = _tier("short", 7, 1, 0, ends=True)
STANDARD = _tier("standard", 30, 30, 2)
FOREVER = _tier("forever", None, None, None)
POLICY = Policy("test", {t.name: t for t in (SHORT, STANDARD, FOREVER)}, "standard", 1, True)


def _entry(version: str, day: float, *, latest: bool = False, marker: bool = False) -> VersionEntry:
    return VersionEntry(
        key="k",
        version_id=version,
        is_latest=latest,
        is_delete_marker=marker,
        etag=None if marker else '"e"',
        size=None if marker else 1,
        last_modified=T0 + timedelta(days=day),
    )


def test_current_version_goes_when_its_retention_passes() -> None:
    assert not visibility.current_is_gone(STANDARD, T0, T0 + timedelta(days=29, hours=23))
    assert visibility.current_is_gone(STANDARD, T0, T0 + timedelta(days=30))
    assert not visibility.current_is_gone(FOREVER, T0, T0 + timedelta(days=10_000))
    assert not visibility.current_is_gone(None, T0, T0 + timedelta(days=10_000))  # untagged: no rule matches
    assert visibility.expires_at(STANDARD, T0) == T0 + timedelta(days=30)
    assert visibility.expires_at(FOREVER, T0) is None


def test_a_short_day_shortens_everything() -> None:
    assert visibility.current_is_gone(STANDARD, T0, T0 + timedelta(seconds=300), day_seconds=10)
    assert not visibility.current_is_gone(STANDARD, T0, T0 + timedelta(seconds=299), day_seconds=10)


def test_pinned_versions_go_only_when_certainly_removed() -> None:
    # short: retention 7 + noncurrent 1, keeps none by count: certainly gone after 8 days.
    assert not visibility.pinned_is_gone(SHORT, T0, T0 + timedelta(days=7, hours=23))
    assert visibility.pinned_is_gone(SHORT, T0, T0 + timedelta(days=8))
    # standard keeps 2 old versions by count, so no age proves an old version gone.
    assert not visibility.pinned_is_gone(STANDARD, T0, T0 + timedelta(days=10_000))


def test_tags_are_needed_only_once_some_tier_could_have_removed_the_version() -> None:
    assert not visibility.tags_needed_for_current(POLICY, T0, T0 + timedelta(days=6, hours=23))
    assert visibility.tags_needed_for_current(POLICY, T0, T0 + timedelta(days=7))
    assert not visibility.tags_needed_for_pinned(POLICY, T0, T0 + timedelta(days=7, hours=23))
    assert visibility.tags_needed_for_pinned(POLICY, T0, T0 + timedelta(days=8))
    keep_only = Policy("p", {"f": FOREVER}, "f", 1, True)
    assert not visibility.tags_needed_for_current(keep_only, T0, T0 + timedelta(days=100_000))
    assert not visibility.tags_needed_for_pinned(keep_only, T0, T0 + timedelta(days=100_000))


def test_history_keeps_the_newest_old_versions_and_removes_older_ones_past_noncurrent_days() -> None:
    entries = [_entry("v5", 100, latest=True)] + [_entry(f"v{i}", 10 * i) for i in (4, 3, 2, 1)]
    tiers = {e.version_id: STANDARD for e in entries}
    verdicts = visibility.judge_history(entries, tiers, now=T0 + timedelta(days=110))
    assert [(v.entry.version_id, v.visible, v.action) for v in verdicts] == [
        ("v5", True, None),
        ("v4", True, None),  # the two newest old versions are kept, whatever their age
        ("v3", True, None),
        ("v2", False, visibility.DELETE),  # superseded at day 30, noncurrent for 80 days, beyond the 2 kept
        ("v1", False, visibility.DELETE),
    ]


def test_an_old_version_superseded_recently_is_kept() -> None:
    entries = [_entry("v3", 100, latest=True), _entry("v2", 99), _entry("v1", 98), _entry("v0", 1)]
    tiers = {e.version_id: STANDARD for e in entries}
    verdicts = visibility.judge_history(entries, tiers, now=T0 + timedelta(days=110))
    # v0 is third among old versions but was superseded at day 98: only 12 days noncurrent.
    assert all(v.visible for v in verdicts)


def test_expired_current_version_is_expired_not_deleted() -> None:
    entries = [_entry("v1", 0, latest=True)]
    verdicts = visibility.judge_history(entries, {"v1": STANDARD}, now=T0 + timedelta(days=31))
    assert (verdicts[0].visible, verdicts[0].action) == (False, visibility.EXPIRE)


def test_a_page_below_the_top_judges_its_first_entry_as_pinned() -> None:
    entries = [_entry("v2", 0), _entry("v1", 0)]
    tiers = {"v2": SHORT, "v1": SHORT}
    verdicts = visibility.judge_history(entries, tiers, now=T0 + timedelta(days=9), from_top=False)
    assert [v.visible for v in verdicts] == [False, False]
    fresh = visibility.judge_history(entries, tiers, now=T0 + timedelta(days=2), from_top=False)
    assert fresh[0].visible  # not yet certainly gone


def test_ended_sessions_lose_their_ephemeral_versions_and_markers_left_alone_go_too() -> None:
    entries = [_entry("m", 2, latest=True, marker=True), _entry("v2", 1), _entry("v1", 0)]
    tiers = {"v2": SHORT, "v1": SHORT}
    verdicts = visibility.judge_history(
        entries, tiers, now=T0 + timedelta(days=3), session_ended=True, expire_delete_markers=True
    )
    assert [(v.entry.version_id, v.action) for v in verdicts] == [
        ("m", visibility.DELETE),
        ("v2", visibility.DELETE),
        ("v1", visibility.DELETE),
    ]
    kept = visibility.judge_history(entries, {"v2": FOREVER, "v1": FOREVER}, now=T0, session_ended=True)
    assert all(v.action is None for v in kept)


def test_untagged_versions_are_never_removed() -> None:
    entries = [_entry("v2", 0, latest=True), _entry("v1", 0)]
    verdicts = visibility.judge_history(entries, {}, now=T0 + timedelta(days=100_000))
    assert all(v.visible and v.action is None for v in verdicts)


def test_how_long_retention_keeps_a_version_current_now() -> None:
    # Until its tier could remove it at the earliest: noncurrent_days after it stops being current, which may be now.
    assert visibility.kept_until(STANDARD, T0) == T0 + timedelta(days=30)
    assert visibility.kept_until(STANDARD, T0, day_seconds=2) == T0 + timedelta(seconds=60)
    # Tiers that never remove old versions, and untagged versions: for good.
    assert visibility.kept_until(FOREVER, T0) is None
    assert visibility.kept_until(None, T0) is None
    # Gone with its session, or by a count alone (no age): it may go at any time.
    assert visibility.kept_until(SHORT, T0) == T0
    assert visibility.kept_until(_tier("count", None, None, 3), T0) == T0
