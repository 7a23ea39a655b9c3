"""A session's files as they were at a moment: for each path, the version that was its head then.

`session_files_as_of` walks the session's version listing a page at a time (memory stays at one page, however
many files and versions there are) and yields, per path, the version current at `at` (or now). A path whose head
at `at` was a delete marker, or no entry yet, yields nothing. Retention is judged at `now` by the one judge
(`gateway.policy.visibility`): a version that retention has removed since, or would have, is not brought back.

Forks use it; the files of a session as of a moment are also what an export as of a moment needs, so this module
says only that and nothing about what a caller does with them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from gateway.keys import SessionKeys
from gateway.policy import visibility
from gateway.policy.tiers import Policy, Tier, tier_of
from gateway.storage.store import Store, VersionEntry
from gateway.storage.tagging import tags_of


@dataclass(frozen=True)
class SnapshotFile:
    """A file as it was at the moment asked for: its path, the exact version, its tags and tier."""

    path: str
    version: VersionEntry
    tags: Mapping[str, str]
    tier: Tier | None


def head_at(history: Sequence[VersionEntry], at: datetime | None) -> VersionEntry | None:
    """The entry of one key's history (newest first) that was its head at `at` (None: now).

    By time rather than by place in the listing: some backends list a key's delete markers apart from its versions,
    so the newest entry written by `at` is the one with the latest time; entries of the same instant keep the
    listing's order, newest first.
    """
    if at is None:
        return history[0] if history else None
    written = [(entry.last_modified, -index, entry) for index, entry in enumerate(history) if entry.last_modified <= at]
    return max(written, key=lambda found: (found[0], found[1]))[2] if written else None


async def session_files_as_of(
    store: Store,
    policy: Policy,
    keys: SessionKeys,
    *,
    at: datetime | None,
    now: datetime,
    day_seconds: int = visibility.DAY_SECONDS,
    session_ended: bool = False,
) -> AsyncGenerator[SnapshotFile, None]:
    """The files of the session at `keys` as they were at `at` (None: its current files), in path order.

    One ListObjectVersions per 1,000 entries, and a GetObjectTagging per file yielded (16 at a time): the tier of
    the version decides whether retention has removed it by `now`. `session_ended` also removes the versions of
    tiers that end with their session, as the janitor does.
    """
    pending: list[list[VersionEntry]] = []
    history: list[VersionEntry] = []
    async for page in store.version_pages(keys.files_prefix):
        for entry in page:
            if history and entry.key != history[0].key:
                pending.append(history)
                history = []
            history.append(entry)
        # Histories that ended on this page are judged now; the last one may go on in the next page.
        for found in await _judged(store, policy, keys, pending, at, now, day_seconds, session_ended):
            yield found
        pending = []
    if history:
        for found in await _judged(store, policy, keys, [history], at, now, day_seconds, session_ended):
            yield found


async def _judged(
    store: Store,
    policy: Policy,
    keys: SessionKeys,
    histories: list[list[VersionEntry]],
    at: datetime | None,
    now: datetime,
    day_seconds: int,
    session_ended: bool,
) -> list[SnapshotFile]:
    chosen = [(history, head_at(history, at)) for history in histories]
    live = [(history, head) for history, head in chosen if head is not None and not head.is_delete_marker]
    found_tags = await tags_of(store, [(head.key, head.version_id) for _, head in live])
    files = []
    for (history, head), tags in zip(live, found_tags, strict=True):
        tier = tier_of(policy, tags)
        # The judge needs the tier of the version it is asked about only; the others' do not change its verdict.
        verdicts = visibility.judge_history(
            history, {head.version_id: tier}, now=now, day_seconds=day_seconds, session_ended=session_ended
        )
        if any(v.entry.version_id == head.version_id and v.visible for v in verdicts):
            files.append(SnapshotFile(keys.path_of(head.key), head, tags, tier))
    return files
