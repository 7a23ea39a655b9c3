"""The janitor's recount of every usage ledger: what lifecycle rules, the janitor's own expiries, purges and crashed
writers changed without an entry is set right from the files themselves (`Ledger.recount`, whose error can only
be an over-count). Reservations older than `STALE_SECONDS` belonged to operations that died, and are removed."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.keys import OWNERS_DIR, UsageKeys, usage_keys_of_base
from gateway.quotas.ledger import Figures, Ledger
from gateway.storage.store import Store

STALE_SECONDS = 3600
LIST_PAGE = 1000


@dataclass(frozen=True)
class Recount:
    ledger: UsageKeys
    before: Figures | None
    after: Figures

    def describe(self) -> str:
        was = "never counted" if self.before is None else f"{self.before.bytes} bytes, {self.before.files} files"
        return f"usage of {self.ledger.prefix}: {was} -> {self.after.bytes} bytes, {self.after.files} files"


async def ledgers(store: Store, root: str) -> list[UsageKeys]:
    """Every ledger with a base record, from one listing of the owners' keys."""
    found, continuation = [], None
    owners = f"{root}/{OWNERS_DIR}" if root else OWNERS_DIR
    while True:
        page = await store.list_page(owners, delimiter=None, limit=LIST_PAGE, continuation=continuation)
        found += [keys for item in page.objects if (keys := usage_keys_of_base(root, item.key)) is not None]
        continuation = page.continuation
        if continuation is None:
            return found


async def recount_all(store: Store, ledger: Ledger, root: str, *, dry_run: bool) -> list[Recount]:
    """Recount every ledger, one at a time (each is a listing of its files); a dry run writes nothing."""
    stale_before = ledger.now_ms() - STALE_SECONDS * 1000
    done = []
    for keys in await ledgers(store, root):
        recounted = await ledger.recount(keys, stale_before_ms=stale_before, dry_run=dry_run)
        done.append(Recount(keys, recounted.before, recounted.after))
    return done
