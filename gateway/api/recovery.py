"""HTTP handlers for recovery: restoring to a moment or to a snapshot, and the snapshots themselves.

All of them are the owner's: a grant opens files, not their history's safety net (404 for anyone else).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.context import actor_of, caller, json_body, json_response, services, session_keys
from gateway.api.recovery_models import (
    RestoreInput,
    RestoreResult,
    Snapshot,
    SnapshotDetail,
    SnapshotFile,
    SnapshotInput,
    SnapshotPage,
    SnapshotRestoreInput,
)
from gateway.auth.tokens import READ, WRITE
from gateway.recovery.records import MANUAL
from gateway.services.snapshot import Selection
from gateway.wire import page_limit

FILES_OPERATION = "snapshot-files"


async def restore_session(request: Request) -> Response:
    principal = await caller(request, WRITE)
    principal.require(READ)
    keys = session_keys(request, principal)
    body = await json_body(request, RestoreInput)
    report = await services(request).restorer.to_moment(
        actor_of(principal), keys, at=body.at, prefix=body.prefix, dry_run=body.dry_run
    )
    return json_response(RestoreResult.of(report))


async def create_snapshot(request: Request) -> Response:
    principal = await caller(request, WRITE)
    principal.require(READ)
    keys = session_keys(request, principal)
    body = await json_body(request, SnapshotInput)
    record = await services(request).snapshots.take(
        actor_of(principal), keys, name=body.name, selection=Selection(body.prefix), reason=MANUAL
    )
    location = f"/v1/sessions/{keys.session_id}/snapshots/{record.name}"
    return json_response(Snapshot.of(record), status=201, headers={"Location": location})


async def list_snapshots(request: Request) -> Response:
    principal = await caller(request, READ)
    keys = session_keys(request, principal)
    found = await services(request).snapshots.all(keys)
    return json_response(SnapshotPage(items=[Snapshot.of(record) for record in found]))


async def get_snapshot(request: Request) -> Response:
    principal = await caller(request, READ)
    keys = session_keys(request, principal)
    name = request.path_params["name"]
    found = services(request)
    limit = page_limit(request.query_params.get("limit"))
    cursor = request.query_params.get("cursor")
    # A cursor continues the listing of this very snapshot: a snapshot taken again under the name starts afresh.
    record = await found.snapshots.get(keys, name)
    binding = (FILES_OPERATION, keys.prefix, name, record.created_at)
    start = int(found.cursors.open(cursor, binding, expect=("start",))["start"]) if cursor else 0
    files, following = await found.snapshots.page(keys, record, limit=limit, start=start)
    next_cursor = found.cursors.seal({"start": str(following)}, binding) if following is not None else None
    return json_response(
        SnapshotDetail(
            snapshot=Snapshot.of(record), files=[SnapshotFile.of(saved) for saved in files], next_cursor=next_cursor
        )
    )


async def delete_snapshot(request: Request) -> Response:
    principal = await caller(request, WRITE)
    keys = session_keys(request, principal)
    await services(request).snapshots.delete(actor_of(principal), keys, request.path_params["name"])
    return Response(status_code=204)


async def restore_snapshot(request: Request) -> Response:
    principal = await caller(request, WRITE)
    principal.require(READ)
    keys = session_keys(request, principal)
    body = await json_body(request, SnapshotRestoreInput)
    report = await services(request).restorer.from_snapshot(
        actor_of(principal), keys, request.path_params["name"], dry_run=body.dry_run
    )
    return json_response(RestoreResult.of(report))
