"""`session-gateway policies ...` against real buckets: plan as a CI check, apply that keeps others' rules and
reads back what it wrote."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

from gateway.policy import lifecycle
from gateway.policy.tiers import load_policy
from tests.conftest import KEY_ROOT, ROOT, Backend

FOREIGN_RULE = {
    "ID": "team-access-logs",
    "Status": "Enabled",
    "Filter": {"Prefix": "access-logs/"},
    "Expiration": {"Days": 90},
}


def flavor_of(backend: Backend) -> str:
    return "ceph" if backend.name == "rgw" else "generic"


def policy_env(backend: Backend, bucket: str, policy: str = "policies/tiers.toml") -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "GATEWAY_S3_ENDPOINT_URL": backend.endpoint,
        "GATEWAY_BUCKET": bucket,
        "GATEWAY_KEY_ROOT": KEY_ROOT,
        "GATEWAY_S3_FLAVOR": flavor_of(backend),
        "GATEWAY_POLICY_FILE": str(ROOT / policy),
        "AWS_ACCESS_KEY_ID": backend.credentials[0],
        "AWS_SECRET_ACCESS_KEY": backend.credentials[1],
    }


def policies(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "policies", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_plan_apply_show_round_trip(backend: Backend) -> None:
    bucket = backend.new_bucket()
    env = policy_env(backend, bucket)
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
    assert policies(env, "plan").returncode == 0
    again = policies(env, "apply", "--yes")
    assert again.returncode == 0 and "nothing to do" in again.stdout

    shown = json.loads(policies(env, "show").stdout)
    desired = lifecycle.render(load_policy(ROOT / "policies/tiers.toml"), key_root=KEY_ROOT, flavor=flavor_of(backend))
    managed = {"Rules": [rule for rule in shown["Rules"] if rule["ID"].startswith(lifecycle.MANAGED_PREFIX)]}
    assert lifecycle.normalise(managed) == lifecycle.normalise(desired)  # what show reads back is what render made
    foreign = [rule for rule in shown["Rules"] if rule["ID"] == FOREIGN_RULE["ID"]]
    assert lifecycle.normalise({"Rules": foreign}) == lifecycle.normalise({"Rules": [FOREIGN_RULE]})


def test_plan_notices_a_change_of_policy(backend: Backend) -> None:
    bucket = backend.new_bucket()
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

    rendered = json.loads(policies(env, "render").stdout)
    assert rendered == lifecycle.render(
        load_policy(ROOT / "policies/tiers.toml"), key_root=KEY_ROOT, flavor=flavor_of(backend)
    )
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
