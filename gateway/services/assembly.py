"""Putting the services together: one change hook, one write step, and the services that share them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.changes import ChangeHook
from gateway.policy.janitor import Janitor
from gateway.policy.tiers import Policy
from gateway.services.files import Files
from gateway.services.sessions import Sessions
from gateway.settings import Settings
from gateway.storage.store import Store
from gateway.storage.writes import CautiousTraits, Traits, VersionWriter


@dataclass(frozen=True)
class Core:
    hook: ChangeHook
    writer: VersionWriter
    janitor: Janitor
    sessions: Sessions
    files: Files


def assemble(
    store: Store,
    settings: Settings,
    policy: Policy,
    *,
    traits: Traits | None = None,
    hook: ChangeHook | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Core:
    """The services of one process on `store`. Without `traits`, the write step assumes the least of the backend."""
    hook = hook or ChangeHook()
    now = clock or (lambda: datetime.now(UTC))
    writer = VersionWriter(
        store,
        traits=traits or CautiousTraits(),
        max_bytes=settings.max_upload_bytes,
        threshold=settings.multipart_threshold_bytes,
    )
    janitor = Janitor(store, settings, policy, writer=writer, hook=hook, clock=now)
    sessions = Sessions(store, policy, writer=writer, hook=hook, janitor=janitor, clock=now)
    files = Files(store, settings, policy, sessions=sessions, writer=writer, hook=hook, clock=now)
    return Core(hook=hook, writer=writer, janitor=janitor, sessions=sessions, files=files)
