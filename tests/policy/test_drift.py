"""Comparing a bucket's lifecycle rules with the policy's: plans, read-backs, and what the janitor may cover."""

from __future__ import annotations

import copy

import pytest

from gateway.policy.drift import ABSENT, FieldDifference, plan, read_back, rule_differences
from gateway.policy.lifecycle import (
    MANAGED_PREFIX,
    newer_noncurrent_probe_rule,
    normalise,
    render,
    without_newer_noncurrent,
)
from gateway.policy.tiers import PolicyError
from tests.policy.test_lifecycle import (
    BUCKET,
    EPHEMERAL,
    PERSISTENT,
    SHIPPED,
    STANDARD,
    rule_by_id,
    tier,
    with_tiers,
)


def test_plan_without_changes() -> None:
    desired = render(SHIPPED, key_root="gw", flavor="aws")
    result = plan(copy.deepcopy(desired), desired)
    assert result.changed is False
    assert result.changes == []
    assert result.diff == ""
    assert result.unmanaged == []
    assert result.merged == desired


def test_plan_for_a_bucket_without_lifecycle() -> None:
    desired = render(SHIPPED, key_root="gw", flavor="aws")
    result = plan(None, desired)
    assert result.changed is True
    assert result.changes == [f"add {rule_id}" for rule_id in sorted([EPHEMERAL, STANDARD, PERSISTENT, BUCKET])]
    assert result.merged == desired
    assert result.diff.startswith("--- bucket (managed rules)\n+++ policy\n")
    added = [line for line in result.diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert sum(f'"ID": "{rule_id}"' in line for line in added for rule_id in (EPHEMERAL, BUCKET)) == 2


def test_plan_lists_added_removed_and_changed_rules() -> None:
    desired = render(SHIPPED, key_root="gw", flavor="aws")
    current = copy.deepcopy(desired)
    rules = rule_by_id(current)
    rules[STANDARD]["Expiration"] = {"Days": 60}
    rules[BUCKET]["Filter"] = {"Prefix": "old/"}
    current["Rules"] = [rule for rule in current["Rules"] if rule["ID"] != EPHEMERAL]
    current["Rules"].append({"ID": "session-gateway:tier:gold", "Status": "Enabled", "Expiration": {"Days": 9}})
    result = plan(current, desired)
    assert result.changed is True
    assert result.changes == [
        f"change {BUCKET}: Filter",
        f"add {EPHEMERAL}",
        "remove session-gateway:tier:gold",
        f"change {STANDARD}: Expiration",
    ]
    assert [rule["ID"] for rule in result.merged["Rules"]] == [EPHEMERAL, STANDARD, PERSISTENT, BUCKET]
    removed = [
        line[1:].strip()
        for line in result.diff.splitlines()
        if line.startswith("-") and line != "--- bucket (managed rules)"
    ]
    added = [line[1:].strip() for line in result.diff.splitlines() if line.startswith("+") and line != "+++ policy"]
    assert '"Days": 60' in removed and '"Days": 30' in added
    assert '"Prefix": "old/"' in removed and '"ID": "session-gateway:tier:gold",' in removed


def test_plan_keeps_rules_it_does_not_manage() -> None:
    desired = render(SHIPPED, key_root="gw", flavor="ceph")
    theirs = {"ID": "logs-cleanup", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 14}}
    nameless = {"Status": "Enabled", "Prefix": "tmp/", "Expiration": {"Days": 1}}
    result = plan({"Rules": [*copy.deepcopy(desired["Rules"]), theirs, nameless]}, desired)
    assert result.changed is False
    assert result.diff == ""
    assert result.unmanaged == normalise({"Rules": [theirs, nameless]})["Rules"]
    assert result.merged["Rules"][: len(desired["Rules"])] == desired["Rules"]
    assert result.merged["Rules"][len(desired["Rules"]) :] == result.unmanaged
    assert all(not str(rule.get("ID", "")).startswith(MANAGED_PREFIX) for rule in result.unmanaged)


def test_plan_refuses_unmanaged_rules_in_the_desired_config_and_too_many_rules() -> None:
    desired = render(SHIPPED, key_root="gw", flavor="aws")
    with pytest.raises(ValueError, match="logs"):
        plan(None, {"Rules": [*desired["Rules"], {"ID": "logs", "Status": "Enabled"}]})
    crowded = {"Rules": [{"ID": f"theirs-{index}", "Status": "Enabled"} for index in range(997)]}
    with pytest.raises(PolicyError, match="4 lifecycle rules and the bucket's 997 other rules"):
        plan(crowded, desired)
    assert len(plan({"Rules": crowded["Rules"][:996]}, desired).merged["Rules"]) == 1000


def test_a_bucket_without_the_kept_count_matches_only_when_the_janitor_may_cover_it() -> None:
    desired = render(SHIPPED, key_root="gw")
    bucket = without_newer_noncurrent(desired)
    covered = plan(bucket, desired, janitor_covers=True)
    assert covered.changed is False
    assert covered.diff == ""
    assert covered.differences == []
    assert [takeover.rule_id for takeover in covered.takeovers] == [PERSISTENT, STANDARD]
    assert covered.takeovers[1].promise == (
        "keeps the newest 10 old versions of tier standard and removes older ones 30 days after they stopped being "
        "current (the bucket does not keep NewerNoncurrentVersions)"
    )
    exact = plan(bucket, desired)
    assert exact.changes == [
        f"change {PERSISTENT}: NoncurrentVersionExpiration",
        f"change {STANDARD}: NoncurrentVersionExpiration",
    ]
    assert exact.takeovers == []
    assert exact.differences[1] == FieldDifference(
        STANDARD, "NoncurrentVersionExpiration", {"NewerNoncurrentVersions": 10, "NoncurrentDays": 30}, ABSENT
    )


def test_an_age_only_expiry_is_never_covered() -> None:
    # It would make the lifecycle engine remove the versions the tier keeps; the janitor cannot undo that.
    desired = render(SHIPPED, key_root="gw")
    bucket = copy.deepcopy(desired)
    for rule in bucket["Rules"]:
        rule.get("NoncurrentVersionExpiration", {}).pop("NewerNoncurrentVersions", None)
    result = plan(bucket, desired, janitor_covers=True)
    assert result.changed is True
    assert result.takeovers == []
    assert [difference.describe() for difference in result.differences] == [
        f"rule {PERSISTENT}, field NoncurrentVersionExpiration.NewerNoncurrentVersions: wanted 20, found (absent)",
        f"rule {STANDARD}, field NoncurrentVersionExpiration.NewerNoncurrentVersions: wanted 10, found (absent)",
    ]


def test_a_rule_with_nothing_but_the_kept_count_may_be_missing_altogether() -> None:
    policy = with_tiers(tier("counted", noncurrent_days=5, keep_versions=3), tier("plain", retention_days=2))
    desired = render(policy, key_root="gw")
    counted = "session-gateway:tier:counted"
    assert counted in rule_by_id(desired)
    bucket = without_newer_noncurrent(desired)
    assert counted not in rule_by_id(bucket)
    result = plan(bucket, desired, janitor_covers=True)
    assert result.changed is False
    assert [takeover.rule_id for takeover in result.takeovers] == [counted]
    assert plan(bucket, desired).changes == [f"add {counted}"]


def test_other_differences_are_named_field_by_field_beside_a_covered_rule() -> None:
    desired = render(SHIPPED, key_root="gw")
    bucket = without_newer_noncurrent(desired)
    rules = rule_by_id(bucket)
    rules[STANDARD]["Expiration"] = {"Days": 31}
    rules[EPHEMERAL]["Filter"] = {"And": {"Prefix": "gw/", "Tags": [{"Key": "tier", "Value": "éphémère 🚀 100%"}]}}
    result = plan(bucket, desired, janitor_covers=True)
    assert result.changes == [
        f"change {EPHEMERAL}: Filter",
        f"change {STANDARD}: Expiration, NoncurrentVersionExpiration",
    ]
    assert [takeover.rule_id for takeover in result.takeovers] == [PERSISTENT]
    assert [difference.describe() for difference in result.differences] == [
        f'rule {EPHEMERAL}, field Filter.And.Tags[0].Value: wanted "ephemeral", found "éphémère 🚀 100%"',
        f"rule {STANDARD}, field Expiration.Days: wanted 30, found 31",
        f'rule {STANDARD}, field NoncurrentVersionExpiration: wanted {{"NewerNoncurrentVersions": 10, '
        '"NoncurrentDays": 30}, found (absent)',
    ]


def test_read_back_names_every_field_and_ignores_rules_it_does_not_manage() -> None:
    written = render(SHIPPED, key_root="gw")
    assert read_back(copy.deepcopy(written), written) == []
    found = copy.deepcopy(written)
    rules = rule_by_id(found)
    rules[STANDARD]["NoncurrentVersionExpiration"] = {"NoncurrentDays": 30}
    found["Rules"] = [rule for rule in found["Rules"] if rule["ID"] != BUCKET]
    found["Rules"].append({"ID": "theirs", "Status": "Enabled", "Filter": {"Prefix": "x/"}, "Expiration": {"Days": 1}})
    leftover = {"Filter": {"Prefix": "gw/"}, "ID": "session-gateway:probe", "Status": "Enabled"}
    found["Rules"].append(leftover)
    differences = read_back(found, written)
    assert [(d.rule_id, d.path, d.found) for d in differences] == [
        (BUCKET, "", ABSENT),
        ("session-gateway:probe", "", leftover),
        (STANDARD, "NoncurrentVersionExpiration.NewerNoncurrentVersions", ABSENT),
    ]
    assert differences[2].wanted == 10
    assert differences[0].describe().startswith(f"rule {BUCKET}, the whole rule: wanted {{")
    assert differences[0].describe().endswith(", found (absent)")
    assert read_back(None, written)[0].found is ABSENT


def test_rule_differences_compare_lists_item_by_item_only_when_they_have_the_same_length() -> None:
    two = {"Transitions": [{"Days": 30, "StorageClass": "GLACIER"}, {"Days": 60, "StorageClass": "DEEP_ARCHIVE"}]}
    moved = {"Transitions": [{"Days": 30, "StorageClass": "GLACIER"}, {"Days": 90, "StorageClass": "DEEP_ARCHIVE"}]}
    assert rule_differences("r", moved, two) == [FieldDifference("r", "Transitions[1].Days", 60, 90)]
    one = {"Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}
    assert rule_differences("r", one, two) == [
        FieldDifference("r", "Transitions", two["Transitions"], one["Transitions"])
    ]


def test_merging_with_a_probe_rule_respects_the_rule_limit() -> None:
    desired = render(SHIPPED, key_root="gw")
    crowded = {"Rules": [{"ID": f"theirs-{index}", "Status": "Enabled"} for index in range(996)]}
    result = plan(crowded, desired)
    assert len(result.merged["Rules"]) == 1000
    with pytest.raises(PolicyError, match="5 lifecycle rules and the bucket's 996 other rules"):
        result.merged_with(desired, newer_noncurrent_probe_rule("gw"))
