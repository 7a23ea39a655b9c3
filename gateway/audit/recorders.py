"""One process's audit log, session audit, event feed and webhooks, made from the settings and run together."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from gateway.audit.log import AuditLog
from gateway.audit.reading import SessionAudit
from gateway.auth.cursors import CursorSealer
from gateway.changes import ChangeHook
from gateway.events.feed import EventFeed
from gateway.events.webhooks import Webhooks
from gateway.settings import Settings
from gateway.storage.store import Store


@dataclass(frozen=True)
class Recorders:
    log: AuditLog
    sessions: SessionAudit
    events: EventFeed
    webhooks: Webhooks | None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Recorders]:
        """The log flushing in the background; at the end, the webhooks' last deliveries (or their dead letters),
        then everything the log still holds."""
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(self.log.running())
            if self.webhooks is not None:
                await stack.enter_async_context(self.webhooks.running())
            yield self


def recorders_of(
    store: Store, settings: Settings, hook: ChangeHook, cursors: CursorSealer, clock: Callable[[], datetime]
) -> Recorders:
    """The recorders of one process, the log subscribed to `hook` and the webhooks (when configured) to the log."""
    log = AuditLog(
        store,
        root=settings.key_root,
        flush_seconds=settings.audit_flush_seconds,
        write_timeout_seconds=settings.audit_write_timeout_seconds,
        denials_per_minute=settings.audit_denials_per_minute,
        clock=clock,
    )
    hook.subscribe(log.listener)
    webhooks = None
    if settings.webhook_urls and settings.webhook_secret is not None:
        webhooks = Webhooks(
            store,
            root=settings.key_root,
            urls=settings.webhook_urls,
            secret=settings.webhook_secret,
            attempts=settings.webhook_attempts,
            backoff_seconds=settings.webhook_backoff_seconds,
            timeout_seconds=settings.webhook_timeout_seconds,
            replica=log.replica,
            clock=clock,
        )
        log.followers.append(webhooks.follow)
    sessions = SessionAudit(store, root=settings.key_root, cursors=cursors, flush_ms=log.flush_ms, clock=clock)
    events = EventFeed(
        store,
        root=settings.key_root,
        cursors=cursors,
        flush_ms=log.flush_ms,
        settle_ms=round(settings.settle_seconds * 1000),
        clock=clock,
    )
    return Recorders(log, sessions, events, webhooks)
