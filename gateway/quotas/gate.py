"""Admission of writes against quotas: the one place that decides whether a write may store its bytes.

Services ask for a `Charge` before they write (`Quotas.charge`): the write's reservation is posted in every scope
of the tenant (its session, its user, its tenant) at once, and only then is each limited scope listed and summed,
with every reservation visible, the write's own and its rivals'. A scope over its limit refuses the write (413
`quota-exceeded`) and the reservations are removed: nothing was stored. Of writes admitted concurrently, the one
whose listing came last saw all the others' reservations (each posted its own before it listed), so together they
never pass a limit. Once the operation ends, whatever it did is posted (its exact figures, which it `add`s change
by change) and the reservation removed; an operation that changed nothing only removes its reservation.

When no limit applies to a tenant (the default: no limit anywhere), a charge is a no-op and costs no S3 call.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, field

from gateway.errors import QuotaExceeded
from gateway.keys import Owner, SessionKeys, UsageKeys, new_usage_nonce, owner_usage_scopes, usage_scopes
from gateway.quotas.ledger import COMPACT_AFTER, ZERO, Entry, Figures, Ledger, Reading
from gateway.quotas.limits import DIMENSIONS, Limits, QuotaPolicy
from gateway.storage.writes import Prepared, Written

# Admission tries again, with a fresh reservation, when only other writes' reservations stood in the way.
ADMISSION_ATTEMPTS = 4
BACKOFF_BASE_SECONDS = 0.02
BACKOFF_CAP_SECONDS = 0.2


@dataclass(frozen=True)
class Scopes:
    """Where a write is counted: the ledgers of its tenant, user and session, and the limits of its tenant."""

    limits: Limits
    ledgers: tuple[UsageKeys, ...]


class _Crowded(Exception):
    """A refusal that only reservations of writes under way caused."""

    def __init__(self, refusal: QuotaExceeded) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal


@dataclass(frozen=True)
class Tightest:
    """The scope with the least room, which caps a body of unknown length."""

    quota: str
    limit: int
    used: int


@dataclass
class Charge:
    """One operation's passage through the ledgers (`NO_CHARGE` when no limit applies). The operation adds the
    figures of each change it made (`add`); when it ends, whether it succeeded or not, `Quotas.charged` posts
    their sum and removes the reservations."""

    quotas: Quotas | None = None
    scopes: Scopes | None = None
    nonce: str = ""
    reserved: list[Entry] = field(default_factory=list)
    added: Figures = ZERO
    # A body of unknown length may add at most `cap` bytes (None: no cap); `tightest` says whose room that is.
    cap: int | None = None
    tightest: Tightest | None = None
    done: bool = False

    def add(self, figures: Figures) -> None:
        self.added += figures

    def capped(self, chunks: AsyncIterator[bytes], *, replacing: int = 0) -> AsyncIterator[bytes]:
        """`chunks`, refused (413, before the version is stored) once they hold more than the room reserved for
        them (plus `replacing`, the size of the file they replace)."""
        if self.cap is None or self.tightest is None:
            return chunks
        limit, tightest = self.cap + replacing, self.tightest

        async def counted() -> AsyncIterator[bytes]:
            total = 0
            async for chunk in chunks:
                total += len(chunk)
                if total > limit:
                    raise QuotaExceeded(tightest.quota, limit=tightest.limit, used=tightest.used, requested=total)
                yield chunk

        return counted()

    async def close(self) -> None:
        """Post what the operation changed (when it changed anything), then remove the reservations."""
        if self.done or self.quotas is None or self.scopes is None:
            self.done = True
            return
        self.done = True
        ledger = self.quotas.ledger
        if not self.added.zero:
            await asyncio.gather(*(ledger.post(keys, self.nonce, "c", self.added) for keys in self.scopes.ledgers))
        await ledger.remove(self.reserved)


NO_CHARGE = Charge(done=True)


def added_by(written: Written) -> Figures:
    """What a new version changed: its size less the one it replaced; one file more unless it replaced one."""
    if written.unchanged:
        return ZERO
    replaced = written.previous if written.replaced else None
    if replaced is None:
        return Figures(written.info.size, 1)
    return Figures(written.info.size - (replaced.size or 0), 0)


def room_for(look: Prepared | None, size: int) -> tuple[Figures, int]:
    """What to reserve for a version of `size` bytes at a key whose head `look` saw, and the size of the file it
    replaces: the bytes beyond that file's own (a file written again over itself needs no room), and one file more
    unless one is there. Negative room is never reserved: what a write frees counts once it is made."""
    replacing = look.head.size or 0 if look is not None and look.exists and look.head is not None else 0
    exists = look is not None and look.exists
    return Figures(max(0, size - replacing), 0 if exists else 1), replacing


def removed_by(written: Written) -> Figures:
    """What a delete marker changed: the file it hid, when it hid one."""
    replaced = written.previous if written.replaced else None
    return ZERO if replaced is None else Figures(-(replaced.size or 0), -1)


class Quotas:
    def __init__(self, policy: QuotaPolicy, ledger: Ledger, *, root: str) -> None:
        self.policy = policy
        self.ledger = ledger
        self._root = root
        self._random: Callable[[int], bytes] = os.urandom

    def scopes(self, tenant: str | None, keys: SessionKeys) -> Scopes | None:
        """The scopes a write into the session of `keys` by a user of `tenant` counts in; None when the tenant has
        no limit (then nothing is counted: no S3 call). The session's owner is charged, also for a grantee's write
        (grants stay inside one tenant)."""
        limits = self.policy.for_tenant(tenant)
        if not limits.any:
            return None
        return Scopes(limits, usage_scopes(self._root, keys.prefix))

    @asynccontextmanager
    async def charged(
        self, scopes: Scopes | None, reserve: Figures, *, headroom: bool = False
    ) -> AsyncIterator[Charge]:
        """Admit an operation that adds at most `reserve` (413 otherwise, with nothing stored), and count what it
        did once it ends: the body `add`s each change it made. With `headroom` (a body of unknown length), the
        bytes reserved are the room left, and `Charge.capped` holds the body to them."""
        charge = await self.admit(scopes, reserve, headroom=headroom)
        try:
            yield charge
        finally:
            await asyncio.shield(charge.close())

    async def admit(self, scopes: Scopes | None, reserve: Figures, *, headroom: bool = False) -> Charge:
        if scopes is None:
            return NO_CHARGE
        tightest = None
        if headroom:
            tightest = await self._headroom(scopes)
            if tightest is not None:
                reserve = Figures(max(0, tightest.limit - tightest.used), reserve.files)
        for attempt in range(ADMISSION_ATTEMPTS):
            charge = Charge(self, scopes, new_usage_nonce(self._random(10)), cap=reserve.bytes if tightest else None)
            charge.tightest = tightest
            try:
                await self._reserve(charge, reserve)
                return charge
            except _Crowded as crowded:
                # Refused only because of reservations of writes under way (some of them refused as well): a
                # moment later there may be room. A fresh reservation is checked again from the start.
                if attempt + 1 == ADMISSION_ATTEMPTS:
                    raise crowded.refusal from None
                ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
                await asyncio.sleep(random.uniform(0, ceiling))  # noqa: S311 (jitter, not secrets)
        raise AssertionError("unreachable")

    async def _reserve(self, charge: Charge, reserve: Figures) -> None:
        """Post the reservations, then check every limited scope with them in place; nothing is left on refusal."""
        assert charge.scopes is not None
        posted = await asyncio.gather(
            *(self.ledger.post(keys, charge.nonce, "r", reserve) for keys in charge.scopes.ledgers),
            return_exceptions=True,
        )
        charge.reserved = [entry for entry in posted if isinstance(entry, Entry)]
        try:
            for failure in posted:
                if isinstance(failure, BaseException):
                    raise failure
            if reserve.adds:
                await self._check(charge.scopes, reserve)
        except BaseException:
            await asyncio.shield(charge.close())
            raise

    async def _check(self, scopes: Scopes, reserve: Figures) -> None:
        limited = [keys for keys in scopes.ledgers if scopes.limits.scope_limited(keys.scope)]
        readings = await asyncio.gather(*(self.ledger.counted(keys) for keys in limited))
        crowded = None
        for keys, reading in zip(limited, readings, strict=True):
            self._compact_later(keys, reading)
            used, committed = reading.used, reading.committed
            for dimension in DIMENSIONS:
                limit = scopes.limits.of(keys.scope, dimension)
                wanted = reserve.of(dimension)
                if limit is None or wanted <= 0 or used.of(dimension) <= limit:
                    continue
                refusal = QuotaExceeded(
                    f"{keys.scope}.{dimension}", limit=limit, used=used.of(dimension) - wanted, requested=wanted
                )
                if committed.of(dimension) + wanted > limit:
                    raise refusal  # no room even when every write under way is done
                crowded = crowded or _Crowded(refusal)
        if crowded is not None:
            raise crowded

    async def _headroom(self, scopes: Scopes) -> Tightest | None:
        """The scope limiting bytes with the least room left (None: none limits bytes)."""
        limited = [keys for keys in scopes.ledgers if scopes.limits.of(keys.scope, "bytes") is not None]
        readings = await asyncio.gather(*(self.ledger.counted(keys) for keys in limited))
        found = []
        for keys, reading in zip(limited, readings, strict=True):
            limit = scopes.limits.of(keys.scope, "bytes")
            assert limit is not None
            found.append(Tightest(f"{keys.scope}.bytes", limit, reading.used.bytes))
        return min(found, key=lambda tight: tight.limit - tight.used, default=None)

    def _compact_later(self, keys: UsageKeys, reading: Reading) -> None:
        if len(reading.entries) > COMPACT_AFTER and reading.base is not None:
            task = asyncio.ensure_future(self.ledger.compact(keys))
            _background.add(task)
            task.add_done_callback(_finished)

    async def usage(self, owner: Owner, session_id: str | None) -> list[tuple[str, Figures | None, Limits]]:
        """The figures of the owner's tenant and user (and one session of theirs): from the ledgers when the
        tenant has limits, else counted from the files, except the tenant's (None): counting it would list every
        file of every user of the tenant, on any user's request."""
        limits = self.policy.for_tenant(owner.tenant)
        if session_id is not None:
            ledgers: tuple[UsageKeys, ...] = usage_scopes(self._root, owner.session(session_id).prefix)
        else:
            ledgers = owner_usage_scopes(owner)
        if limits.any:
            readings = await asyncio.gather(*(self.ledger.counted(keys) for keys in ledgers))
            for keys, reading in zip(ledgers, readings, strict=True):
                self._compact_later(keys, reading)  # scopes without a limit are read here, never by admission
            figures = [reading.used for reading in readings]
        else:
            counted = await asyncio.gather(*(self.ledger.count(keys) for keys in ledgers[1:]))
            return [(ledgers[0].scope, None, limits)] + [
                (keys.scope, found, limits) for keys, found in zip(ledgers[1:], counted, strict=True)
            ]
        return [(keys.scope, found, limits) for keys, found in zip(ledgers, figures, strict=True)]

    @asynccontextmanager
    async def removing_session(self, owner: Owner, session_id: str) -> AsyncIterator[None]:
        """Around a session's deletion or purge: its room goes back to its user and tenant at once. Like every
        change, it posts its reservation (of nothing) before the files go, which the recount relies on; the
        session's own ledger, kept outside its prefix so that a purge leaves it, says how much went."""
        limits = self.policy.for_tenant(owner.tenant)
        if not limits.any:
            yield
            return
        ledgers = usage_scopes(self._root, owner.session(session_id).prefix)
        async with self.charged(Scopes(limits, ledgers), ZERO) as charge:
            await self.ledger.counted(ledgers[2])  # a session never counted is counted now, while its files are there
            yield
            charge.add(-(await self.ledger.read(ledgers[2])).committed)


def charging(
    quotas: Quotas | None, scopes: Scopes | None, reserve: Figures, *, headroom: bool = False
) -> AbstractAsyncContextManager[Charge]:
    """`Quotas.charged`, or no charge at all where there are no quotas (services made without them)."""
    if quotas is None:
        return nullcontext(NO_CHARGE)
    return quotas.charged(scopes, reserve, headroom=headroom)


_background: set[asyncio.Future[None]] = set()


def _finished(task: asyncio.Future[None]) -> None:
    _background.discard(task)
    if not task.cancelled():
        task.exception()  # a compaction that lost is retried by the next writer; nothing to report
