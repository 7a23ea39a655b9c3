"""`session-gateway policies ...` and `session-gateway janitor run`: the infrastructure team's commands.

Exit codes: 0 done (or nothing to change), 1 an error, 2 `plan` found differences (usable as a CI check).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from gateway.errors import GatewayError
from gateway.policy import drift, exports, lifecycle
from gateway.policy.config import policy_path
from gateway.policy.tiers import Policy, PolicyError, load_policy
from gateway.settings import FLAVORS, Settings
from gateway.storage.store import Store

FORMATS = ("s3-json", "terraform", "aws-cli")


def add_commands(commands: Any) -> None:
    policies = commands.add_parser("policies", help="tier policy as lifecycle rules: validate, render, plan, apply")
    actions = policies.add_subparsers(dest="action", required=True)
    for name, text in [
        ("validate", "check the policy file"),
        ("render", "print the lifecycle configuration the policy stands for"),
        ("plan", "show how the bucket differs from the policy; exit 2 when it does"),
        ("apply", "make the bucket's lifecycle rules match the policy (others' rules are kept)"),
        ("show", "print the bucket's lifecycle configuration as it is now"),
    ]:
        action = actions.add_parser(name, help=text)
        action.add_argument("--file", help="policy file (default GATEWAY_POLICY_FILE or policies/tiers.toml)")
        action.add_argument(
            "--flavor",
            choices=[*FLAVORS, "auto"],
            help="say what the S3 keeps instead of learning it from the bucket (default GATEWAY_S3_FLAVOR, else auto)",
        )
        if name == "render":
            action.add_argument("--format", choices=FORMATS, default="s3-json")
            action.add_argument("--bucket", help="bucket name for terraform/aws-cli (default GATEWAY_BUCKET)")
        if name == "apply":
            action.add_argument("--yes", action="store_true", help="apply without asking")

    janitor = commands.add_parser("janitor", help="enforce what the backend's lifecycle does not (run by a scheduler)")
    janitor_actions = janitor.add_subparsers(dest="action", required=True)
    run = janitor_actions.add_parser("run", help="one idempotent pass over the bucket")
    run.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    run.add_argument("--file", help="policy file (default GATEWAY_POLICY_FILE or policies/tiers.toml)")
    run.add_argument("--quiet", action="store_true", help="print only the summary")


def _setup(args: argparse.Namespace) -> tuple[Settings, Policy, str]:
    overrides = {}
    if getattr(args, "file", None):
        overrides["GATEWAY_POLICY_FILE"] = args.file
    if getattr(args, "flavor", None):
        overrides["GATEWAY_S3_FLAVOR"] = args.flavor
    settings = Settings.from_env(overrides=overrides)
    path = policy_path(settings)
    return settings, load_policy(path), str(path)


def run_policies(args: argparse.Namespace) -> int:
    try:
        settings, policy, source = _setup(args)
        desired = lifecycle.render(policy, key_root=settings.key_root, flavor=settings.s3_flavor)
    except PolicyError as exc:
        print(f"session-gateway: invalid policy: {exc}", file=sys.stderr)
        return 1
    if args.action == "validate":
        tiers = ", ".join(policy.names)
        print(f"{source}: valid; tiers {tiers}; default {policy.default_tier}; {len(desired['Rules'])} lifecycle rules")
        for duty in lifecycle.janitor_duties(policy, settings.s3_flavor):
            print(f"  janitor: {duty}")
        return 0
    if args.action == "render":
        bucket = args.bucket or settings.bucket or "BUCKET"
        if args.format == "terraform":
            print(exports.to_terraform(desired, bucket=bucket), end="")
        elif args.format == "aws-cli":
            print(exports.to_aws_cli(desired, bucket=bucket, endpoint_url=settings.s3_endpoint_url))
        else:
            print(exports.to_json(desired))
        return 0
    if not settings.bucket:
        print("session-gateway: GATEWAY_BUCKET: required to read the bucket's lifecycle rules", file=sys.stderr)
        return 1
    try:
        return asyncio.run(_against_bucket(args, settings, desired))
    except (GatewayError, PolicyError) as exc:
        print(f"session-gateway: {getattr(exc, 'detail', exc)}", file=sys.stderr)
        return 1


async def _against_bucket(args: argparse.Namespace, settings: Settings, desired: dict[str, Any]) -> int:
    # Without a flavor, what the bucket keeps is learned from what it reads back, and the janitor covers the rest.
    learn = settings.s3_flavor is None
    async with Store(settings) as store:
        current = await store.get_lifecycle()
        if args.action == "show":
            print(exports.to_json(current) if current is not None else "(no lifecycle configuration)")
            return 0
        plan = drift.plan(current, desired, janitor_covers=learn)
        _print_plan(plan, settings.bucket)
        if args.action == "plan":
            return 2 if plan.changed else 0
        if not plan.changed:
            return 0
        if not args.yes and not _confirmed():
            print("not applied (use --yes to apply without asking)", file=sys.stderr)
            return 1
        written = desired
        if learn and lifecycle.keeps_newer_noncurrent(desired) and not lifecycle.keeps_newer_noncurrent(current):
            written = await _rules_the_bucket_keeps(store, plan, desired, settings.key_root)
        await store.put_lifecycle(plan.merged_with(written))
        found = await store.get_lifecycle()
        differences = drift.read_back(found, written)
        if differences:
            print("applied, but the bucket reads back differently:", file=sys.stderr)
            for difference in differences:
                print(f"  {difference.describe()}", file=sys.stderr)
            if any(difference.path.endswith("NewerNoncurrentVersions") for difference in differences):
                print(
                    "  the bucket does not keep NewerNoncurrentVersions, so its lifecycle engine may now remove old "
                    "versions the policy keeps: unset GATEWAY_S3_FLAVOR (or --flavor) and apply again",
                    file=sys.stderr,
                )
            return 1
        for takeover in drift.plan(found, desired, janitor_covers=learn).takeovers:
            print(f"janitor: {takeover.promise}")
        print(f"applied: bucket {settings.bucket} now matches the policy")
        return 0


async def _rules_the_bucket_keeps(
    store: Store, plan: drift.Plan, desired: dict[str, Any], key_root: str
) -> dict[str, Any]:
    """`desired` when the bucket keeps NewerNoncurrentVersions, else `desired` without the expiries that carry it.

    Found out by writing the rules without those expiries plus one probe rule that has the field, and reading the
    probe rule back: the bucket never holds an age-only expiry that would remove the versions a tier keeps, not even
    for a moment. The rules written next replace the probe rule.
    """
    fallback = lifecycle.without_newer_noncurrent(desired)
    await store.put_lifecycle(plan.merged_with(fallback, lifecycle.newer_noncurrent_probe_rule(key_root)))
    kept = lifecycle.keeps_newer_noncurrent(await store.get_lifecycle(), lifecycle.PROBE_RULE_ID)
    return desired if kept else fallback


def _print_plan(plan: drift.Plan, bucket: str) -> None:
    if plan.unmanaged:
        ids = ", ".join(str(rule.get("ID", "(no id)")) for rule in plan.unmanaged)
        print(f"keeping {len(plan.unmanaged)} rule(s) not managed by session-gateway: {ids}")
    for takeover in plan.takeovers:
        print(f"{takeover.rule_id} matches without its NoncurrentVersionExpiration; janitor: {takeover.promise}")
    if not plan.changed:
        print(f"bucket {bucket}: lifecycle rules match the policy; nothing to do")
        return
    print(f"bucket {bucket}: {len(plan.changes)} change(s)")
    for change in plan.changes:
        print(f"  {change}")
    for difference in plan.differences:
        if difference.path:  # a rule added or removed as a whole is in the diff below
            print(f"    {difference.describe()}")
    print(plan.diff, end="")


def _confirmed() -> bool:
    if not sys.stdin.isatty():
        return False
    return input("apply these changes? [y/N] ").strip().lower() in {"y", "yes"}


def run_janitor(args: argparse.Namespace) -> int:
    try:
        settings, policy, _source = _setup(args)
    except PolicyError as exc:
        print(f"session-gateway: invalid policy: {exc}", file=sys.stderr)
        return 1
    if not settings.bucket:
        print("session-gateway: GATEWAY_BUCKET: required", file=sys.stderr)
        return 1

    from gateway.auth.server_key import find_owner_key
    from gateway.quotas.limits import load_quotas
    from gateway.quotas.recount import recount_all
    from gateway.services.assembly import assemble

    try:
        quota_policy = load_quotas(settings)
    except PolicyError as exc:
        print(f"session-gateway: invalid quota file: {exc}", file=sys.stderr)
        return 1

    async def run() -> int:
        async with Store(settings) as store:
            # Cleaning up a project acts for its owner; a bucket without the key has no owners yet.
            owner_key = await find_owner_key(store, settings)
            core = assemble(store, settings, policy, quota_policy=quota_policy, owner_key=owner_key)
            async with core.recorders.running():  # what it changes is in the audit log too
                report = await core.janitor.run(dry_run=args.dry_run)
            # After the janitor's own expiries, so that the figures include them. Without limits, no ledger is kept.
            recounts = []
            if not quota_policy.unlimited:
                recounts = await recount_all(store, core.quotas.ledger, settings.key_root, dry_run=args.dry_run)
        if not args.quiet:
            for line in report.described():
                print(("would " if args.dry_run else "") + line)
            for recount in recounts:
                if recount.before != recount.after:
                    print(("would set " if args.dry_run else "set ") + recount.describe())
        print(report.summary())
        if recounts:
            changed = sum(1 for recount in recounts if recount.before != recount.after)
            print(
                f"{'would recount' if args.dry_run else 'recounted'} {len(recounts)} usage ledger(s), {changed} changed"
            )
        return 0

    try:
        return asyncio.run(run())
    except GatewayError as exc:
        print(f"session-gateway: {exc.detail}", file=sys.stderr)
        return 1
