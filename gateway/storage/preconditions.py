"""Conditional writes (`If-Match`, `If-None-Match: *`) that hold across gateway replicas on any versioned S3.

Some backends ignore conditional headers on versioned buckets (Ceph RGW 16), and a lock inside one process does not
cover other replicas. Instead the gateway relies on what every versioned bucket gives: a total order of the
versions of a key.

1. Before writing, check the precondition against the current version and take its id as the *base*, once that
   version is judged a winner (below). The same look (the top of the history and a HEAD of the current version,
   sent together) judges the head itself; a head judged a loser is withdrawn on its writer's behalf.
2. Write the new version, recording the base in its metadata.
3. Judge the new version: a winner keeps its place, a loser is withdrawn (that exact version is deleted) and the
   client gets 412. The write also wins only if the new version is still listed once judged, which shows the
   judgement describes the history it is part of.

**The judgement** is a pure function of the key's history, so every replica that reads it reaches the same
verdict at any moment. A version that records no base (an unconditional write) wins. A version with base `B` wins
when `B` is under it and every entry between the two is a loser: each records a base, and not `B`. An entry
between with no base, or with base `B`, is (or lies above) a winner written on `B` first: the version loses. So of
several writers with the same base exactly one wins, the first written.

Losers are withdrawn over time, so the entries between a version and its base only ever shrink; since a verdict
does not depend on losers, withdrawing them changes no verdict, and the writer's own judgement and any replica's
look at the head agree whenever they are taken. (Judging by the entry *directly* under a version did not: a
version written on top of a loser still being withdrawn lost in one look and won in the next, and one replica
withdrew the write its own writer had just confirmed.)

A delete marker records nothing, so one between a version and its base cannot be judged: the writer of the
version takes it for a winner and withdraws its own version (a 412 at worst, never a lost update), and a replica
looking at such a head waits a moment for the marker's writer to settle it. A version deep in the history, beyond
the page that the usual look reads, is reached by longer listings; backends that list delete markers apart from
versions are walked one entry at a time below a version marker, which is exact everywhere.

A loser is visible for the moment between its write and its withdrawal; if its gateway dies in between, the next
conditional write on the key judges the head, withdraws it on the loser's behalf, and goes on.

ETags are digests of the bytes, as S3 makes them: `If-Match` holds for any version with the same content, so a
write whose base has the same bytes as the one the client read still succeeds. That is the HTTP meaning of a
strong ETag; clients that must notice any write in between compare `version_id`.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from typing import Literal, NoReturn

from gateway.errors import BadRequest, ObjectMissing, PreconditionFailed, StoreError
from gateway.storage.store import ObjectInfo, Store, VersionEntry

BASE_METADATA = "gateway-base"
# Stands for "no version at all" as a base, so that every base is a non-empty string.
NO_VERSION = "-"
# Looks at the head before a check gives up (each may withdraw a loser, or wait for a delete marker to settle).
MAX_LOOKS = 8
# Entries read from the top of a key's history to judge a version: itself and the one under it, with room for a few
# rivals written on top meanwhile. Deeper histories are read with longer listings, up to the deepest.
SETTLE_PAGE = 4
DEEPER_PAGES = (64, 1000)
# Entries walked one at a time where a listing is inexact (delete markers listed apart from versions).
MAX_STEPS = 64
# A look that finds a delete marker still being judged waits this long times the look's number.
UNSETTLED_WAIT_SECONDS = 0.02


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
    # The entry the version was written on top of (None: the key had no history); for a conditional write, its
    # base (losers between the two are on their way out).
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
    for look in range(MAX_LOOKS):
        try:
            latest, verdict = await _head_and_verdict(store, key)
        except ObjectMissing:
            continue  # withdrawn by its own writer meanwhile: look again
        if verdict is Verdict.WON:
            break
        if verdict is Verdict.LOST:
            assert latest is not None
            await store.delete_version(key, latest.version_id)
        elif verdict is Verdict.UNSETTLED:
            await asyncio.sleep(UNSETTLED_WAIT_SECONDS * (look + 1))
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
    """The base entry under a conditional write's new version, once it is sure the write won; 412 otherwise."""
    top, complete = await store.top_entries(key, SETTLE_PAGE)
    standing = await _standing(store, key, version_id, base, top, complete)
    if standing.listed is False:
        _withdrawn(base)  # the whole top of the history, without the new version: a rival took it away
    if await _verdict(store, key, standing, base) is not Verdict.WON:
        # Unsettled counts as lost here: withdrawing one's own version is always safe, keeping it is not.
        await store.delete_version(key, version_id)
        raise PreconditionFailed("another write to this file won the race; nothing was changed")
    # A rival may have withdrawn it already (only conditional writes are withdrawn). Versions leave the listing
    # for good, so one still listed now was listed while its base was read.
    if standing.listed is None and not marker and not await store.is_listed(key, version_id, under=base):
        _withdrawn(base)
    return standing.base_entry


class Verdict(enum.Enum):
    WON = "won"
    LOST = "lost"
    # A delete marker lies between the version and its base: it records no base, so only its writer can judge it.
    UNSETTLED = "unsettled"
    # The version is no longer listed: withdrawn meanwhile.
    GONE = "gone"


@dataclass(frozen=True)
class Standing:
    """Where a version stands in its key's history, as one look (or one walk) found it."""

    # Whether the version was listed: None when a walk below it did not tell.
    listed: bool | None
    # The entries between the version and its base, newest first.
    between: tuple[VersionEntry, ...] = ()
    # Whether the base is under the version (no entry at all under it, for NO_VERSION); None: not found in the
    # deepest look, which tells nothing for sure.
    base_found: bool | None = False
    base_entry: VersionEntry | None = None


async def _standing(
    store: Store, key: str, version_id: str, base: str, top: list[VersionEntry], complete: bool
) -> Standing:
    """The entries between `version_id` and `base`, from `top` (a listing of the top of the history) when it reaches
    that far, else from longer listings."""
    for depth in (SETTLE_PAGE, *DEEPER_PAGES):
        if depth > SETTLE_PAGE:
            top, complete = await store.top_entries(key, depth)
        if any(entry.is_delete_marker for entry in top):
            # Delete markers among the entries may be out of order on some backends.
            return await _standing_by_steps(store, key, version_id, base)
        ids = [entry.version_id for entry in top]
        if version_id in ids:
            under = top[ids.index(version_id) + 1 :]
            for index, entry in enumerate(under):
                if entry.version_id == base:
                    return Standing(True, tuple(under[:index]), True, entry)
            if complete:
                return Standing(True, tuple(under), base == NO_VERSION)
        elif complete:
            return Standing(False)
    return Standing(version_id in ids or None, base_found=None)


async def _standing_by_steps(store: Store, key: str, version_id: str, base: str) -> Standing:
    """The entries between `version_id` and `base`, one listing each below a version marker (exact everywhere).

    A step below an entry withdrawn meanwhile finds nothing; the walk then tells nothing for sure.
    """
    between: list[VersionEntry] = []
    current = version_id
    for _ in range(MAX_STEPS):
        below = await store.entry_below(key, current)
        if _is(below, base):
            return Standing(None, tuple(between), True, below)
        if below is None:
            return Standing(None, tuple(between), False if current == version_id else None)
        between.append(below)
        current = below.version_id
    return Standing(None, tuple(between), None)


async def _verdict(store: Store, key: str, standing: Standing, base: str) -> Verdict:
    """The judgement of the module docstring, on what a look found."""
    if standing.listed is False:
        return Verdict.GONE
    if standing.base_found is None:
        return Verdict.UNSETTLED
    if not standing.base_found:
        return Verdict.LOST  # the base is not under it: a write that never saw the base, or one it was built on lost
    if any(entry.is_delete_marker for entry in standing.between):
        return Verdict.UNSETTLED
    bases = await asyncio.gather(*(_recorded_base(store, key, entry.version_id) for entry in standing.between))
    if any(recorded is None or recorded == base for recorded in bases):
        return Verdict.LOST
    return Verdict.WON


async def _recorded_base(store: Store, key: str, version_id: str) -> str | Literal[False] | None:
    """The base a version recorded (None: an unconditional write); False when it was withdrawn meanwhile, which
    only ever happens to losers."""
    try:
        return (await store.head(key, version_id)).metadata.get(BASE_METADATA)
    except ObjectMissing:
        return False


def _withdrawn(base: str | None) -> NoReturn:
    """The version just written is gone: only a rival that saw it lose takes a conditional write away."""
    if base is None:
        raise StoreError("the version just written is missing")
    raise PreconditionFailed("another write to this file won the race; nothing was changed")


def _is(entry: VersionEntry | None, base: str) -> bool:
    return (entry.version_id if entry else NO_VERSION) == base


async def _head_and_verdict(store: Store, key: str) -> tuple[VersionEntry | None, Verdict]:
    """The newest entry of `key`, and the judgement of it (a head left behind by a writer that lost its race and
    died is LOST).

    One round trip in the usual case: the top of the history (one listing, so one consistent look) and a HEAD of the
    current version (for the base it recorded) at once. When the two disagree, because a write landed between
    them, the newest entry is read by its id.
    """
    (top, complete), current = await asyncio.gather(store.top_entries(key, SETTLE_PAGE), _current_or_none(store, key))
    latest = top[0] if top else None
    if latest is None or latest.is_delete_marker:
        return latest, Verdict.WON  # a delete marker is judged by its own writer only
    if current is None or current.version_id != latest.version_id:
        current = await store.head(key, latest.version_id)
    base = current.metadata.get(BASE_METADATA)
    if base is None:
        return latest, Verdict.WON
    return latest, await _verdict(store, key, await _standing(store, key, latest.version_id, base, top, complete), base)


async def _current_or_none(store: Store, key: str) -> ObjectInfo | None:
    try:
        return await store.head(key, believe_missing=True)  # the listing beside it tells what is really there
    except ObjectMissing:
        return None
