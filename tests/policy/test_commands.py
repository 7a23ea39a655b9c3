"""`session-gateway policies ...` against real buckets: plan as a CI check, apply that keeps others' rules, reads
back what it wrote and leaves to the janitor what the bucket does not keep."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

from gateway.policy import lifecycle
from gateway.policy.tiers import load_policy
from tests.conftest import KEY_ROOT, ROOT, Backend

FOREIGN_RULE = {
    "ID": "team-access-logs",
    "Status": "Enabled",
    "Filter": {"Prefix": "access-logs/"},
    "Expiration": {"Days": 90},
}


# Neither moto nor Ceph RGW 16 keeps NewerNoncurrentVersions: the janitor keeps these promises of the shipped tiers.
SHIPPED_TAKEOVERS = [
    "janitor: keeps the newest 20 old versions of tier persistent and removes older ones 90 days after they stopped "
    "being current (the bucket does not keep NewerNoncurrentVersions)",
    "janitor: keeps the newest 10 old versions of tier standard and removes older ones 30 days after they stopped "
    "being current (the bucket does not keep NewerNoncurrentVersions)",
]


def policy_env(
    backend: Backend, bucket: str, policy: str | Path = "policies/tiers.toml", **extra: str
) -> dict[str, str]:
    """What a CI job or an operator sets: no GATEWAY_S3_FLAVOR, so what the bucket keeps is learned."""
    return {
        "PATH": "/usr/bin:/bin",
        "GATEWAY_S3_ENDPOINT_URL": backend.endpoint,
        "GATEWAY_BUCKET": bucket,
        "GATEWAY_KEY_ROOT": KEY_ROOT,
        "GATEWAY_POLICY_FILE": str(ROOT / policy),
        "AWS_ACCESS_KEY_ID": backend.credentials[0],
        "AWS_SECRET_ACCESS_KEY": backend.credentials[1],
        **extra,
    }


def managed_rules(shown: dict[str, Any]) -> dict[str, Any]:
    return lifecycle.normalise(
        {"Rules": [rule for rule in shown["Rules"] if rule["ID"].startswith(lifecycle.MANAGED_PREFIX)]}
    )


def policies(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "policies", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_plan_apply_show_round_trip(backend: Backend, lifecycle_bucket: str, tmp_path: Path) -> None:
    # The policy file's path carries the names every test set uses: non-ASCII, decomposed, emoji and '%'.
    folder = tmp_path / unicodedata.normalize("NFD", "politique café 🚀 100%")
    folder.mkdir()
    policy_file = folder / "tiers.toml"
    shutil.copyfile(ROOT / "policies/tiers.toml", policy_file)
    bucket = lifecycle_bucket
    env = policy_env(backend, bucket, policy_file)
    assert policies(env, "show").stdout.strip() == "(no lifecycle configuration)"
    backend.client().put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [FOREIGN_RULE]})

    planned = policies(env, "plan")
    assert planned.returncode == 2, planned.stderr  # differences: usable as a CI check
    assert "add session-gateway:tier:standard" in planned.stdout
    assert "add session-gateway:bucket" in planned.stdout
    assert "keeping 1 rule(s) not managed by session-gateway: team-access-logs" in planned.stdout

    refused = policies(env, "apply")  # no --yes and no terminal to ask on
    assert refused.returncode == 1
    assert "--yes" in refused.stderr
    assert policies(env, "plan").returncode == 2

    applied = policies(env, "apply", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "now matches the policy" in applied.stdout
    assert [line for line in applied.stdout.splitlines() if line.startswith("janitor:")] == SHIPPED_TAKEOVERS
    clean = policies(env, "plan")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    for takeover in SHIPPED_TAKEOVERS:
        assert takeover.removeprefix("janitor: ") in clean.stdout
    assert "session-gateway:tier:standard matches without its NoncurrentVersionExpiration" in clean.stdout
    again = policies(env, "apply", "--yes")
    assert again.returncode == 0 and "nothing to do" in again.stdout

    shown = json.loads(policies(env, "show").stdout)
    desired = lifecycle.render(load_policy(policy_file), key_root=KEY_ROOT)
    # What the bucket holds: the full rules less the expiries whose kept count it would drop, and no probe rule.
    assert managed_rules(shown) == lifecycle.normalise(lifecycle.without_newer_noncurrent(desired))
    ceph = lifecycle.render(load_policy(policy_file), key_root=KEY_ROOT, flavor="ceph")
    assert managed_rules(shown) == lifecycle.normalise(ceph)
    foreign = [rule for rule in shown["Rules"] if rule["ID"] == FOREIGN_RULE["ID"]]
    assert lifecycle.normalise({"Rules": foreign}) == lifecycle.normalise({"Rules": [FOREIGN_RULE]})


def test_a_flavor_override_renders_for_that_backend_and_plans_exactly(backend: Backend, lifecycle_bucket: str) -> None:
    bucket = lifecycle_bucket
    env = policy_env(backend, bucket, GATEWAY_S3_FLAVOR="ceph")
    applied = policies(env, "apply", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "janitor:" not in applied.stdout  # nothing learned: the flavor said what the bucket keeps
    shown = json.loads(policies(env, "show").stdout)
    assert managed_rules(shown) == lifecycle.normalise(
        lifecycle.render(load_policy(ROOT / "policies/tiers.toml"), key_root=KEY_ROOT, flavor="ceph")
    )
    assert policies(env, "plan").returncode == 0
    # The same bucket seen without the override: the rules match, with the janitor's part said out loud.
    learned = policies(policy_env(backend, bucket), "plan")
    assert learned.returncode == 0
    assert all(takeover.removeprefix("janitor: ") in learned.stdout for takeover in SHIPPED_TAKEOVERS)


def test_apply_names_every_field_the_bucket_reads_back_differently(backend: Backend, lifecycle_bucket: str) -> None:
    bucket = lifecycle_bucket
    # Told the bucket is AWS S3, apply writes NewerNoncurrentVersions; neither moto nor Ceph RGW keeps it.
    told_aws = policies(policy_env(backend, bucket, GATEWAY_S3_FLAVOR="aws"), "apply", "--yes")
    assert told_aws.returncode == 1
    lines = told_aws.stderr.splitlines()
    assert lines[0] == "applied, but the bucket reads back differently:"
    assert lines[1:3] == [
        "  rule session-gateway:tier:persistent, field NoncurrentVersionExpiration.NewerNoncurrentVersions: "
        "wanted 20, found (absent)",
        "  rule session-gateway:tier:standard, field NoncurrentVersionExpiration.NewerNoncurrentVersions: "
        "wanted 10, found (absent)",
    ]
    assert "unset GATEWAY_S3_FLAVOR" in lines[3]

    # The plan names the same fields: an age-only expiry is not what the janitor can cover.
    planned = policies(policy_env(backend, bucket), "plan")
    assert planned.returncode == 2
    assert "  change session-gateway:tier:standard: NoncurrentVersionExpiration" in planned.stdout
    assert (
        "    rule session-gateway:tier:standard, field NoncurrentVersionExpiration.NewerNoncurrentVersions: "
        "wanted 10, found (absent)"
    ) in planned.stdout

    # Learning instead of being told mends it.
    mended = policies(policy_env(backend, bucket), "apply", "--yes")
    assert mended.returncode == 0, mended.stdout + mended.stderr
    assert policies(policy_env(backend, bucket), "plan").returncode == 0


def test_plan_names_each_differing_field_with_both_values(backend: Backend, lifecycle_bucket: str) -> None:
    bucket = lifecycle_bucket
    env = policy_env(backend, bucket)
    assert policies(env, "apply", "--yes").returncode == 0
    s3 = backend.client()
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    for rule in rules:
        if rule["ID"] == "session-gateway:tier:ephemeral":
            rule["Expiration"] = {"Days": 9}
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": 2}
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    planned = policies(env, "plan")
    assert planned.returncode == 2
    assert "  change session-gateway:tier:ephemeral: Expiration, NoncurrentVersionExpiration" in planned.stdout
    assert "    rule session-gateway:tier:ephemeral, field Expiration.Days: wanted 7, found 9" in planned.stdout
    assert (
        "    rule session-gateway:tier:ephemeral, field NoncurrentVersionExpiration.NoncurrentDays: wanted 1, found 2"
        in planned.stdout
    )
    assert policies(env, "apply", "--yes").returncode == 0
    assert policies(env, "plan").returncode == 0


def test_plan_notices_a_change_of_policy(backend: Backend, lifecycle_bucket: str) -> None:
    bucket = lifecycle_bucket
    assert policies(policy_env(backend, bucket), "apply", "--yes").returncode == 0
    short = policy_env(backend, bucket, "tests/data/tiers-short.toml")
    planned = policies(short, "plan")
    assert planned.returncode == 2
    assert "change session-gateway:tier:standard: Expiration" in planned.stdout
    assert "-" in planned.stdout and "+" in planned.stdout  # a readable diff follows


def test_validate_and_render_formats(backend: Backend) -> None:
    env = policy_env(backend, "example-bucket")
    validated = policies(env, "validate")
    assert validated.returncode == 0
    assert "tiers ephemeral, standard, persistent, permanent; default standard" in validated.stdout
    assert "tier 'standard'" in validated.stdout and "if the bucket does not keep NewerNoncurrentVersions" in (
        validated.stdout
    )

    rendered = json.loads(policies(env, "render").stdout)
    # Without a flavor the rules are rendered in full; what a bucket keeps of them is learned when applying.
    assert rendered == lifecycle.render(load_policy(ROOT / "policies/tiers.toml"), key_root=KEY_ROOT, flavor="aws")
    cli = policies(env, "render", "--format", "aws-cli").stdout
    words = shlex.split(cli)
    assert words[:3] == ["aws", "s3api", "put-bucket-lifecycle-configuration"]
    assert json.loads(words[words.index("--lifecycle-configuration") + 1]) == rendered
    terraform = policies(env, "render", "--format", "terraform").stdout
    assert terraform.count("rule {") == len(rendered["Rules"])
    assert 'bucket = "example-bucket"' in terraform

    broken = dict(env, GATEWAY_POLICY_FILE=str(ROOT / "README.md"))
    invalid = policies(broken, "validate")
    assert invalid.returncode == 1
    assert "README.md" in invalid.stderr
