"""Conditional writes (`If-Match`, `If-None-Match: *`) that hold across gateway replicas on any versioned S3.

Some backends ignore conditional headers on versioned buckets (Ceph RGW 16), and a lock inside one process does not
cover other replicas. Instead the gateway relies on what every versioned bucket gives: a total order of the
versions of a key.

1. Before writing, check the precondition against the current version and remember its id: the *base*. The same
   look (the newest two entries and a HEAD of the current version, sent together) judges the head itself.
2. Write the new version, recording the base in its metadata.
3. Find the entry just below the new version. When that entry is not the base, another write got in first: the
   new version is withdrawn (that exact version is deleted) and the client gets 412. When it is, the write wins
   if the new version is still listed, which shows the answer describes the history it is part of. One short
   listing of the top of the history usually answers both at once (the new version beside its neighbour, in one
   consistent look); where it cannot be exact (delete markers among the entries, which some backends list out of
   order, or a version deeper than the page), a one-entry listing below a version marker and a walk from the top
   answer them one after the other.

Of several writers with the same base, only the one written first has the base directly below it, so exactly one
wins, and withdrawing losers never moves a winner. A loser is visible for the moment between its write and its
withdrawal; if its gateway dies in between, the next conditional write on the key sees that the head's recorded
base is not the version below it, withdraws it on the loser's behalf, and goes on.

ETags are digests of the bytes, as S3 makes them: `If-Match` holds for any version with the same content, so a
write whose base has the same bytes as the one the client read still succeeds. That is the HTTP meaning of a
strong ETag; clients that must notice any write in between compare `version_id`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import NoReturn

from gateway.errors import BadRequest, ObjectMissing, PreconditionFailed, StoreError
from gateway.storage.store import ObjectInfo, Store, VersionEntry

BASE_METADATA = "gateway-base"
# Stands for "no version at all" as a base, so that every base is a non-empty string.
NO_VERSION = "-"
MAX_WITHDRAWALS = 5
# Entries read from the top of a key's history to settle a conditional write: the new version and the one under
# it, with room for a few rivals written on top meanwhile. Deeper than that, two more precise looks are taken.
SETTLE_PAGE = 4


@dataclass(frozen=True)
class Precondition:
    if_match: frozenset[str] | None = None
    if_none_match_any: bool = False
    # The head must be exactly this version (the janitor's expiry of a version it judged).
    if_version: str | None = None

    @property
    def conditional(self) -> bool:
        return self.if_match is not None or self.if_none_match_any or self.if_version is not None

    @classmethod
    def from_headers(cls, if_match: str | None, if_none_match: str | None) -> Precondition:
        if if_none_match is not None and if_none_match.strip() != "*":
            raise BadRequest("on writes only 'If-None-Match: *' is supported")
        tags = None
        if if_match is not None:
            tags = frozenset(normalise_etag(tag) for tag in if_match.split(",") if tag.strip())
            if not tags:
                raise BadRequest("If-Match needs at least one ETag or '*'")
        return cls(if_match=tags, if_none_match_any=if_none_match is not None)


@dataclass(frozen=True)
class Checked:
    """The head a precondition was checked against, and the base to record with the new version."""

    head: VersionEntry | None
    base: str


@dataclass(frozen=True)
class Settled:
    """A version that won its place in the key's history."""

    version: ObjectInfo
    replaced: bool
    # The entry the version was written on top of (None: the key had no history).
    below: VersionEntry | None = None


def normalise_etag(tag: str) -> str:
    """Compare ETags by value: strip whitespace, a weak prefix and quotes."""
    tag = tag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    return tag.strip('"')


def none_match_holds(header: str, etag: str) -> bool:
    """Whether `If-None-Match: header` is false for a representation with `etag` (RFC 9110 13.1.2): `*` matches any
    current representation, and a list matches when any member does, by weak comparison (`W/` ignored)."""
    members = [member.strip() for member in header.split(",") if member.strip()]
    return "*" in members or normalise_etag(etag) in {normalise_etag(member) for member in members}


def matches(tags: frozenset[str], etag: str | None) -> bool:
    return etag is not None and ("*" in tags or normalise_etag(etag) in tags)


async def check(store: Store, key: str, precondition: Precondition) -> Checked:
    """Check `precondition` against the current head of `key`; return it and the base to record."""
    for _ in range(MAX_WITHDRAWALS):
        try:
            latest, lost = await _head_and_verdict(store, key)
            if not lost:
                break
            assert latest is not None
            await store.delete_version(key, latest.version_id)
        except ObjectMissing:
            continue  # withdrawn by its own writer meanwhile: look again
    else:
        raise PreconditionFailed("concurrent writes to this file are still settling; retry")
    exists = latest is not None and not latest.is_delete_marker
    if precondition.if_none_match_any and exists:
        raise PreconditionFailed("a file already exists at this path (If-None-Match: *)")
    if precondition.if_match is not None:
        if latest is None or latest.is_delete_marker:
            raise PreconditionFailed("no file exists at this path (If-Match)")
        if not matches(precondition.if_match, latest.etag):
            raise PreconditionFailed(f"the file's current ETag is {latest.etag} (If-Match)")
    if precondition.if_version is not None and (latest is None or latest.version_id != precondition.if_version):
        raise PreconditionFailed("the file changed since it was judged")
    return Checked(head=latest, base=latest.version_id if latest is not None else NO_VERSION)


async def settle(
    store: Store,
    key: str,
    version_id: str | None,
    base: str | None,
    *,
    known: ObjectInfo | None = None,
    prior: VersionEntry | object | None = ...,
    marker: bool = False,
) -> Settled:
    """Confirm the version just written; withdraw it and raise 412 when a conditional write lost the race.

    `known` is what the write itself reported of the new version (no HEAD is then needed); `prior` the head seen
    before an unconditional write (no look below is then needed: nobody withdraws such a write). A delete marker
    (`marker`) is only ever withdrawn by its own writer, so it needs no listed-check either.
    """
    if version_id is None:
        # A backend that does not report new version ids (Ceph RGW on copies) leaves only the head to go by;
        # such writes are unconditional, so there is no race to judge.
        if base is not None:
            raise StoreError("the storage backend did not report the new version id")
        latest = await store.latest_entry(key)
        if latest is None or latest.is_delete_marker:
            raise StoreError("the version just written is missing")
        version_id = latest.version_id
    if base is None:
        below = prior if isinstance(prior, VersionEntry | None) else await store.entry_below(key, version_id)
    else:
        below = await _judge(store, key, version_id, base, marker=marker)
    replaced = below is not None and not below.is_delete_marker
    if known is not None and known.version_id == version_id:
        return Settled(version=known, replaced=replaced, below=below)
    try:
        mine = await store.head(key, version_id)
    except ObjectMissing:
        _withdrawn(base)
    return Settled(version=mine, replaced=replaced, below=below)


async def _judge(store: Store, key: str, version_id: str, base: str, *, marker: bool) -> VersionEntry | None:
    """The entry under a conditional write's new version, once it is sure the write won; 412 otherwise."""
    top, complete = await store.top_entries(key, SETTLE_PAGE)
    ids = [entry.version_id for entry in top]
    # Delete markers among the entries may be out of order on some backends.
    exact = not any(entry.is_delete_marker for entry in top)
    index = ids.index(version_id) if version_id in ids else None
    if exact and index is not None and (index + 1 < len(top) or complete):
        # One listing showed the new version with the entry under it (or the end of the history): the version
        # was listed while its neighbour was read, so both questions are answered at once.
        below = top[index + 1] if index + 1 < len(top) else None
        seen_listed = True
    elif exact and complete:
        _withdrawn(base)  # the whole history, without the new version: a rival took it away
    else:
        below = await store.entry_below(key, version_id)
        seen_listed = False
    if not _is(below, base):
        await store.delete_version(key, version_id)
        raise PreconditionFailed("another write to this file won the race; nothing was changed")
    # A rival may have withdrawn it already (only conditional writes are withdrawn). Versions leave the listing
    # for good, so one still listed now was listed while `below` was read.
    if not seen_listed and not marker and not await store.is_listed(key, version_id, under=base):
        _withdrawn(base)
    return below


def _withdrawn(base: str | None) -> NoReturn:
    """The version just written is gone: only a rival that saw it lose takes a conditional write away."""
    if base is None:
        raise StoreError("the version just written is missing")
    raise PreconditionFailed("another write to this file won the race; nothing was changed")


def _is(entry: VersionEntry | None, base: str) -> bool:
    return (entry.version_id if entry else NO_VERSION) == base


async def _head_and_verdict(store: Store, key: str) -> tuple[VersionEntry | None, bool]:
    """The newest entry of `key`, and whether it is a conditional write that lost its race and was left behind.

    One round trip in the usual case: the newest two entries (one listing, so one consistent look) and a HEAD of
    the current version (for the base it recorded) at once. When the two disagree, because a write landed between
    them, the head is judged by its version id alone.
    """
    (top, complete), current = await asyncio.gather(store.top_entries(key, 2), _current_or_none(store, key))
    latest = top[0] if top else None
    if latest is None or latest.is_delete_marker:
        return latest, False
    if current is not None and current.version_id == latest.version_id and (len(top) == 2 or complete):
        return latest, _lost(current, top[1] if len(top) == 2 else None)
    return latest, await _lost_race(store, key, latest.version_id)


async def _current_or_none(store: Store, key: str) -> ObjectInfo | None:
    try:
        return await store.head(key, believe_missing=True)  # the listing beside it tells what is really there
    except ObjectMissing:
        return None


def _lost(version: ObjectInfo, below: VersionEntry | None) -> bool:
    base = version.metadata.get(BASE_METADATA)
    return base is not None and not _is(below, base)


async def _lost_race(store: Store, key: str, version_id: str) -> bool:
    """Whether `version_id` is a conditional write whose base is not the entry below it.

    A version already withdrawn may still be judged here; deleting it again changes nothing, and one judged a
    winner in error is only taken as the head, so the write based on it loses its own race.
    """
    below, version = await asyncio.gather(store.entry_below(key, version_id), store.head(key, version_id))
    return _lost(version, below)
