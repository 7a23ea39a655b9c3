"""The tier policy as S3 lifecycle rules: rendering, comparison with a bucket, and export formats.

The gateway owns the rules whose ID starts with `MANAGED_PREFIX`; every other rule in the bucket belongs to someone
else and is carried over untouched. Everything here is pure: the caller reads and writes the bucket.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from gateway.keys import validate_root
from gateway.policy.tiers import TIER_TAG, Policy, PolicyError, Tier

MANAGED_PREFIX = "session-gateway:"
BUCKET_RULE_ID = MANAGED_PREFIX + "bucket"
FLAVORS = ("aws", "ceph", "generic")
MAX_RULES = 1000
# AWS rejects earlier moves to the infrequent-access classes; other backends have no such floor.
_AWS_MIN_TRANSITION_DAYS = {"STANDARD_IA": 30, "ONEZONE_IA": 30}
_HCL_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def tier_rule_id(name: str) -> str:
    return f"{MANAGED_PREFIX}tier:{name}"


def supports_newer_noncurrent_versions(flavor: str) -> bool:
    """Whether the backend honours NewerNoncurrentVersions: Ceph RGW 16 ignores it and moto drops it."""
    _check_flavor(flavor)
    return flavor == "aws"


def render(policy: Policy, *, key_root: str, flavor: str) -> dict[str, Any]:
    """The lifecycle configuration for `policy`, as `put_bucket_lifecycle_configuration` takes it."""
    _check_flavor(flavor)
    root = validate_root(key_root)
    prefix = f"{root}/" if root else ""
    rules = [rule for tier in policy.tiers.values() if (rule := _tier_rule(policy, tier, prefix, flavor)) is not None]
    rules.append(_bucket_rule(policy, prefix))
    if len(rules) > MAX_RULES:
        raise PolicyError(
            f"{policy.source}: tiers: the policy needs {len(rules)} lifecycle rules; S3 allows at most {MAX_RULES}"
        )
    return {"Rules": rules}


def _tier_rule(policy: Policy, tier: Tier, prefix: str, flavor: str) -> dict[str, Any] | None:
    actions: dict[str, Any] = {}
    if tier.retention_days is not None:
        actions["Expiration"] = {"Days": tier.retention_days}
    if tier.transitions:
        if flavor == "aws":
            _check_aws_transitions(policy, tier)
        actions["Transitions"] = [{"Days": t.days, "StorageClass": t.storage_class} for t in tier.transitions]
    noncurrent = _noncurrent_expiration(tier, flavor)
    if noncurrent is not None:
        actions["NoncurrentVersionExpiration"] = noncurrent
    if not actions:
        return None
    tag = {"Key": TIER_TAG, "Value": tier.name}
    condition = {"And": {"Prefix": prefix, "Tags": [tag]}} if prefix else {"Tag": tag}
    return {"ID": tier_rule_id(tier.name), "Status": "Enabled", "Filter": condition, **actions}


def _noncurrent_expiration(tier: Tier, flavor: str) -> dict[str, Any] | None:
    if tier.noncurrent_days is None:
        # A count limit without an age cannot be a lifecycle rule: NoncurrentDays is mandatory, and inventing one
        # would delete every old version on backends that ignore the count. The janitor enforces it instead.
        return None
    if not tier.keep_versions:
        return {"NoncurrentDays": tier.noncurrent_days}
    if supports_newer_noncurrent_versions(flavor):
        return {"NoncurrentDays": tier.noncurrent_days, "NewerNoncurrentVersions": tier.keep_versions}
    # The age alone would also delete the newest old versions the tier promises to keep; the janitor does both.
    return None


def _check_aws_transitions(policy: Policy, tier: Tier) -> None:
    for index, transition in enumerate(tier.transitions):
        floor = _AWS_MIN_TRANSITION_DAYS.get(transition.storage_class, 0)
        if transition.days < floor:
            raise PolicyError(
                f"{policy.source}: tiers.{tier.name}.transitions[{index}].days: AWS S3 needs at least {floor} days "
                f"before a move to {transition.storage_class} (got {transition.days})"
            )


def _bucket_rule(policy: Policy, prefix: str) -> dict[str, Any]:
    # Its own rule because S3 refuses ExpiredObjectDeleteMarker and AbortIncompleteMultipartUpload in a rule that
    # filters on tags.
    rule: dict[str, Any] = {"ID": BUCKET_RULE_ID, "Status": "Enabled", "Filter": {"Prefix": prefix}}
    if policy.expire_delete_markers:
        rule["Expiration"] = {"ExpiredObjectDeleteMarker": True}
    rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": policy.abort_incomplete_multipart_days}
    return rule


def janitor_duties(policy: Policy, flavor: str) -> list[str]:
    """What the backend will not enforce for this policy, so the janitor must; one sentence each."""
    _check_flavor(flavor)
    duties = []
    for tier in policy.tiers.values():
        if tier.ends_with_session:
            net = (
                f"its lifecycle rule removes files left behind after {tier.retention_days} days"
                if tier.retention_days is not None
                else "no lifecycle rule removes files left behind"
            )
            duties.append(f"Delete the files of tier '{tier.name}' when their session ends; {net}.")
        if tier.keep_versions is None:
            continue
        if tier.noncurrent_days is None:
            duties.append(
                f"Delete old versions of files of tier '{tier.name}' beyond the newest {tier.keep_versions}: "
                "lifecycle rules cannot limit old versions by count alone."
            )
        elif tier.keep_versions > 0 and not supports_newer_noncurrent_versions(flavor):
            duties.append(
                f"Delete old versions of files of tier '{tier.name}' once they have been noncurrent for "
                f"{tier.noncurrent_days} days, except the newest {tier.keep_versions}: a {flavor} backend cannot keep "
                "a number of versions, so the tier's lifecycle rule leaves old versions alone."
            )
    return duties


def normalise(config: Mapping[str, Any]) -> dict[str, Any]:
    """A canonical form of a lifecycle configuration, so that rules a backend echoes back differently compare equal.

    Only `Rules` are kept, sorted by ID, with keys sorted and dates as ISO 8601 text. Equated forms, all with the
    same meaning in S3: a missing or empty ID; a rule-level `Prefix` (the pre-filter syntax) and `Filter.Prefix`;
    no filter, an empty filter and an empty prefix; an `And` holding a single condition and that condition; an
    empty prefix inside `And` and none; tags in any order; transitions in any order; `ExpiredObjectDeleteMarker:
    false` and its absence.
    """
    rules = [_normalise_rule(rule) for rule in config.get("Rules") or []]
    rules.sort(key=lambda rule: (str(rule.get("ID", "")), json.dumps(rule, sort_keys=True)))
    return {"Rules": rules}


def _normalise_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = _plain(rule)
    if not out.get("ID"):
        out.pop("ID", None)
    legacy_prefix = out.pop("Prefix", None)
    if "Filter" not in out:
        out["Filter"] = {"Prefix": legacy_prefix or ""}
    elif legacy_prefix:
        # Both a rule-level prefix and a filter is invalid in S3; keep it visible rather than guess.
        out["Prefix"] = legacy_prefix
    out["Filter"] = _normalise_filter(out["Filter"])
    expiration = out.get("Expiration")
    if isinstance(expiration, dict) and expiration.get("ExpiredObjectDeleteMarker") is False:
        del expiration["ExpiredObjectDeleteMarker"]
        if not expiration:
            del out["Expiration"]
    if isinstance(out.get("Transitions"), list):
        out["Transitions"] = sorted(out["Transitions"], key=lambda item: json.dumps(item, sort_keys=True))
    # The edits above may have added keys out of order.
    result: dict[str, Any] = _plain(out)
    return result


def _normalise_filter(condition: Any) -> Any:
    if not isinstance(condition, dict):
        return condition
    if not condition:
        return {"Prefix": ""}
    if "And" not in condition and len(condition) > 1:
        # Ceph RGW reads an And filter back flattened: {"Prefix": p, "Tag": t} means {"And": {"Prefix": p, ...}}.
        flat = dict(condition)
        tags = ([flat.pop("Tag")] if "Tag" in flat else []) + list(flat.pop("Tags", []) or [])
        condition = {"And": {**flat, "Tags": tags}} if tags else {"And": flat}
    both = condition.get("And")
    if len(condition) != 1 or not isinstance(both, dict):
        return condition
    inner = dict(both)
    if inner.get("Prefix") == "":
        del inner["Prefix"]
    tags = inner.pop("Tags", None) or []
    if isinstance(tags, list):
        tags = sorted(tags, key=lambda tag: json.dumps(tag, sort_keys=True))
    if not inner and not tags:
        return {"Prefix": ""}
    if not inner and len(tags) == 1:
        return {"Tag": tags[0]}
    if not tags and list(inner) == ["Prefix"]:
        return {"Prefix": inner["Prefix"]}
    if tags:
        inner["Tags"] = tags
    return {"And": inner}


def _plain(value: Any) -> Any:
    """A deep copy with dict keys sorted and dates as text, so the result is JSON and compares by content."""
    if isinstance(value, Mapping):
        return {str(key): _plain(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _is_managed(rule: Mapping[str, Any]) -> bool:
    return str(rule.get("ID", "")).startswith(MANAGED_PREFIX)


@dataclass(frozen=True)
class Plan:
    changes: list[str]
    diff: str
    unmanaged: list[dict[str, Any]]
    merged: dict[str, Any]

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def plan(current: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> Plan:
    """Compare the bucket's configuration (None: it has none) with the rendered one, keeping others' rules."""
    existing = normalise(current or {})["Rules"]
    wanted = normalise(desired)["Rules"]
    strays = [str(rule.get("ID", "")) for rule in wanted if not _is_managed(rule)]
    if strays:
        raise ValueError(f"desired rules must have IDs starting with {MANAGED_PREFIX!r}: {', '.join(strays)}")
    ours = {str(rule["ID"]): rule for rule in existing if _is_managed(rule)}
    unmanaged = [rule for rule in existing if not _is_managed(rule)]
    target = {str(rule["ID"]): rule for rule in wanted}

    changes = []
    for rule_id in sorted(ours.keys() | target.keys()):
        before, after = ours.get(rule_id), target.get(rule_id)
        if before is None:
            changes.append(f"add {rule_id}")
        elif after is None:
            changes.append(f"remove {rule_id}")
        elif before != after:
            fields = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
            changes.append(f"change {rule_id}: {', '.join(fields)}")

    diff = "".join(
        difflib.unified_diff(
            to_json({"Rules": list(ours.values())}).splitlines(keepends=True),
            to_json({"Rules": wanted}).splitlines(keepends=True),
            fromfile="bucket (managed rules)",
            tofile="policy",
        )
    )
    merged_rules = copy.deepcopy(list(desired.get("Rules") or [])) + copy.deepcopy(unmanaged)
    if len(merged_rules) > MAX_RULES:
        raise PolicyError(
            f"the policy's {len(wanted)} lifecycle rules and the bucket's {len(unmanaged)} other rules exceed S3's "
            f"limit of {MAX_RULES}"
        )
    return Plan(changes=changes, diff=diff, unmanaged=unmanaged, merged={"Rules": merged_rules})


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


def _check_flavor(flavor: str) -> None:
    if flavor not in FLAVORS:
        raise ValueError(f"unknown backend flavor {flavor!r}; use one of {', '.join(FLAVORS)}")
