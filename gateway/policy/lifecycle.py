"""The tier policy as S3 lifecycle rules, and which of its promises fall to the janitor.

The gateway owns the rules whose ID starts with `MANAGED_PREFIX`; every other rule in the bucket belongs to someone
else and is carried over untouched. Everything here is pure: the caller reads and writes the bucket.

Without a flavor the rules are rendered in full, as AWS S3 keeps them. Some backends drop NewerNoncurrentVersions
(Ceph RGW 16, moto). The age left behind would make the lifecycle engine delete the newest old versions a tier keeps,
so for such a bucket the tier's NoncurrentVersionExpiration goes altogether (`without_newer_noncurrent`) and the
janitor removes old versions by age and count itself. Whether a bucket keeps the field is learned when the rules are
applied (`gateway.policy.commands`); the janitor reads the bucket's rules to know what it must do.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from gateway.keys import probe_key, validate_root
from gateway.policy.tiers import TIER_TAG, Policy, PolicyError, Tier
from gateway.settings import FLAVORS

__all__ = ["FLAVORS"]

MANAGED_PREFIX = "session-gateway:"
BUCKET_RULE_ID = MANAGED_PREFIX + "bucket"
PROBE_RULE_ID = MANAGED_PREFIX + "probe"
_TIER_RULE_PREFIX = MANAGED_PREFIX + "tier:"
MAX_RULES = 1000
# AWS rejects earlier moves to the infrequent-access classes; other backends have no such floor.
_AWS_MIN_TRANSITION_DAYS = {"STANDARD_IA": 30, "ONEZONE_IA": 30}
_ACTIONS = frozenset(
    {
        "Expiration",
        "Transitions",
        "NoncurrentVersionExpiration",
        "NoncurrentVersionTransitions",
        "AbortIncompleteMultipartUpload",
    }
)
_NONCURRENT = "NoncurrentVersionExpiration"
_NEWER = "NewerNoncurrentVersions"


def tier_rule_id(name: str) -> str:
    return _TIER_RULE_PREFIX + name


def supports_newer_noncurrent_versions(flavor: str) -> bool:
    """Whether a backend of this flavor keeps NewerNoncurrentVersions: Ceph RGW 16 ignores it and moto drops it."""
    _check_flavor(flavor)
    return flavor == "aws"


def render(policy: Policy, *, key_root: str, flavor: str | None = None) -> dict[str, Any]:
    """The lifecycle configuration for `policy`, as `put_bucket_lifecycle_configuration` takes it.

    `flavor` None renders the full rules, which AWS S3 accepts as they are; a backend that keeps less is found out
    when they are applied. With a flavor, only what that backend keeps is rendered.
    """
    if flavor is not None:
        _check_flavor(flavor)
    if flavor in (None, "aws"):
        for tier in policy.tiers.values():
            _check_aws_transitions(policy, tier, flavor)
    config = rules_for(policy, key_root=key_root, flavor=flavor)
    if len(config["Rules"]) > MAX_RULES:
        raise PolicyError(
            f"{policy.source}: tiers: the policy needs {len(config['Rules'])} lifecycle rules; S3 allows at most "
            f"{MAX_RULES}"
        )
    return config


def rules_for(policy: Policy, *, key_root: str, flavor: str | None) -> dict[str, Any]:
    """The rules `render` makes, without checking that a bucket would accept them."""
    root = validate_root(key_root)
    prefix = f"{root}/" if root else ""
    full = flavor is None or supports_newer_noncurrent_versions(flavor)
    rules = [rule for tier in policy.tiers.values() if (rule := _tier_rule(tier, prefix, full)) is not None]
    rules.append(_bucket_rule(policy, prefix))
    return {"Rules": rules}


def _tier_rule(tier: Tier, prefix: str, keeps_newer: bool) -> dict[str, Any] | None:
    actions: dict[str, Any] = {}
    if tier.retention_days is not None:
        actions["Expiration"] = {"Days": tier.retention_days}
    if tier.transitions:
        actions["Transitions"] = [{"Days": t.days, "StorageClass": t.storage_class} for t in tier.transitions]
    noncurrent = _noncurrent_expiration(tier, keeps_newer)
    if noncurrent is not None:
        actions[_NONCURRENT] = noncurrent
    if not actions:
        return None
    tag = {"Key": TIER_TAG, "Value": tier.name}
    condition = {"And": {"Prefix": prefix, "Tags": [tag]}} if prefix else {"Tag": tag}
    return {"ID": tier_rule_id(tier.name), "Status": "Enabled", "Filter": condition, **actions}


def _noncurrent_expiration(tier: Tier, keeps_newer: bool) -> dict[str, Any] | None:
    if tier.noncurrent_days is None:
        # A count limit without an age cannot be a lifecycle rule: NoncurrentDays is mandatory, and inventing one
        # would delete every old version on backends that ignore the count. The janitor enforces it instead.
        return None
    if not tier.keep_versions:
        return {"NoncurrentDays": tier.noncurrent_days}
    if keeps_newer:
        return {"NoncurrentDays": tier.noncurrent_days, _NEWER: tier.keep_versions}
    # The age alone would also delete the newest old versions the tier promises to keep; the janitor does both.
    return None


def _check_aws_transitions(policy: Policy, tier: Tier, flavor: str | None) -> None:
    # Unless told otherwise, the rules must be ones AWS S3 accepts.
    hint = "; on another S3, set GATEWAY_S3_FLAVOR to ceph or generic" if flavor is None else ""
    for index, transition in enumerate(tier.transitions):
        floor = _AWS_MIN_TRANSITION_DAYS.get(transition.storage_class, 0)
        if transition.days < floor:
            raise PolicyError(
                f"{policy.source}: tiers.{tier.name}.transitions[{index}].days: AWS S3 needs at least {floor} days "
                f"before a move to {transition.storage_class} (got {transition.days}){hint}"
            )


def _bucket_rule(policy: Policy, prefix: str) -> dict[str, Any]:
    # Its own rule because S3 refuses ExpiredObjectDeleteMarker and AbortIncompleteMultipartUpload in a rule that
    # filters on tags.
    rule: dict[str, Any] = {"ID": BUCKET_RULE_ID, "Status": "Enabled", "Filter": {"Prefix": prefix}}
    if policy.expire_delete_markers:
        rule["Expiration"] = {"ExpiredObjectDeleteMarker": True}
    rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": policy.abort_incomplete_multipart_days}
    return rule


def without_newer_noncurrent(config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` for a bucket that drops NewerNoncurrentVersions: every rule that carries it loses its whole
    NoncurrentVersionExpiration (and a rule left without an action goes), so the janitor removes those old versions
    by age and count instead of the lifecycle engine removing the kept ones too."""
    rules = []
    for rule in config.get("Rules") or []:
        if _newer_noncurrent(rule) is not None:
            rule = {key: value for key, value in rule.items() if key != _NONCURRENT}
            if not _ACTIONS & set(rule):
                continue
        rules.append(copy.deepcopy(dict(rule)))
    return {"Rules": rules}


def keeps_newer_noncurrent(config: Mapping[str, Any] | None, rule_id: str | None = None) -> bool:
    """Whether a configuration read from a bucket holds NewerNoncurrentVersions (in rule `rule_id`, or in any rule):
    proof that the bucket keeps the field."""
    return any(
        _newer_noncurrent(rule) is not None
        for rule in (config or {}).get("Rules") or []
        if rule_id is None or rule.get("ID") == rule_id
    )


def newer_noncurrent_probe_rule(key_root: str) -> dict[str, Any]:
    """A rule whose read-back shows whether the bucket keeps NewerNoncurrentVersions, and which can delete nothing
    that matters: it applies only under the probe prefix, where no object outlives its probe."""
    return {
        "ID": PROBE_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": probe_key(key_root, "")},
        _NONCURRENT: {"NoncurrentDays": 1, _NEWER: 1},
    }


def janitor_takeover(rule: Mapping[str, Any]) -> str | None:
    """The promise the janitor keeps when a bucket that drops NewerNoncurrentVersions holds `rule` (as rendered,
    with the field) without its NoncurrentVersionExpiration; None when the rule has nothing the janitor takes over."""
    kept = _newer_noncurrent(rule)
    if kept is None:
        return None
    rule_id = str(rule.get("ID", ""))
    tier = rule_id.removeprefix(_TIER_RULE_PREFIX) if rule_id.startswith(_TIER_RULE_PREFIX) else rule_id
    days = rule[_NONCURRENT].get("NoncurrentDays")
    return (
        f"keeps the newest {kept} old versions of tier {tier} and removes older ones {days} days after they stopped "
        "being current (the bucket does not keep NewerNoncurrentVersions)"
    )


def _newer_noncurrent(rule: Mapping[str, Any]) -> Any:
    expiry = rule.get(_NONCURRENT)
    return expiry.get(_NEWER) if isinstance(expiry, Mapping) else None


def janitor_noncurrent_tiers(policy: Policy, bucket: Mapping[str, Any] | None, *, key_root: str) -> frozenset[str]:
    """The tiers whose old versions the janitor must remove, judged from the bucket's lifecycle configuration.

    A tier with a noncurrent promise (`noncurrent_days` or `keep_versions`) is the janitor's unless the bucket has
    its rule, enabled, on the tier's filter, with exactly the NoncurrentVersionExpiration of the full rendering:
    a rule that lacks NewerNoncurrentVersions, or the whole expiry, or is missing leaves the promise to the janitor.
    """
    found = {str(rule.get("ID")): rule for rule in normalise(bucket or {})["Rules"]}
    wanted = {str(rule["ID"]): rule for rule in normalise(rules_for(policy, key_root=key_root, flavor=None))["Rules"]}
    tiers = set()
    for tier in policy.tiers.values():
        if tier.noncurrent_days is None and tier.keep_versions is None:
            continue
        want, have = wanted.get(tier_rule_id(tier.name)), found.get(tier_rule_id(tier.name))
        carried = (
            want is not None
            and have is not None
            and _NONCURRENT in want
            and have.get("Status") == "Enabled"
            and all(have.get(key) == want[key] for key in ("Filter", _NONCURRENT))
        )
        if not carried:
            tiers.add(tier.name)
    return frozenset(tiers)


def janitor_duties(policy: Policy, flavor: str | None) -> list[str]:
    """What the janitor must do for this policy, as far as it is known without a bucket; one sentence each."""
    if flavor is not None:
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
        elif not tier.keep_versions:
            continue
        elif flavor is None:
            duties.append(
                f"Delete old versions of files of tier '{tier.name}' once they have been noncurrent for "
                f"{tier.noncurrent_days} days, except the newest {tier.keep_versions}, if the bucket does not keep "
                "NewerNoncurrentVersions (`policies apply` finds out and says so)."
            )
        elif not supports_newer_noncurrent_versions(flavor):
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


def is_managed(rule: Mapping[str, Any]) -> bool:
    return str(rule.get("ID", "")).startswith(MANAGED_PREFIX)


def _check_flavor(flavor: str) -> None:
    if flavor not in FLAVORS:
        raise ValueError(f"unknown backend flavor {flavor!r}; use one of {', '.join(FLAVORS)}")
