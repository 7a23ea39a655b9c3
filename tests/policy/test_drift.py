"""Comparing a bucket's lifecycle rules with the policy's: plans, read-backs, and what the janitor may cover."""

from __future__ import annotations

import copy

import pytest

from gateway.policy.drift import plan
from gateway.policy.lifecycle import MANAGED_PREFIX, normalise, render
from gateway.policy.tiers import PolicyError
from tests.policy.test_lifecycle import BUCKET, EPHEMERAL, PERSISTENT, SHIPPED, STANDARD, rule_by_id


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
