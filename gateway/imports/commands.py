"""`session-gateway import-tree DIR --layout '{user}/{session}/' [--tenant T] [--dry-run] [--quiet]`.

Exit codes: 0 everything found was imported or already there; 1 an error (settings, the bucket, a file that could
not be written: running again completes the import); 2 a usage error (a bad layout, a missing directory);
3 done, but some folders or files were refused (links, bad names, unreadable files), each printed with its rule.
A dry run answers with the code a run would, and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from gateway.errors import GatewayError
from gateway.imports.disk import Layout
from gateway.settings import Settings

EXIT_REFUSED = 3


def add_command(commands: Any) -> None:
    tree = commands.add_parser(
        "import-tree",
        help="migrate an on-disk session store (a folder per user and session) into the bucket",
        description="Each session folder the layout finds becomes a session of its user, its files uploaded. "
        "Running it again writes nothing new. Exit: 0 done, 1 error, 2 usage, 3 some files refused.",
    )
    tree.add_argument("directory", help="the store's top folder, for example data/sessions")
    tree.add_argument(
        "--layout",
        required=True,
        help="where sessions lie under DIR: {user} and {session} once each, other segments literal, "
        "for example '{user}/{session}/'",
    )
    tree.add_argument("--tenant", help="the tenant the users belong to (their tokens' tenant claim); default none")
    tree.add_argument("--dry-run", action="store_true", help="print what would be done, write nothing")
    tree.add_argument("--quiet", action="store_true", help="print only refusals, failures and the summary")


def run_import_tree(args: argparse.Namespace) -> int:
    try:
        layout = Layout.parse(args.layout)
    except ValueError as exc:
        print(f"session-gateway: --layout: {exc}", file=sys.stderr)
        return 2
    if args.tenant is not None and not args.tenant:
        print("session-gateway: --tenant: must not be empty (leave it out for users without a tenant)", file=sys.stderr)
        return 2
    if not os.path.isdir(args.directory):
        print(f"session-gateway: {args.directory}: not a directory", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    if not settings.bucket:
        print("session-gateway: GATEWAY_BUCKET: required", file=sys.stderr)
        return 1
    try:
        return asyncio.run(_run(args, settings, layout))
    except GatewayError as exc:
        print(f"session-gateway: {exc.detail}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace, settings: Settings, layout: Layout) -> int:
    from gateway.auth.server_key import find_owner_key, load_owner_key
    from gateway.imports.tree import TreeImport
    from gateway.policy.config import load_configured_policy
    from gateway.services.assembly import assemble
    from gateway.storage.capabilities import discover
    from gateway.storage.store import Store

    policy = load_configured_policy(settings)
    async with Store(settings) as store:
        if args.dry_run:
            # Nothing may be written: not the owner key of a fresh bucket, nor the start-up probe's objects.
            owner_key, core = await find_owner_key(store, settings), assemble(store, settings, policy)
        else:
            owner_key = await load_owner_key(store, settings)
            core = assemble(store, settings, policy, traits=await discover(store, settings))
        tree = TreeImport(
            core.sessions,
            core.files,
            key_root=settings.key_root,
            owner_key=owner_key,
            tenant=args.tenant,
            dry_run=args.dry_run,
            say=print,
            quiet=args.quiet,
        )
        async with core.recorders.running():  # what it writes is in the audit log too
            report = await tree.run(args.directory, layout)
    print(report.summary(dry_run=args.dry_run))
    if report.failed:
        return 1
    return EXIT_REFUSED if report.refused else 0
