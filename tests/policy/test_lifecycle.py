from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from gateway.policy.exports import to_json
from gateway.policy.lifecycle import (
    FLAVORS,
    janitor_duties,
    janitor_noncurrent_tiers,
    janitor_takeover,
    keeps_newer_noncurrent,
    newer_noncurrent_probe_rule,
    normalise,
    render,
    supports_newer_noncurrent_versions,
    without_newer_noncurrent,
)
from gateway.policy.tiers import Policy, PolicyError, Tier, Transition, load_policy

ROOT = Path(__file__).resolve().parent.parent.parent
SHIPPED = load_policy(ROOT / "policies" / "tiers.toml")
SHORT = load_policy(ROOT / "tests" / "data" / "tiers-short.toml")
EPHEMERAL, STANDARD, PERSISTENT, BUCKET = (
    "session-gateway:tier:ephemeral",
    "session-gateway:tier:standard",
    "session-gateway:tier:persistent",
    "session-gateway:bucket",
)


def tag_filter(name: str, prefix: str = "gw/") -> dict[str, Any]:
    tag = {"Key": "tier", "Value": name}
    return {"And": {"Prefix": prefix, "Tags": [tag]}} if prefix else {"Tag": tag}


def rule_by_id(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule["ID"]: rule for rule in config["Rules"]}


def with_tiers(*tiers: Tier, policy: Policy = SHIPPED) -> Policy:
    return replace(policy, tiers=MappingProxyType({tier.name: tier for tier in tiers}), default_tier=tiers[0].name)


def tier(name: str, **fields: Any) -> Tier:
    values: dict[str, Any] = {
        "description": name,
        "retention_days": None,
        "noncurrent_days": None,
        "keep_versions": None,
        "transitions": (),
        "ends_with_session": False,
    }
    values.update(fields)
    return Tier(name=name, **values)


def test_render_for_aws_under_a_key_root() -> None:
    assert render(SHIPPED, key_root="gw", flavor="aws") == {
        "Rules": [
            {
                "ID": EPHEMERAL,
                "Status": "Enabled",
                "Filter": tag_filter("ephemeral"),
                "Expiration": {"Days": 7},
                "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
            },
            {
                "ID": STANDARD,
                "Status": "Enabled",
                "Filter": tag_filter("standard"),
                "Expiration": {"Days": 30},
                "NoncurrentVersionExpiration": {"NoncurrentDays": 30, "NewerNoncurrentVersions": 10},
            },
            {
                "ID": PERSISTENT,
                "Status": "Enabled",
                "Filter": tag_filter("persistent"),
                "Expiration": {"Days": 365},
                "NoncurrentVersionExpiration": {"NoncurrentDays": 90, "NewerNoncurrentVersions": 20},
            },
            {
                "ID": BUCKET,
                "Status": "Enabled",
                "Filter": {"Prefix": "gw/"},
                "Expiration": {"ExpiredObjectDeleteMarker": True},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            },
        ]
    }


@pytest.mark.parametrize("flavor", ["ceph", "generic"])
def test_render_without_newer_noncurrent_versions_leaves_kept_versions_to_the_janitor(flavor: str) -> None:
    rules = rule_by_id(render(SHIPPED, key_root="gw", flavor=flavor))
    assert rules[EPHEMERAL] == {
        "ID": EPHEMERAL,
        "Status": "Enabled",
        "Filter": tag_filter("ephemeral"),
        "Expiration": {"Days": 7},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
    }
    # An age-only rule would also delete the newest 10 old versions the tier promises to keep.
    assert rules[STANDARD] == {
        "ID": STANDARD,
        "Status": "Enabled",
        "Filter": tag_filter("standard"),
        "Expiration": {"Days": 30},
    }
    assert rules[PERSISTENT] == {
        "ID": PERSISTENT,
        "Status": "Enabled",
        "Filter": tag_filter("persistent"),
        "Expiration": {"Days": 365},
    }
    assert rules[BUCKET] == rule_by_id(render(SHIPPED, key_root="gw", flavor="aws"))[BUCKET]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_newer_noncurrent_versions_only_for_aws(flavor: str) -> None:
    text = to_json(render(SHIPPED, key_root="gw", flavor=flavor))
    assert supports_newer_noncurrent_versions(flavor) is (flavor == "aws")
    assert ("NewerNoncurrentVersions" in text) is (flavor == "aws")


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("key_root", ["", "gw"])
def test_permanent_has_no_rule(flavor: str, key_root: str) -> None:
    config = render(SHIPPED, key_root=key_root, flavor=flavor)
    assert [rule["ID"] for rule in config["Rules"]] == [EPHEMERAL, STANDARD, PERSISTENT, BUCKET]
    assert "permanent" not in to_json(config)


def test_render_without_a_key_root_filters_on_the_tag_alone() -> None:
    rules = rule_by_id(render(SHIPPED, key_root="", flavor="aws"))
    assert rules[STANDARD]["Filter"] == {"Tag": {"Key": "tier", "Value": "standard"}}
    assert rules[EPHEMERAL]["Filter"] == {"Tag": {"Key": "tier", "Value": "ephemeral"}}
    assert rules[BUCKET]["Filter"] == {"Prefix": ""}


@pytest.mark.parametrize(("key_root", "prefix"), [("/gw/", "gw/"), ("prod/gw", "prod/gw/"), ("/", "")])
def test_the_key_root_is_normalised_like_the_settings_do(key_root: str, prefix: str) -> None:
    rules = rule_by_id(render(SHIPPED, key_root=key_root, flavor="aws"))
    assert rules[STANDARD]["Filter"] == tag_filter("standard", prefix)
    assert rules[BUCKET]["Filter"] == {"Prefix": prefix}


def test_render_refuses_a_bad_key_root_and_an_unknown_flavor() -> None:
    with pytest.raises(ValueError, match="key root"):
        render(SHIPPED, key_root="gw/../x", flavor="aws")
    with pytest.raises(ValueError, match="aws, ceph, generic"):
        render(SHIPPED, key_root="gw", flavor="minio")
    with pytest.raises(ValueError, match="unknown backend flavor"):
        janitor_duties(SHIPPED, "s3")


def test_the_short_policy_renders_one_day_rules() -> None:
    rules = rule_by_id(render(SHORT, key_root="gw", flavor="ceph"))
    assert rules[STANDARD]["Expiration"] == {"Days": 1}
    assert "NoncurrentVersionExpiration" not in rules[STANDARD]
    assert rules[PERSISTENT]["Expiration"] == {"Days": 3}
    assert rules[PERSISTENT]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    aws = rule_by_id(render(SHORT, key_root="gw", flavor="aws"))
    assert aws[STANDARD]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1, "NewerNoncurrentVersions": 2}


def test_the_bucket_rule_follows_the_bucket_table() -> None:
    policy = replace(SHIPPED, expire_delete_markers=False, abort_incomplete_multipart_days=3)
    assert rule_by_id(render(policy, key_root="gw", flavor="aws"))[BUCKET] == {
        "ID": BUCKET,
        "Status": "Enabled",
        "Filter": {"Prefix": "gw/"},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
    }


@pytest.mark.parametrize("flavor", FLAVORS)
def test_keep_versions_without_an_age_is_never_a_lifecycle_rule(flavor: str) -> None:
    policy = with_tiers(tier("counted", retention_days=30, keep_versions=5), tier("only-count", keep_versions=3))
    rules = rule_by_id(render(policy, key_root="gw", flavor=flavor))
    assert rules["session-gateway:tier:counted"] == {
        "ID": "session-gateway:tier:counted",
        "Status": "Enabled",
        "Filter": tag_filter("counted"),
        "Expiration": {"Days": 30},
    }
    assert "session-gateway:tier:only-count" not in rules
    duties = janitor_duties(policy, flavor)
    assert len(duties) == 2
    assert "'counted'" in duties[0] and "newest 5" in duties[0] and "count alone" in duties[0]
    assert "'only-count'" in duties[1] and "newest 3" in duties[1]


def test_transitions_are_rendered_in_order() -> None:
    moves = (Transition(30, "STANDARD_IA"), Transition(180, "GLACIER"))
    policy = with_tiers(tier("archive", retention_days=365, transitions=moves))
    rule = rule_by_id(render(policy, key_root="", flavor="aws"))["session-gateway:tier:archive"]
    assert rule["Transitions"] == [
        {"Days": 30, "StorageClass": "STANDARD_IA"},
        {"Days": 180, "StorageClass": "GLACIER"},
    ]
    assert rule["Expiration"] == {"Days": 365}


def test_aws_refuses_early_moves_to_infrequent_access_but_other_backends_take_them() -> None:
    policy = with_tiers(tier("fast", transitions=(Transition(5, "GLACIER_IR"), Transition(10, "ONEZONE_IA"))))
    with pytest.raises(PolicyError) as caught:
        render(policy, key_root="gw", flavor="aws")
    assert str(caught.value) == (
        f"{SHIPPED.source}: tiers.fast.transitions[1].days: AWS S3 needs at least 30 days before a move to "
        "ONEZONE_IA (got 10)"
    )
    rule = rule_by_id(render(policy, key_root="gw", flavor="ceph"))["session-gateway:tier:fast"]
    assert [move["Days"] for move in rule["Transitions"]] == [5, 10]


def test_the_rule_limit() -> None:
    fits = with_tiers(*(tier(f"t{index}", retention_days=1) for index in range(999)))
    assert len(render(fits, key_root="gw", flavor="aws")["Rules"]) == 1000
    too_many = with_tiers(*(tier(f"t{index}", retention_days=1) for index in range(1000)))
    with pytest.raises(PolicyError, match="1001 lifecycle rules; S3 allows at most 1000"):
        render(too_many, key_root="gw", flavor="aws")
    # Tiers with nothing to enforce take no rule, so they do not count.
    quiet = with_tiers(*(tier(f"t{index}") for index in range(1500)))
    assert [rule["ID"] for rule in render(quiet, key_root="gw", flavor="aws")["Rules"]] == [BUCKET]


def test_janitor_duties() -> None:
    assert janitor_duties(SHIPPED, "aws") == [
        "Delete the files of tier 'ephemeral' when their session ends; its lifecycle rule removes files left behind "
        "after 7 days."
    ]
    ceph = janitor_duties(SHIPPED, "ceph")
    assert ceph[0] == janitor_duties(SHIPPED, "aws")[0]
    assert len(ceph) == 3
    assert "'standard'" in ceph[1] and "30 days" in ceph[1] and "newest 10" in ceph[1]
    assert "'persistent'" in ceph[2] and "90 days" in ceph[2] and "newest 20" in ceph[2]
    no_net = with_tiers(tier("scratch", ends_with_session=True))
    assert janitor_duties(no_net, "aws") == [
        "Delete the files of tier 'scratch' when their session ends; no lifecycle rule removes files left behind."
    ]


TAG = {"Key": "tier", "Value": "standard"}
OTHER_TAG = {"Key": "team", "Value": "ml"}
EQUIVALENT_RULES = [
    ("single tag in And", {"Filter": {"And": {"Prefix": "", "Tags": [TAG]}}}, {"Filter": {"Tag": TAG}}),
    ("single tag in And without prefix", {"Filter": {"And": {"Tags": [TAG]}}}, {"Filter": {"Tag": TAG}}),
    ("prefix alone in And", {"Filter": {"And": {"Prefix": "gw/"}}}, {"Filter": {"Prefix": "gw/"}}),
    ("empty And", {"Filter": {"And": {"Prefix": "", "Tags": []}}}, {"Filter": {"Prefix": ""}}),
    ("empty filter", {"Filter": {}}, {"Filter": {"Prefix": ""}}),
    ("no filter at all", {}, {"Filter": {"Prefix": ""}}),
    ("rule-level prefix", {"Prefix": "gw/"}, {"Filter": {"Prefix": "gw/"}}),
    ("empty rule-level prefix beside a filter", {"Prefix": "", "Filter": {"Tag": TAG}}, {"Filter": {"Tag": TAG}}),
    (
        "tag order",
        {"Filter": {"And": {"Prefix": "gw/", "Tags": [TAG, OTHER_TAG]}}},
        {"Filter": {"And": {"Tags": [OTHER_TAG, TAG], "Prefix": "gw/"}}},
    ),
    (
        "transition order",
        {"Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 90, "StorageClass": "GLACIER"}]},
        {"Transitions": [{"StorageClass": "GLACIER", "Days": 90}, {"Days": 30, "StorageClass": "STANDARD_IA"}]},
    ),
    (
        "false delete-marker flag",
        {"Expiration": {"Days": 3, "ExpiredObjectDeleteMarker": False}},
        {"Expiration": {"Days": 3}},
    ),
    ("false delete-marker flag alone", {"Expiration": {"ExpiredObjectDeleteMarker": False}}, {}),
    (
        "date objects",
        {"Expiration": {"Date": datetime(2030, 1, 1, tzinfo=UTC)}},
        {"Expiration": {"Date": "2030-01-01T00:00:00+00:00"}},
    ),
]
DIFFERENT_RULES = [
    ("prefix", {"Filter": {"Prefix": "gw/"}}, {"Filter": {"Prefix": "other/"}}),
    ("prefix and tag against tag", {"Filter": {"And": {"Prefix": "gw/", "Tags": [TAG]}}}, {"Filter": {"Tag": TAG}}),
    ("two tags against one", {"Filter": {"And": {"Tags": [TAG, OTHER_TAG]}}}, {"Filter": {"Tag": TAG}}),
    ("status", {"Status": "Disabled"}, {"Status": "Enabled"}),
    (
        "kept versions",
        {"NoncurrentVersionExpiration": {"NoncurrentDays": 30, "NewerNoncurrentVersions": 10}},
        {"NoncurrentVersionExpiration": {"NoncurrentDays": 30}},
    ),
    ("true delete-marker flag", {"Expiration": {"ExpiredObjectDeleteMarker": True}}, {}),
    ("rule-level prefix beside a filter", {"Prefix": "gw/", "Filter": {"Tag": TAG}}, {"Filter": {"Tag": TAG}}),
    ("size filter", {"Filter": {"ObjectSizeGreaterThan": 10}}, {"Filter": {"Prefix": ""}}),
]


def one_rule(extra: dict[str, Any]) -> dict[str, Any]:
    return {"Rules": [{"ID": "r", "Status": "Enabled", **extra}]}


@pytest.mark.parametrize(
    ("first", "second"), [case[1:] for case in EQUIVALENT_RULES], ids=[c[0] for c in EQUIVALENT_RULES]
)
def test_normalise_equates_forms_with_the_same_meaning(first: dict[str, Any], second: dict[str, Any]) -> None:
    assert normalise(one_rule(first)) == normalise(one_rule(second))
    assert normalise(normalise(one_rule(first))) == normalise(one_rule(first))


@pytest.mark.parametrize(
    ("first", "second"), [case[1:] for case in DIFFERENT_RULES], ids=[c[0] for c in DIFFERENT_RULES]
)
def test_normalise_keeps_different_rules_apart(first: dict[str, Any], second: dict[str, Any]) -> None:
    assert normalise(one_rule(first)) != normalise(one_rule(second))


def test_normalise_sorts_rules_and_keys_and_drops_everything_but_rules() -> None:
    config = {
        "Rules": [
            {"Status": "Enabled", "ID": "b", "Filter": {"Prefix": "x/"}},
            {"ID": "a", "Filter": {"Prefix": ""}, "Status": "Enabled"},
            {"ID": "", "Status": "Enabled", "Filter": {"Prefix": "y/"}},
        ],
        "ResponseMetadata": {"HTTPStatusCode": 200},
        "TransitionDefaultMinimumObjectSize": "all_storage_classes_128K",
    }
    result = normalise(config)
    assert list(result) == ["Rules"]
    assert [rule.get("ID") for rule in result["Rules"]] == [None, "a", "b"]
    assert all(list(rule) == sorted(rule) for rule in result["Rules"])
    assert normalise({}) == {"Rules": []}


@pytest.mark.parametrize("flavor", FLAVORS)
def test_normalise_accepts_what_a_backend_echoes_back(flavor: str) -> None:
    desired = render(SHIPPED, key_root="", flavor=flavor)
    echoed = copy.deepcopy(desired)
    echoed["Rules"].reverse()
    for rule in echoed["Rules"]:
        rule["Prefix"] = ""
        if "Tag" in rule["Filter"]:
            rule["Filter"] = {"And": {"Prefix": "", "Tags": [rule["Filter"]["Tag"]]}}
    assert normalise(echoed) == normalise(desired)


def test_normalise_reads_a_flattened_and_filter_as_the_and_it_was() -> None:
    TAG = {"Key": "tier", "Value": "standard"}
    written = {"Rules": [{"ID": "r", "Status": "Enabled", "Filter": {"And": {"Prefix": "gw/", "Tags": [TAG]}}}]}
    read_back = {"Rules": [{"ID": "r", "Status": "Enabled", "Filter": {"Prefix": "gw/", "Tag": TAG}}]}
    assert normalise(written) == normalise(read_back)
    other = {"Rules": [{"ID": "r", "Status": "Enabled", "Filter": {"Prefix": "other/", "Tag": TAG}}]}
    assert normalise(other) != normalise(written)


def test_without_a_flavor_the_rules_are_rendered_in_full() -> None:
    assert render(SHIPPED, key_root="gw") == render(SHIPPED, key_root="gw", flavor="aws")
    policy = with_tiers(tier("fast", transitions=(Transition(10, "STANDARD_IA"),)))
    with pytest.raises(PolicyError, match=r"\(got 10\); on another S3, set GATEWAY_S3_FLAVOR to ceph or generic$"):
        render(policy, key_root="gw")


@pytest.mark.parametrize("policy", [SHIPPED, SHORT], ids=["shipped", "short"])
def test_dropping_the_kept_counts_gives_what_a_backend_without_them_gets(policy: Policy) -> None:
    full = render(policy, key_root="gw")
    assert keeps_newer_noncurrent(full)
    reduced = without_newer_noncurrent(full)
    assert reduced == render(policy, key_root="gw", flavor="ceph")
    assert not keeps_newer_noncurrent(reduced)
    assert full == render(policy, key_root="gw")  # the input is left alone


def test_keeps_newer_noncurrent_reads_one_rule_or_all() -> None:
    probe = newer_noncurrent_probe_rule("gw")
    assert probe == {
        "ID": "session-gateway:probe",
        "Status": "Enabled",
        "Filter": {"Prefix": "gw/_gateway/probe/"},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 1},
    }
    assert newer_noncurrent_probe_rule("")["Filter"] == {"Prefix": "_gateway/probe/"}
    config = {"Rules": [probe, *render(SHIPPED, key_root="gw", flavor="ceph")["Rules"]]}
    assert keeps_newer_noncurrent(config, "session-gateway:probe")
    assert not keeps_newer_noncurrent(config, STANDARD)
    assert not keeps_newer_noncurrent(None)
    assert not keeps_newer_noncurrent({"Rules": [{"ID": "x", "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})


def test_the_takeover_sentence_names_tier_count_and_age() -> None:
    rules = rule_by_id(render(SHIPPED, key_root="gw"))
    assert janitor_takeover(rules[PERSISTENT]) == (
        "keeps the newest 20 old versions of tier persistent and removes older ones 90 days after they stopped being "
        "current (the bucket does not keep NewerNoncurrentVersions)"
    )
    assert janitor_takeover(rules[EPHEMERAL]) is None
    assert janitor_takeover(rules[BUCKET]) is None


JANITOR_POLICY = with_tiers(
    tier("counted", retention_days=30, noncurrent_days=5, keep_versions=3),
    tier("aged", noncurrent_days=5),
    tier("count-only", keep_versions=2),
    tier("none-kept", noncurrent_days=5, keep_versions=0),
    tier("forever"),
)


def test_the_janitor_takes_every_noncurrent_promise_a_bucket_without_rules_leaves() -> None:
    everything = {"counted", "aged", "count-only", "none-kept"}
    assert janitor_noncurrent_tiers(JANITOR_POLICY, None, key_root="gw") == everything
    assert janitor_noncurrent_tiers(JANITOR_POLICY, {"Rules": []}, key_root="gw") == everything


def test_the_janitor_leaves_to_the_bucket_what_its_rules_carry_in_full() -> None:
    full = render(JANITOR_POLICY, key_root="gw")
    assert janitor_noncurrent_tiers(JANITOR_POLICY, full, key_root="gw") == {"count-only"}
    # Ceph RGW and moto read the rules back without NewerNoncurrentVersions.
    reduced = without_newer_noncurrent(full)
    assert janitor_noncurrent_tiers(JANITOR_POLICY, reduced, key_root="gw") == {"counted", "count-only"}
    # An expiry without the kept count, a disabled rule, or a rule on another filter carries nothing.
    age_only = copy.deepcopy(full)
    rule_by_id(age_only)["session-gateway:tier:counted"]["NoncurrentVersionExpiration"].pop("NewerNoncurrentVersions")
    assert janitor_noncurrent_tiers(JANITOR_POLICY, age_only, key_root="gw") == {"counted", "count-only"}
    disabled = copy.deepcopy(full)
    rule_by_id(disabled)["session-gateway:tier:aged"]["Status"] = "Disabled"
    assert janitor_noncurrent_tiers(JANITOR_POLICY, disabled, key_root="gw") == {"aged", "count-only"}
    assert janitor_noncurrent_tiers(JANITOR_POLICY, full, key_root="other") == {
        "counted",
        "aged",
        "count-only",
        "none-kept",
    }
    # What a backend echoes in another shape still counts (Ceph RGW flattens the And filter).
    echoed = copy.deepcopy(full)
    for rule in echoed["Rules"]:
        if "And" in rule["Filter"]:
            both = rule["Filter"]["And"]
            rule["Filter"] = {"Prefix": both["Prefix"], "Tag": both["Tags"][0]}
    assert janitor_noncurrent_tiers(JANITOR_POLICY, echoed, key_root="gw") == {"count-only"}


def test_janitor_duties_without_a_flavor_say_what_apply_finds_out() -> None:
    duties = janitor_duties(SHIPPED, None)
    assert duties[0] == janitor_duties(SHIPPED, "aws")[0]
    assert len(duties) == 3
    assert "'standard'" in duties[1] and "newest 10" in duties[1]
    assert "if the bucket does not keep NewerNoncurrentVersions" in duties[1]
