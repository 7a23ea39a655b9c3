"""The lifecycle configuration as S3 JSON, an aws-cli command and Terraform."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import pytest

from gateway.policy.exports import to_aws_cli, to_json, to_terraform
from gateway.policy.lifecycle import FLAVORS, render
from gateway.policy.tiers import Transition
from tests.policy.test_lifecycle import SHIPPED


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("key_root", ["", "gw"])
def test_to_json_round_trips(flavor: str, key_root: str) -> None:
    config = render(SHIPPED, key_root=key_root, flavor=flavor)
    text = to_json(config)
    assert text.endswith("}\n")
    assert json.loads(text) == config


def test_to_json_writes_dates_as_iso_8601() -> None:
    config = {"Rules": [{"ID": "x", "Expiration": {"Date": datetime(2030, 1, 1, tzinfo=UTC)}}]}
    assert json.loads(to_json(config))["Rules"][0]["Expiration"] == {"Date": "2030-01-01T00:00:00+00:00"}


@pytest.mark.parametrize("endpoint_url", [None, "http://127.0.0.1:7480"])
def test_to_aws_cli_is_one_shell_command_carrying_the_config(endpoint_url: str | None) -> None:
    config = render(SHIPPED, key_root="gw", flavor="aws")
    # An unmanaged rule with shell metacharacters must survive quoting.
    config["Rules"].append({"ID": "it's $HOME; `rm`", "Status": "Enabled", "Filter": {"Prefix": "a b/"}})
    words = shlex.split(to_aws_cli(config, bucket="my bucket", endpoint_url=endpoint_url))
    assert words[:3] == ["aws", "s3api", "put-bucket-lifecycle-configuration"]
    options = dict(zip(words[3::2], words[4::2], strict=True))
    expected = {"--bucket", "--lifecycle-configuration"} | ({"--endpoint-url"} if endpoint_url else set())
    assert set(options) == expected
    assert options["--bucket"] == "my bucket"
    assert options.get("--endpoint-url") == endpoint_url
    assert json.loads(options["--lifecycle-configuration"]) == config


def parse_hcl(text: str) -> dict[str, Any]:
    """Just enough HCL for what `to_terraform` writes: blocks, `key = value` lines and `key = {` maps."""
    root: dict[str, Any] = {"attrs": {}, "blocks": []}
    stack = [root]
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line == "}":
            stack.pop()
        elif match := re.fullmatch(r'([A-Za-z_]\w*)((?: "[^"]*")*) \{', line):
            node: dict[str, Any] = {"attrs": {}, "blocks": []}
            stack[-1]["blocks"].append((match[1], re.findall(r'"([^"]*)"', match[2]), node))
            stack.append(node)
        elif match := re.fullmatch(r"(\S+) += \{", line):
            mapping: dict[str, Any] = {"attrs": {}, "blocks": []}
            stack[-1]["attrs"][match[1]] = mapping["attrs"]
            stack.append(mapping)
        elif match := re.fullmatch(r"(\S+) += (.+)", line):
            stack[-1]["attrs"][json.loads(match[1]) if match[1].startswith('"') else match[1]] = json.loads(match[2])
        else:
            raise AssertionError(f"unexpected HCL line {raw!r}")
    assert stack == [root], "unbalanced braces"
    return root


def blocks(node: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [child for block, _, child in node["blocks"] if block == name]


def rule_from_hcl(node: dict[str, Any]) -> dict[str, Any]:
    """Translate a parsed `rule` block back into the S3 API shape."""
    names = {
        "expiration": ("Expiration", {"days": "Days", "expired_object_delete_marker": "ExpiredObjectDeleteMarker"}),
        "noncurrent_version_expiration": (
            "NoncurrentVersionExpiration",
            {"noncurrent_days": "NoncurrentDays", "newer_noncurrent_versions": "NewerNoncurrentVersions"},
        ),
        "abort_incomplete_multipart_upload": (
            "AbortIncompleteMultipartUpload",
            {"days_after_initiation": "DaysAfterInitiation"},
        ),
    }
    rule: dict[str, Any] = {"ID": node["attrs"]["id"], "Status": node["attrs"]["status"]}
    (condition,) = blocks(node, "filter")
    if ands := blocks(condition, "and"):
        tags = [{"Key": key, "Value": value} for key, value in ands[0]["attrs"]["tags"].items()]
        rule["Filter"] = {"And": {"Prefix": ands[0]["attrs"]["prefix"], "Tags": tags}}
    elif tag := blocks(condition, "tag"):
        rule["Filter"] = {"Tag": {"Key": tag[0]["attrs"]["key"], "Value": tag[0]["attrs"]["value"]}}
    else:
        rule["Filter"] = {"Prefix": condition["attrs"]["prefix"]}
    for block, (key, fields) in names.items():
        for child in blocks(node, block):
            rule[key] = {fields[name]: value for name, value in child["attrs"].items()}
    moves = blocks(node, "transition")
    if moves:
        rule["Transitions"] = [
            {"Days": move["attrs"]["days"], "StorageClass": move["attrs"]["storage_class"]} for move in moves
        ]
    return rule


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("key_root", ["", "gw"])
def test_to_terraform_describes_the_same_rules(flavor: str, key_root: str) -> None:
    moves = (Transition(90, "STANDARD_IA"), Transition(180, "GLACIER"))
    policy = replace(
        SHIPPED,
        tiers=MappingProxyType(
            {**SHIPPED.tiers, "persistent": replace(SHIPPED.tiers["persistent"], transitions=moves)}
        ),
    )
    config = render(policy, key_root=key_root, flavor=flavor)
    text = to_terraform(config, bucket="sessions", source="policies/tiers.toml")
    assert sum(line.strip() == "rule {" for line in text.splitlines()) == len(config["Rules"]) == 4
    parsed = parse_hcl(text)
    ((kind, labels, resource),) = parsed["blocks"]
    assert (kind, labels) == ("resource", ["aws_s3_bucket_lifecycle_configuration", "session_gateway"])
    assert resource["attrs"] == {"bucket": "sessions"}
    assert [rule_from_hcl(rule) for rule in blocks(resource, "rule")] == config["Rules"]
    expirations = [
        rule["attrs"]["days"]
        for node in blocks(resource, "rule")
        for rule in blocks(node, "expiration")
        if "days" in rule["attrs"]
    ]
    assert expirations == [7, 30, 365]


def test_to_terraform_header_and_names() -> None:
    config = render(SHIPPED, key_root="gw", flavor="aws")
    text = to_terraform(config, bucket="a${b}", resource_name="sessions_prod", source="policies/tiers.toml")
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert "policies/tiers.toml" in header[0]
    assert any("versioning enabled" in line for line in header)
    assert 'resource "aws_s3_bucket_lifecycle_configuration" "sessions_prod" {' in text.splitlines()
    # Terraform would read ${b} as an interpolation.
    assert parse_hcl(text)["blocks"][0][2]["attrs"]["bucket"] == "a$${b}"
    with pytest.raises(ValueError, match="resource name"):
        to_terraform(config, bucket="b", resource_name="not a name")


def test_to_terraform_refuses_what_it_cannot_express() -> None:
    rule = {"ID": "theirs", "Status": "Enabled", "Filter": {"Prefix": ""}, "NoncurrentVersionTransitions": []}
    with pytest.raises(ValueError, match="NoncurrentVersionTransitions"):
        to_terraform({"Rules": [rule]}, bucket="b")
    odd_filter = {"ID": "theirs", "Status": "Enabled", "Filter": {"Tag": {"Key": "k", "Value": "v"}, "Prefix": "x"}}
    with pytest.raises(ValueError, match="Prefix"):
        to_terraform({"Rules": [odd_filter]}, bucket="b")
