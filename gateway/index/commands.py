"""`session-gateway index rebuild`: every owner's session index compared with the records and written again where
it differs (what the janitor's check does on each run, on demand)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from gateway.errors import GatewayError
from gateway.settings import Settings


def add_command(commands: Any) -> None:
    index = commands.add_parser("index", help="the session index behind GET /v1/sessions")
    actions = index.add_subparsers(dest="index_command", required=True)
    rebuild = actions.add_parser(
        "rebuild",
        help="compare every owner's index with the session records and write it again where it differs",
        description="Idempotent and safe beside running gateways: a change made meanwhile stays noted for the next "
        "listing. Exit 0; with --dry-run, exit 2 when an index would change.",
    )
    rebuild.add_argument("--dry-run", action="store_true", help="only report the owners whose index differs")


def run_command(args: argparse.Namespace) -> int:
    from gateway.index.upkeep import every_owner
    from gateway.policy.config import load_configured_policy
    from gateway.services.assembly import assemble
    from gateway.storage.store import Store

    settings = Settings.from_env()
    if not settings.bucket:
        print("session-gateway: GATEWAY_BUCKET: required", file=sys.stderr)
        return 1

    async def run() -> int:
        owners = sessions = differing = 0
        async with Store(settings) as store:
            core = assemble(store, settings, load_configured_policy(settings))
            async for space in every_owner(store, settings.key_root):
                repair = await core.index.compact(space, full=True, dry_run=args.dry_run)
                owners += 1
                sessions += repair.sessions
                if repair.changed:
                    differing += 1
                    verb = "would rewrite" if args.dry_run else "rewrote"
                    print(f"{verb} {space.prefix}: {len(repair.changed)} of {repair.sessions} session(s) differed")
        print(f"{owners} owner(s), {sessions} session(s); {differing} index(es) differed")
        return 2 if args.dry_run and differing else 0

    try:
        return asyncio.run(run())
    except GatewayError as exc:
        print(f"session-gateway: {exc.detail}", file=sys.stderr)
        return 1
