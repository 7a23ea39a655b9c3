"""The `session-gateway` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from gateway import __version__
from gateway.audit import commands as audit_commands
from gateway.backup import commands as backup_commands
from gateway.errors import SettingsError, StoreError
from gateway.imports import commands as import_commands
from gateway.index import commands as index_commands
from gateway.policy import commands as policy_commands
from gateway.policy.tiers import PolicyError
from gateway.settings import Settings, describe


def _settings_epilog() -> str:
    rows = [f"  {name:<36} {default or '-':<18} {text}" for name, default, text in describe()]
    return "environment (S3 credentials come from the standard AWS chain):\n" + "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="session-gateway", description="Session files on a versioned S3 bucket.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the HTTP gateway",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", help="listen address (default GATEWAY_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default GATEWAY_PORT or 8000)")
    serve.add_argument(
        "--dev", action="store_true", help="embedded in-memory S3 and a ready token; data is lost at exit"
    )
    serve.add_argument("--create-bucket", action="store_true", help="create the bucket with versioning if missing")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument(
        "--workers",
        type=_worker_count,
        default=1,
        help="processes serving requests, each with its own S3 connections (default 1; see docs/performance.md)",
    )

    token = commands.add_parser("token", help="print a development token signed with GATEWAY_JWT_SECRET")
    token.add_argument("--sub", required=True, help="user id")
    token.add_argument("--tenant", help="tenant id (claim named by GATEWAY_JWT_TENANT_CLAIM)")
    token.add_argument("--session", dest="session_id", help="bind the token to one session id")
    token.add_argument("--scope", help='space-separated scopes, e.g. "files:read" (default: read and write)')
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    policy_commands.add_commands(commands)

    migrate = commands.add_parser(
        "migrate-layout",
        help="move sessions from the earlier readable key layout (t/{tenant}/u/{user}/) to the opaque one",
        description="Without --apply, only counts what would move; exit 2 when something would.",
    )
    migrate.add_argument("--apply", action="store_true", help="replay every old version onto its new key")
    migrate.add_argument("--remove-old", action="store_true", help="with --apply: delete the old keys once replayed")
    migrate.add_argument("--verbose", action="store_true", help="print each owner prefix moved")
    import_commands.add_command(commands)
    backup_commands.add_command(commands)
    index_commands.add_command(commands)
    audit_commands.add_command(commands)
    return parser


def _worker_count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of processes, at least 1 (got {raw!r})")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "token":
            return _token(args)
        if args.command == "policies":
            return policy_commands.run_policies(args)
        if args.command == "janitor":
            return policy_commands.run_janitor(args)
        if args.command == "migrate-layout":
            return _migrate_layout(args)
        if args.command == "import-tree":
            return import_commands.run_import_tree(args)
        if args.command == "backup":
            return backup_commands.run_command(args)
        if args.command == "index":
            return index_commands.run_command(args)
        if args.command == "audit":
            return audit_commands.run_command(args)
    except (SettingsError, PolicyError) as exc:
        print(f"session-gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    return 2


def _migrate_layout(args: argparse.Namespace) -> int:
    from gateway.auth.server_key import load_owner_key
    from gateway.policy.config import load_configured_policy
    from gateway.services.assembly import assemble
    from gateway.storage.migration import migrate_layout
    from gateway.storage.store import Store

    settings = Settings.from_env()
    if not settings.bucket:
        print("session-gateway: GATEWAY_BUCKET: required", file=sys.stderr)
        return 1
    if args.remove_old and not args.apply:
        print("session-gateway: --remove-old needs --apply", file=sys.stderr)
        return 2

    async def run() -> int:
        async with Store(settings) as store:
            owner_key = await load_owner_key(store, settings)
            writer = assemble(store, settings, load_configured_policy(settings)).writer
            report = await migrate_layout(
                store,
                writer,
                root=settings.key_root,
                owner_key=owner_key,
                apply=args.apply,
                remove=args.remove_old,
                progress=lambda line: print(line, file=sys.stderr),
                moved=lambda old, new: print(f"{old} -> {new}") if args.verbose else None,
            )
        verb = "replayed" if args.apply else "to replay"
        print(
            f"{report.keys} key(s) in the old layout, {report.owners} owner(s); {report.replayed} entries {verb}, "
            f"{report.skipped} already in place, {report.removed} old entries removed"
        )
        return 2 if not args.apply and report.replayed else 0

    try:
        return asyncio.run(run())
    except StoreError as exc:
        print(f"session-gateway: {exc.detail}", file=sys.stderr)
        return 1


def _token(args: argparse.Namespace) -> int:
    from gateway.auth.tokens import issue_token

    settings = Settings.from_env()
    print(
        issue_token(
            settings,
            sub=args.sub,
            tenant=args.tenant,
            session_id=args.session_id,
            scope=args.scope,
            ttl_seconds=args.ttl,
        )
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from gateway.api.app import create_app
    from gateway.serving import server

    credentials = None
    if args.dev and args.workers > 1:
        # The embedded S3 lives in this one process's memory; other processes would each need their own.
        print("session-gateway: serve --dev runs a single process; drop --workers", file=sys.stderr)
        return 2
    if args.dev:
        from gateway import devserver
        from gateway.devstore import DEV_CREDENTIALS

        settings = Settings.from_env()
        server.configure_logging(server.log_format_for(settings, dev=True), args.log_level)
        env = devserver.start(args.host or settings.host, args.port or settings.port)
        settings, credentials = env.settings, DEV_CREDENTIALS
        print(devserver.banner(env), flush=True)
    else:
        overrides = {}
        if args.host:
            overrides["GATEWAY_HOST"] = args.host
        if args.port:
            overrides["GATEWAY_PORT"] = str(args.port)
        settings = Settings.from_env(overrides=overrides)
        settings.require_serving()
        server.configure_logging(server.log_format_for(settings, dev=False), args.log_level)
        problem = asyncio.run(_check_bucket(settings, create=args.create_bucket))
        if problem:
            print(f"session-gateway: refusing to start: {problem}", file=sys.stderr)
            return 2
    log_format = server.log_format_for(settings, dev=args.dev)
    app = "gateway.api.app:create_app_from_env" if args.workers > 1 else create_app(settings, credentials=credentials)
    server.run(app, settings, workers=args.workers, log_level=args.log_level, log_format=log_format)
    return 0


async def _check_bucket(settings: Settings, *, create: bool) -> str | None:
    from gateway.storage.readiness import bucket_problem
    from gateway.storage.store import Store

    try:
        async with Store(settings) as store:
            if create:
                await store.create_versioned_bucket()
            return await bucket_problem(store)
    except StoreError as exc:
        return f"cannot use bucket {settings.bucket!r}: {exc.detail}"
