"""`session-gateway audit export`: the operators' stream of a time range as JSON lines on stdout.

Exit 0 when the range was read to its end, 1 when the bucket could not be read, 2 for arguments it cannot use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from gateway.audit.records import Record

if TYPE_CHECKING:
    from gateway.storage.store import Store
from gateway.errors import GatewayError
from gateway.settings import Settings
from gateway.wire import moment


def _moment(raw: str) -> datetime:
    try:
        return moment(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_command(commands: Any) -> None:
    audit = commands.add_parser("audit", help="the audit log of every replica")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    export = actions.add_parser(
        "export",
        help="write the records of a time range as JSON lines to stdout",
        description="Every committed change and denied request logged from --since to --until (both included), "
        "oldest first, one JSON object per line (docs/audit.md). Exit 0 once the range is read to its end.",
    )
    export.add_argument("--since", required=True, type=_moment, help="RFC 3339 date-time, e.g. 2026-01-31T00:00:00Z")
    export.add_argument("--until", type=_moment, help="RFC 3339 date-time (default: now)")
    export.add_argument("--tenant", help="only records of this tenant (the value of the tenant claim)")


def run_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    settings = Settings.from_env()
    if not settings.bucket:
        print("session-gateway: GATEWAY_BUCKET: required", file=sys.stderr)
        return 1
    until = args.until or datetime.now(UTC)
    if args.since > until:
        print("session-gateway: --since is after --until", file=sys.stderr)
        return 2

    async def run() -> int:
        from gateway.storage.store import Store

        async with Store(settings) as store:
            return await export(store, settings, args.since, until, args.tenant, out or sys.stdout)

    try:
        count = asyncio.run(run())
    except GatewayError as exc:
        print(f"session-gateway: {exc.detail}", file=sys.stderr)
        return 1
    print(f"{count} record(s)", file=sys.stderr)
    return 0


async def export(
    store: Store, settings: Settings, since: datetime, until: datetime, tenant: str | None, out: TextIO
) -> int:
    """Write the records to `out`; returns how many."""
    from gateway.audit.reading import log_records
    from gateway.auth.server_key import find_owner_key
    from gateway.keys import tenant_label

    keep: Callable[[Record], bool] = _everything
    if tenant is not None:
        owner_key = await find_owner_key(store, settings)
        # Owners are named by opaque segments, a tenant's first. No owner key: no owner yet, only denials.
        keep = _of_tenant(tenant, tenant_label(owner_key, tenant) + "/" if owner_key is not None else None)
    flush_ms = max(1, round(settings.audit_flush_seconds * 1000))
    count = 0
    async for record in log_records(
        store, root=settings.key_root, flush_ms=flush_ms, since=since, until=until, keep=keep
    ):
        data = record.to_json()
        del data["pos"]
        out.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count


def _everything(_record: Record) -> bool:
    return True


def _of_tenant(tenant: str, label: str | None) -> Callable[[Record], bool]:
    def keep(record: Record) -> bool:
        if record.owner is not None:
            return label is not None and record.owner.startswith(label)
        return record.tenant == tenant

    return keep
