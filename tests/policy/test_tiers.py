from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import BadRequest
from gateway.policy.tiers import (
    MAX_KEEP_VERSIONS,
    MAX_TIERS,
    STORAGE_CLASSES,
    TIER_TAG,
    PolicyError,
    Tier,
    Transition,
    load_policy,
    parse_policy,
)

ROOT = Path(__file__).resolve().parent.parent.parent
SHIPPED = ROOT / "policies" / "tiers.toml"
SHORT = ROOT / "tests" / "data" / "tiers-short.toml"
SOURCE = "policies/tiers.toml"
NAMES = ("ephemeral", "standard", "persistent", "permanent")


def valid_document() -> dict[str, Any]:
    return {
        "default_tier": "standard",
        "bucket": {"abort_incomplete_multipart_days": 1, "expire_delete_markers": True},
        "tiers": {
            "ephemeral": {
                "description": "scratch",
                "retention_days": 7,
                "noncurrent_days": 1,
                "keep_versions": 0,
                "ends_with_session": True,
            },
            "standard": {"description": "work", "retention_days": 30, "noncurrent_days": 30, "keep_versions": 10},
            "persistent": {
                "description": "results",
                "retention_days": 365,
                "noncurrent_days": 90,
                "keep_versions": 20,
                "transitions": [{"days": 90, "storage_class": "STANDARD_IA"}],
            },
            "permanent": {"description": "forever"},
        },
    }


def test_the_shipped_policy_loads() -> None:
    policy = load_policy(SHIPPED)
    assert policy.source == str(SHIPPED)
    assert policy.names == NAMES
    assert policy.default_tier == "standard"
    assert policy.abort_incomplete_multipart_days == 1
    assert policy.expire_delete_markers is True
    assert policy.tiers["ephemeral"] == Tier(
        name="ephemeral",
        description=policy.tiers["ephemeral"].description,
        retention_days=7,
        noncurrent_days=1,
        keep_versions=0,
        transitions=(),
        ends_with_session=True,
    )
    standard, persistent, permanent = (policy.tiers[name] for name in NAMES[1:])
    assert (standard.retention_days, standard.noncurrent_days, standard.keep_versions) == (30, 30, 10)
    assert (persistent.retention_days, persistent.noncurrent_days, persistent.keep_versions) == (365, 90, 20)
    assert (permanent.retention_days, permanent.noncurrent_days, permanent.keep_versions) == (None, None, None)
    assert [tier.name for tier in policy.tiers.values() if tier.ends_with_session] == ["ephemeral"]
    assert all(tier.description for tier in policy.tiers.values())
    assert all(not tier.transitions for tier in policy.tiers.values())


def test_the_commented_transition_example_is_valid(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    example = '# transitions = [{ days = 90, storage_class = "STANDARD_IA" }]'
    assert text.count(example) == 1
    edited = tmp_path / "tiers.toml"
    edited.write_text(text.replace(example, example.removeprefix("# ")), encoding="utf-8")
    policy = load_policy(edited)
    assert policy.tiers["persistent"].transitions == (Transition(days=90, storage_class="STANDARD_IA"),)


def test_the_short_policy_loads() -> None:
    policy = load_policy(str(SHORT))
    assert policy.source == str(SHORT)
    assert policy.names == NAMES
    assert {name: tier.retention_days for name, tier in policy.tiers.items()} == {
        "ephemeral": 1,
        "standard": 1,
        "persistent": 3,
        "permanent": None,
    }
    assert policy.tiers["standard"].keep_versions == 2
    assert {tier.noncurrent_days for tier in policy.tiers.values() if tier.retention_days} == {1}


def test_a_valid_document_parses_in_file_order() -> None:
    document = valid_document()
    document["tiers"] = dict(reversed(list(document["tiers"].items())))
    policy = parse_policy(document, SOURCE)
    assert policy.names == tuple(reversed(NAMES))
    assert policy.tiers["persistent"].transitions == (Transition(90, "STANDARD_IA"),)
    assert policy.tiers["permanent"].ends_with_session is False


def test_the_tier_mapping_is_read_only() -> None:
    policy = parse_policy(valid_document(), SOURCE)
    with pytest.raises(TypeError):
        policy.tiers["gold"] = policy.tiers["standard"]  # type: ignore[index]
    assert "gold" not in policy.tiers


def test_tier_lookup() -> None:
    policy = parse_policy(valid_document(), SOURCE)
    assert policy.tier("persistent") is policy.tiers["persistent"]
    assert TIER_TAG == "tier"


@pytest.mark.parametrize("name", ["gold", "Standard", "", "standard "])
def test_an_unknown_tier_is_a_bad_request_listing_the_valid_ones(name: str) -> None:
    policy = parse_policy(valid_document(), SOURCE)
    with pytest.raises(BadRequest) as caught:
        policy.tier(name)
    assert caught.value.status == 400
    assert caught.value.detail == f"unknown tier {name!r}; valid tiers: ephemeral, standard, persistent, permanent"
    assert caught.value.extra == {"valid_tiers": list(NAMES)}


@pytest.mark.parametrize("name", ["a", "a-1", "tier-2b", "x" * 63])
def test_tier_names_at_the_edges_of_the_rule_are_accepted(name: str) -> None:
    document = valid_document()
    document["tiers"][name] = {"description": "edge"}
    assert name in parse_policy(document, SOURCE).tiers


@pytest.mark.parametrize(("key", "value"), [("keep_versions", 0), ("keep_versions", MAX_KEEP_VERSIONS)])
def test_bounds_are_inclusive(key: str, value: int) -> None:
    document = valid_document()
    document["tiers"]["standard"][key] = value
    assert getattr(parse_policy(document, SOURCE).tiers["standard"], key) == value


@pytest.mark.parametrize("storage_class", STORAGE_CLASSES)
def test_every_listed_storage_class_is_accepted(storage_class: str) -> None:
    document = valid_document()
    document["tiers"]["persistent"]["transitions"] = [{"days": 10, "storage_class": storage_class}]
    assert parse_policy(document, SOURCE).tiers["persistent"].transitions == (Transition(10, storage_class),)


def test_the_maximum_number_of_tiers_is_accepted() -> None:
    document = valid_document()
    document["tiers"] = {f"t{index}": {"description": "many"} for index in range(MAX_TIERS)}
    document["default_tier"] = "t0"
    assert len(parse_policy(document, SOURCE).tiers) == MAX_TIERS


Edit = Callable[[dict[str, Any]], None]


def setting(path: str, value: Any) -> Edit:
    """An edit that sets (or, with DELETE, removes) the dotted `path` of the document."""

    def edit(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = document
        for part in parents:
            target = target[part]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value

    return edit


DELETE = object()
TRANSITIONS = "tiers.persistent.transitions"


def transitions(*pairs: tuple[Any, Any]) -> Edit:
    return setting(TRANSITIONS, [{"days": days, "storage_class": name} for days, name in pairs])


def many_tiers(document: dict[str, Any]) -> None:
    document["tiers"].update({f"t{index}": {"description": "many"} for index in range(MAX_TIERS)})


BROKEN: list[tuple[str, Edit, str, str]] = [
    ("top-level unknown key", setting("colour", "red"), "colour", "unknown key; allowed keys: default_tier, bucket"),
    ("default tier missing", setting("default_tier", DELETE), "default_tier", "required"),
    ("default tier unknown", setting("default_tier", "gold"), "default_tier", "must name one of the tiers"),
    ("default tier not text", setting("default_tier", 3), "default_tier", "(got 3)"),
    ("bucket missing", setting("bucket", DELETE), "bucket", "required"),
    ("bucket not a table", setting("bucket", 1), "bucket", "must be a table (got 1)"),
    ("bucket unknown key", setting("bucket.versioning", True), "bucket.versioning", "unknown key"),
    (
        "abort days missing",
        setting("bucket.abort_incomplete_multipart_days", DELETE),
        "bucket.abort_incomplete_multipart_days",
        "required",
    ),
    (
        "abort days zero",
        setting("bucket.abort_incomplete_multipart_days", 0),
        "bucket.abort_incomplete_multipart_days",
        "must be an integer of at least 1 (got 0)",
    ),
    (
        "abort days boolean",
        setting("bucket.abort_incomplete_multipart_days", True),
        "bucket.abort_incomplete_multipart_days",
        "(got true)",
    ),
    ("markers not a flag", setting("bucket.expire_delete_markers", "yes"), "bucket.expire_delete_markers", "true or"),
    ("markers missing", setting("bucket.expire_delete_markers", DELETE), "bucket.expire_delete_markers", "required"),
    ("tiers missing", setting("tiers", DELETE), "tiers", "required"),
    ("tiers empty", setting("tiers", {}), "tiers", "define at least one tier"),
    ("tiers not a table", setting("tiers", []), "tiers", "must be a table (got an array)"),
    ("too many tiers", many_tiers, "tiers", f"at most {MAX_TIERS} tiers"),
    ("upper-case tier name", setting("tiers.Gold", {"description": "x"}), "tiers.Gold", "lower-case letter"),
    ("tier name with a space", setting("tiers.a b", {"description": "x"}), 'tiers."a b"', "tier names"),
    ("tier name starting with a digit", setting("tiers.1st", {"description": "x"}), "tiers.1st", "tier names"),
    ("tier name starting with a dash", setting("tiers.-x", {"description": "x"}), "tiers.-x", "tier names"),
    ("tier name too long", setting("tiers." + "x" * 64, {"description": "x"}), "tiers." + "x" * 64, "tier names"),
    ("tier not a table", setting("tiers.standard", 30), "tiers.standard", "must be a table (got 30)"),
    (
        "tier unknown key",
        setting("tiers.standard.retention", 30),
        "tiers.standard.retention",
        "unknown key; allowed keys: description, retention_days, noncurrent_days, keep_versions, transitions, "
        "ends_with_session",
    ),
    ("description missing", setting("tiers.standard.description", DELETE), "tiers.standard.description", "required"),
    ("description empty", setting("tiers.standard.description", " "), "tiers.standard.description", "non-empty"),
    ("description not text", setting("tiers.standard.description", 5), "tiers.standard.description", "(got 5)"),
    ("retention zero", setting("tiers.standard.retention_days", 0), "tiers.standard.retention_days", "at least 1"),
    ("retention negative", setting("tiers.standard.retention_days", -3), "tiers.standard.retention_days", "(got -3)"),
    ("retention as text", setting("tiers.standard.retention_days", "30"), "tiers.standard.retention_days", '"30"'),
    ("retention fractional", setting("tiers.standard.retention_days", 1.5), "tiers.standard.retention_days", "1.5"),
    ("retention boolean", setting("tiers.standard.retention_days", True), "tiers.standard.retention_days", "true"),
    ("noncurrent zero", setting("tiers.standard.noncurrent_days", 0), "tiers.standard.noncurrent_days", "at least 1"),
    ("keep negative", setting("tiers.standard.keep_versions", -1), "tiers.standard.keep_versions", "from 0 to 100"),
    ("keep above S3's maximum", setting("tiers.standard.keep_versions", 101), "tiers.standard.keep_versions", "101"),
    (
        "ends flag as number",
        setting("tiers.standard.ends_with_session", 1),
        "tiers.standard.ends_with_session",
        "(got 1)",
    ),
    ("transitions not an array", setting(TRANSITIONS, {"days": 90}), TRANSITIONS, "must be an array"),
    ("transition not a table", setting(TRANSITIONS, [90]), TRANSITIONS + "[0]", "must be a table (got 90)"),
    (
        "transition unknown key",
        setting(TRANSITIONS, [{"days": 90, "storage_class": "GLACIER", "after": 1}]),
        TRANSITIONS + "[0].after",
        "unknown key; allowed keys: days, storage_class",
    ),
    ("transition days missing", setting(TRANSITIONS, [{"storage_class": "GLACIER"}]), TRANSITIONS + "[0].days", "req"),
    ("transition class missing", setting(TRANSITIONS, [{"days": 9}]), TRANSITIONS + "[0].storage_class", "required"),
    ("transition days zero", transitions((0, "GLACIER")), TRANSITIONS + "[0].days", "at least 1"),
    ("storage class lower-case", transitions((90, "standard_ia")), TRANSITIONS + "[0].storage_class", "must be one"),
    ("storage class misspelt", transitions((90, "STANDARD-IA")), TRANSITIONS + "[0].storage_class", "STANDARD-IA"),
    ("storage class not a target", transitions((90, "STANDARD")), TRANSITIONS + "[0].storage_class", "must be one"),
    ("transition days equal", transitions((90, "STANDARD_IA"), (90, "GLACIER")), TRANSITIONS + "[1].days", "more than"),
    ("transition days falling", transitions((200, "GLACIER"), (100, "GLACIER_IR")), TRANSITIONS + "[1].days", "200"),
    (
        "storage class twice",
        transitions((90, "GLACIER"), (120, "GLACIER")),
        TRANSITIONS + "[1].storage_class",
        "GLACIER already has a transition",
    ),
    ("transition at retention", transitions((365, "GLACIER")), TRANSITIONS + "[0].days", "less than the tier's"),
    ("transition after retention", transitions((400, "GLACIER")), TRANSITIONS + "[0].days", "retention_days of 365"),
]


@pytest.mark.parametrize(("edit", "path", "problem"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_invalid_documents_name_the_file_and_the_field(edit: Edit, path: str, problem: str) -> None:
    document = copy.deepcopy(valid_document())
    edit(document)
    with pytest.raises(PolicyError) as caught:
        parse_policy(document, SOURCE)
    message = str(caught.value)
    assert message.startswith(f"{SOURCE}: {path}: "), message
    assert problem in message


def test_the_error_message_is_exact() -> None:
    document = valid_document()
    document["tiers"]["standard"]["keep_versions"] = 500
    with pytest.raises(PolicyError) as caught:
        parse_policy(document, SOURCE)
    assert str(caught.value) == f"{SOURCE}: tiers.standard.keep_versions: must be an integer from 0 to 100 (got 500)"


def test_a_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(PolicyError) as caught:
        load_policy(missing)
    assert str(caught.value).startswith(f"{missing}: cannot read the policy file: ")


def test_a_directory_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        load_policy(tmp_path)


def test_bad_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "tiers.toml"
    broken.write_text('default_tier = "standard"\n[bucket\nabort_incomplete_multipart_days = 1\n', encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(broken)
    message = str(caught.value)
    assert message.startswith(f"{broken}: not valid TOML: ")
    assert "line 2" in message


def test_non_utf8_is_a_policy_error(tmp_path: Path) -> None:
    broken = tmp_path / "tiers.toml"
    broken.write_bytes(b'default_tier = "\xff"\n')
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(broken)


def test_a_loaded_file_is_validated_too(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8").replace("keep_versions = 10", "keep_versions = 500")
    edited = tmp_path / "tiers.toml"
    edited.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(edited)
    assert str(caught.value) == f"{edited}: tiers.standard.keep_versions: must be an integer from 0 to 100 (got 500)"
