"""A lifecycle configuration in the forms infrastructure tools take: S3 JSON, an aws-cli command, Terraform."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

_HCL_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def to_json(config: Mapping[str, Any]) -> str:
    """The configuration as the JSON `aws s3api` and the S3 console take."""
    return json.dumps(config, indent=2, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not part of a lifecycle configuration")


def to_aws_cli(config: Mapping[str, Any], *, bucket: str, endpoint_url: str | None) -> str:
    """A shell command that puts the configuration, ready to paste."""
    words = ["aws", "s3api", "put-bucket-lifecycle-configuration", "--bucket", bucket]
    if endpoint_url:
        words += ["--endpoint-url", endpoint_url]
    words += ["--lifecycle-configuration", to_json(config).rstrip("\n")]
    return " ".join(shlex.quote(word) for word in words) + "\n"


def to_terraform(
    config: Mapping[str, Any], *, bucket: str, resource_name: str = "session_gateway", source: str | None = None
) -> str:
    """An `aws_s3_bucket_lifecycle_configuration` resource (Terraform AWS provider v5) for the configuration."""
    if not _HCL_IDENTIFIER.fullmatch(resource_name):
        raise ValueError(f"{resource_name!r} is not a Terraform resource name")
    lines = [
        f"# Rendered by session-gateway from {source or 'its tier policy file'}: change the policy and render again",
        "# rather than editing this resource.",
        "# The bucket must have versioning enabled (aws_s3_bucket_versioning); add a depends_on on that resource so",
        "# the rules never apply to an unversioned bucket.",
        f'resource "aws_s3_bucket_lifecycle_configuration" "{resource_name}" {{',
        f"  bucket = {_hcl_value(bucket)}",
    ]
    for rule in config.get("Rules") or []:
        lines.append("")
        lines.extend(f"  {line}" if line else "" for line in _hcl_rule(rule))
    lines.append("}")
    return "\n".join(lines) + "\n"


_HCL_ACTIONS = {
    "Expiration": (
        "expiration",
        {"Days": "days", "Date": "date", "ExpiredObjectDeleteMarker": "expired_object_delete_marker"},
    ),
    "NoncurrentVersionExpiration": (
        "noncurrent_version_expiration",
        {"NoncurrentDays": "noncurrent_days", "NewerNoncurrentVersions": "newer_noncurrent_versions"},
    ),
    "AbortIncompleteMultipartUpload": (
        "abort_incomplete_multipart_upload",
        {"DaysAfterInitiation": "days_after_initiation"},
    ),
}
_HCL_TRANSITION = {"Days": "days", "Date": "date", "StorageClass": "storage_class"}
_HCL_FILTER = {
    "Prefix": "prefix",
    "ObjectSizeGreaterThan": "object_size_greater_than",
    "ObjectSizeLessThan": "object_size_less_than",
}


def _hcl_rule(rule: Mapping[str, Any]) -> list[str]:
    rule_id = rule.get("ID", "")
    unknown = sorted(set(rule) - {"ID", "Status", "Filter", "Transitions", *_HCL_ACTIONS})
    if unknown:
        # Dropping a field would make Terraform put a different rule than the one shown.
        raise ValueError(f"rule {rule_id!r}: cannot render {', '.join(unknown)} as Terraform")
    sections = [_hcl_attributes({"id": rule_id, "status": rule.get("Status", "Enabled")})]
    sections.append(_hcl_block("filter", _hcl_filter(rule_id, rule.get("Filter", {}))))
    for key, (block, names) in _HCL_ACTIONS.items():
        if key in rule:
            sections.append(_hcl_block(block, _hcl_attributes(_renamed(rule_id, rule[key], names))))
    for transition in rule.get("Transitions") or []:
        sections.append(_hcl_block("transition", _hcl_attributes(_renamed(rule_id, transition, _HCL_TRANSITION))))
    body: list[str] = []
    for section in sections:
        body += [*([""] if body else []), *section]
    return _hcl_block("rule", body)


def _hcl_filter(rule_id: str, condition: Mapping[str, Any]) -> list[str]:
    if "Tag" in condition:
        # S3 allows nothing next to a single tag; anything else belongs in an `And`.
        _renamed(rule_id, {key: value for key, value in condition.items() if key != "Tag"}, {})
        tag = condition["Tag"]
        return _hcl_block("tag", _hcl_attributes({"key": tag["Key"], "value": tag["Value"]}))
    if "And" in condition:
        both = dict(condition["And"])
        tags = {tag["Key"]: tag["Value"] for tag in both.pop("Tags", [])}
        body = _hcl_attributes(_renamed(rule_id, both, _HCL_FILTER))
        if tags:
            body += ["tags = {", *("  " + line for line in _hcl_attributes(tags)), "}"]
        return _hcl_block("and", body)
    return _hcl_attributes(_renamed(rule_id, condition, _HCL_FILTER))


def _renamed(rule_id: str, values: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"rule {rule_id!r}: cannot render {', '.join(unknown)} as Terraform")
    return {names[key]: value for key, value in values.items()}


def _hcl_attributes(values: Mapping[str, Any]) -> list[str]:
    """`name = value` lines with the equals signs aligned, as `terraform fmt` leaves them."""
    # Only tag keys can fail to be identifiers; a quoted key is valid in a map.
    shown = {(key if _HCL_IDENTIFIER.fullmatch(key) else json.dumps(key)): _hcl_value(v) for key, v in values.items()}
    width = max((len(key) for key in shown), default=0)
    return [f"{key.ljust(width)} = {value}" for key, value in shown.items()]


def _hcl_block(name: str, body: list[str]) -> list[str]:
    return [f"{name} {{", *(f"  {line}" if line else "" for line in body), "}"]


def _hcl_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime | date):
        value = value.isoformat()
    # JSON string escapes are valid HCL; HCL additionally treats ${ and %{ as template syntax.
    return json.dumps(str(value)).replace("${", "$${").replace("%{", "%%{")
