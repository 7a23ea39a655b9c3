"""`session-gateway backup run | verify | restore`: the operator's commands (docs/recovery.md).

Exit codes:
  0  done: everything was copied, verified or restored
  1  done with problems: a version could not be copied, `verify` found a mismatch or something missing from the
     backup, a file could not be restored, or the storage failed (the summary lists each problem)
  2  a configuration or usage error: a setting, an argument, a bucket that does not exist or keeps no versions
  3  `restore` only: the backup holds nothing of that session
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from gateway import keys, wire
from gateway.backup import target
from gateway.backup.summary import Summary
from gateway.errors import GatewayError, SettingsError
from gateway.policy.config import load_configured_policy
from gateway.policy.tiers import Policy
from gateway.settings import Settings, env_name
from gateway.storage.readiness import bucket_problem
from gateway.storage.store import Store

if TYPE_CHECKING:
    from gateway.backup.restore import Everything, Request

EXIT_PROBLEMS, EXIT_USAGE, EXIT_NOTHING = 1, 2, 3


def add_command(commands: Any) -> None:
    backup = commands.add_parser(
        "backup",
        help="copy persistent files to a second bucket, verify the copies, restore a session from them",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = backup.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="copy every version the backup lacks (incremental; safe to overlap)")
    verify = actions.add_parser("verify", help="hash every kept version in both buckets; report what differs or lacks")
    restore = actions.add_parser("restore", help="write a session's files back as they were at a moment")
    restore.add_argument("--tenant", help="the tenant claim of the session's owner (leave out for none)")
    restore.add_argument("--user", help="the owner's user id (the token's sub)")
    restore.add_argument("--session", dest="session_id", help="the session's id")
    restore.add_argument("--at", help="RFC 3339 moment, such as 2026-01-31T12:00:00Z (default: the newest kept)")
    restore.add_argument("--to-session", help="another session id of the same owner to restore into (made if new)")
    restore.add_argument(
        "--all", action="store_true", help="every session in the backup, at the keys it was kept from (no owner named)"
    )
    for action in (run, verify, restore):
        action.add_argument("--json", action="store_true", help="print one JSON summary (for schedulers)")
        action.add_argument("--file", help="policy file (default GATEWAY_POLICY_FILE or policies/tiers.toml)")


def run_command(args: argparse.Namespace) -> int:
    overrides = {"GATEWAY_POLICY_FILE": args.file} if args.file else {}
    settings = Settings.from_env(overrides=overrides)
    policy = load_configured_policy(settings)
    if not settings.bucket:
        raise SettingsError(f"{env_name('bucket')}: required; name the gateway's bucket")
    target.backup_settings(settings)  # the backup bucket is named
    target.backed_up_tiers(settings, policy)
    request = None
    if args.action == "restore":
        request = _request(args)
        if request is None:
            return EXIT_USAGE
    summary = Summary(f"backup {args.action}")
    code = asyncio.run(_execute(settings, policy, summary, request))
    summary.finish()
    print(json.dumps(summary.document()) if args.json else summary.describe())
    return code if code else (0 if summary.ok else EXIT_PROBLEMS)


def _request(args: argparse.Namespace) -> Request | Everything | None:
    """What to restore, checked before any S3 call; None (after saying why) for what cannot be asked."""
    from gateway.backup.restore import Everything, Request

    try:
        at = wire.moment(args.at) if args.at is not None else None
    except ValueError as exc:
        _usage(f"--at {exc}")
        return None
    if args.all:
        named = [f"--{name}" for name in ("tenant", "user", "session", "to-session") if getattr(args, _dest(name))]
        if named:
            _usage("--all restores every session where it was kept: leave out " + ", ".join(named))
            return None
        return Everything(at)
    if not args.user or not args.session_id:
        _usage("name the session (--user, --session, and --tenant unless it has none), or give --all")
        return None
    for option, value in (("--session", args.session_id), ("--to-session", args.to_session)):
        if value is not None and not keys.is_session_id(value):
            _usage(f"{option}: not a session id (26 characters, a ULID)")
            return None
    return Request(args.tenant or None, args.user, args.session_id, at, args.to_session)


def _dest(option: str) -> str:
    return "session_id" if option == "session" else option.replace("-", "_")


def _usage(message: str) -> None:
    print(f"session-gateway: {message}", file=sys.stderr)


async def _execute(settings: Settings, policy: Policy, summary: Summary, request: Request | Everything | None) -> int:
    # Only the command that runs is imported: restores need every service, and the CLI starts for each command.
    from gateway.backup.progress import shown
    from gateway.backup.restore import Everything, NothingToRestore, restore_everything, restore_session
    from gateway.backup.run import run_backup
    from gateway.backup.verify import verify_backup

    try:
        async with Store(settings) as source, target.backup_store(settings) as backup:
            problem = await target.bucket_problem(backup) or await bucket_problem(source)
            if problem:
                summary.fail("configuration", problem)
                return EXIT_USAGE
            with shown(summary):
                if isinstance(request, Everything):
                    await restore_everything(source, backup, settings, policy, summary, request.at)
                elif request is not None:
                    await restore_session(source, backup, settings, policy, summary, request)
                elif summary.command == "backup run":
                    await run_backup(source, backup, settings, policy, summary)
                else:
                    await verify_backup(source, backup, settings, policy, summary)
    except NothingToRestore as exc:
        summary.fail("nothing-to-restore", str(exc))
        return EXIT_NOTHING
    except GatewayError as exc:
        summary.failed_on("storage", exc)
    return 0
