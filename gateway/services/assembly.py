"""Putting the services together: one change hook, one write step, and the services that share them."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.auth.cursors import CursorSealer
from gateway.changes import ChangeHook
from gateway.imports.archive import ArchiveImports
from gateway.imports.zipread import Limits
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
    imports: ArchiveImports


def assemble(
    store: Store,
    settings: Settings,
    policy: Policy,
    *,
    traits: Traits | None = None,
    hook: ChangeHook | None = None,
    cursors: CursorSealer | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Core:
    """The services of one process on `store`. Without `traits`, the write step assumes the least of the backend.

    Without `cursors`, cursors are sealed with a key of this process alone: right for commands that hand none out
    (the janitor, `policies`), wrong for a server, whose replicas must share the key (`load_server_secret`).
    """
    hook = hook or ChangeHook()
    cursors = cursors or CursorSealer(os.urandom(32))
    now = clock or (lambda: datetime.now(UTC))
    writer = VersionWriter(
        store,
        traits=traits or CautiousTraits(),
        max_bytes=settings.max_upload_bytes,
        threshold=settings.multipart_threshold_bytes,
    )
    janitor = Janitor(store, settings, policy, writer=writer, hook=hook, clock=now)
    sessions = Sessions(store, policy, cursors=cursors, writer=writer, hook=hook, janitor=janitor, clock=now)
    files = Files(store, settings, policy, cursors, sessions=sessions, writer=writer, hook=hook, clock=now)
    imports = ArchiveImports(files, writer, policy, Limits.of(settings))
    return Core(hook=hook, writer=writer, janitor=janitor, sessions=sessions, files=files, imports=imports)
