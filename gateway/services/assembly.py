"""Putting the services together: one change hook, one write step, and the services that share them."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.audit.recorders import Recorders, recorders_of
from gateway.auth.cursors import CursorSealer
from gateway.changes import ChangeHook
from gateway.errors import SettingsError
from gateway.imports.archive import ArchiveImports
from gateway.imports.zipread import Limits
from gateway.index.activity import ActivityTracker
from gateway.index.catalog import SessionIndex
from gateway.index.upkeep import SessionUpkeep
from gateway.policy.janitor import Janitor
from gateway.policy.tiers import Policy
from gateway.projects.cleanup import ProjectCleanup
from gateway.projects.service import Projects
from gateway.quotas.gate import Quotas
from gateway.quotas.ledger import Ledger
from gateway.quotas.limits import QuotaPolicy, load_quotas
from gateway.recovery.restoring import Restorer
from gateway.recovery.snapshots import SessionSnapshots
from gateway.resumable.service import Uploads
from gateway.resumable.sweep import UploadSweep
from gateway.services.exports import Exports
from gateway.services.files import Files
from gateway.services.forking import Forking
from gateway.services.grants import Grants
from gateway.services.moving import Moving
from gateway.services.past import Past
from gateway.services.sessions import Sessions
from gateway.services.shares import Shares
from gateway.settings import Settings, env_name
from gateway.storage.store import Store
from gateway.storage.writes import CautiousTraits, Traits, VersionWriter


@dataclass(frozen=True)
class Core:
    hook: ChangeHook
    writer: VersionWriter
    janitor: Janitor
    sessions: Sessions
    files: Files
    # The files as they were at a moment: one file, or a listing page.
    past: Past
    grants: Grants
    # Only with the deployment's owner key (a server has it; commands that need no links do not).
    shares: Shares | None
    moving: Moving
    forking: Forking
    exports: Exports
    imports: ArchiveImports
    snapshots: SessionSnapshots
    restorer: Restorer
    index: SessionIndex
    activity: ActivityTracker
    quotas: Quotas
    projects: Projects
    uploads: Uploads
    # The audit log, the event feed and the webhooks: run `recorders.running()` around the work, so that what is
    # pending is written at the end.
    recorders: Recorders


def export_tier(settings: Settings, policy: Policy) -> str:
    """The tier of built exports: the configured one, else the policy's first tier that ends with its session (an
    export is a copy for taking away, not a thing to keep), else its default tier."""
    if settings.export_tier is not None:
        if settings.export_tier not in policy.tiers:
            raise SettingsError(
                f"{env_name('export_tier')}: {settings.export_tier!r} is not a tier of {policy.source}; "
                f"valid tiers: {', '.join(policy.names)}"
            )
        return settings.export_tier
    scratch = [tier.name for tier in policy.tiers.values() if tier.ends_with_session]
    return scratch[0] if scratch else policy.default_tier


def assemble(
    store: Store,
    settings: Settings,
    policy: Policy,
    *,
    traits: Traits | None = None,
    hook: ChangeHook | None = None,
    cursors: CursorSealer | None = None,
    clock: Callable[[], datetime] | None = None,
    owner_key: bytes | None = None,
    quota_policy: QuotaPolicy | None = None,
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
    snapshots = SessionSnapshots(store, settings, policy, writer=writer, hook=hook, clock=now)
    janitor = Janitor(store, settings, policy, writer=writer, hook=hook, snapshots=snapshots, clock=now)
    sessions = Sessions(store, policy, cursors=cursors, writer=writer, hook=hook, janitor=janitor, clock=now)
    files = Files(store, settings, policy, cursors, sessions=sessions, writer=writer, hook=hook, clock=now)
    past = Past(store, settings, policy, cursors, files=files, clock=now)
    grants = Grants(store, writer, hook, now)
    shares = None
    if owner_key is not None:
        shares = Shares(store, writer, files, hook, now, root=settings.key_root, owner_key=owner_key)
    exports = Exports(
        store, settings, policy, writer=writer, tier=export_tier(settings, policy), snapshots=snapshots, clock=now
    )
    moving = Moving(store, settings, policy, sessions=sessions, files=files, writer=writer, hook=hook, clock=now)
    forking = Forking(store, settings, policy, sessions=sessions, moving=moving, clock=now)
    index = SessionIndex(store, writer, settings.key_root, read_truth=sessions.summary, clock=now)
    sessions.index = index
    activity = ActivityTracker(store, settings.key_root, index, interval=settings.activity_interval_seconds, clock=now)
    # The index hears of every change to a record before the request answers (a listing right after it shows it);
    # file changes reach it through the activity tracker, at most once per interval.
    janitor.upkeep = SessionUpkeep(store, settings, sessions, index, clock=now)
    hook.subscribe(index.listener)
    hook.subscribe(activity.listener)
    quotas = Quotas(quota_policy or load_quotas(settings), Ledger(store, writer, now), root=settings.key_root)
    files.quotas = moving.quotas = quotas
    # What a session opened to others closes before it goes: a purge would leave their index entries behind.
    sessions.openings = [grants.revoke_all, *([shares.revoke_all] if shares is not None else [])]
    # Automatic snapshots before what removes or replaces files.
    sessions.snapshots = files.snapshots = moving.snapshots = snapshots
    projects = Projects(
        store, settings, writer=writer, hook=hook, sessions=sessions, index=index, cursors=cursors, clock=now
    )
    janitor.projects = ProjectCleanup(projects, root=settings.key_root, owner_key=owner_key, hook=hook, clock=now)
    restorer = Restorer(
        store,
        settings,
        policy,
        writer=writer,
        hook=hook,
        sessions=sessions,
        snapshots=snapshots,
        moving=moving,
        clock=now,
    )
    # Resumable uploads complete through the files' own admission and write step; the janitor ends expired ones.
    uploads = Uploads(store, settings, policy, files=files, sessions=sessions, writer=writer, hook=hook, clock=now)
    janitor.resumable = UploadSweep(store, settings, uploads, now)
    # Last on the hook, so that the audit log hears of a change once every other listener has.
    recorders = recorders_of(store, settings, hook, cursors, now)
    return Core(
        hook=hook,
        writer=writer,
        janitor=janitor,
        sessions=sessions,
        files=files,
        past=past,
        grants=grants,
        shares=shares,
        moving=moving,
        forking=forking,
        exports=exports,
        imports=ArchiveImports(files, writer, policy, Limits.of(settings), snapshots),
        snapshots=snapshots,
        restorer=restorer,
        index=index,
        activity=activity,
        quotas=quotas,
        projects=projects,
        uploads=uploads,
        recorders=recorders,
    )
