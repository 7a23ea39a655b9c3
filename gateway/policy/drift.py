"""How a bucket's lifecycle rules differ from the policy's: `plan` before writing them, `read_back` after.

Differences are named field by field (rule id, field path, wanted value, found value), on the canonical form of
`lifecycle.normalise`, so that a backend echoing a rule in another shape is not mistaken for drift. Pure: the caller
reads and writes the bucket.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.policy.exports import to_json
from gateway.policy.lifecycle import MAX_RULES, is_managed, janitor_takeover, normalise, without_newer_noncurrent
from gateway.policy.tiers import PolicyError


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class FieldDifference:
    """One field of one rule that is not what the policy wants; `path` "" stands for the whole rule."""

    rule_id: str
    path: str
    wanted: Any
    found: Any

    def describe(self) -> str:
        where = f"field {self.path}" if self.path else "the whole rule"
        return f"rule {self.rule_id}, {where}: wanted {_shown(self.wanted)}, found {_shown(self.found)}"


@dataclass(frozen=True)
class Takeover:
    """A rule the bucket holds without a field the janitor enforces instead; `promise` says what the janitor does."""

    rule_id: str
    promise: str


@dataclass(frozen=True)
class Plan:
    changes: list[str]
    differences: list[FieldDifference]
    # Managed rules that match once the janitor keeps what the bucket does not.
    takeovers: list[Takeover]
    diff: str
    unmanaged: list[dict[str, Any]]
    merged: dict[str, Any]

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def merged_with(self, config: Mapping[str, Any], *extra: Mapping[str, Any]) -> dict[str, Any]:
        """`config`'s rules, then `extra` rules, then the bucket's rules that the gateway does not manage."""
        return _merged([*(config.get("Rules") or []), *extra], self.unmanaged)


def _merged(ours: list[Mapping[str, Any]], unmanaged: list[dict[str, Any]]) -> dict[str, Any]:
    if len(ours) + len(unmanaged) > MAX_RULES:
        raise PolicyError(
            f"the policy's {len(ours)} lifecycle rules and the bucket's {len(unmanaged)} other rules exceed S3's "
            f"limit of {MAX_RULES}"
        )
    return {"Rules": [copy.deepcopy(dict(rule)) for rule in ours] + copy.deepcopy(unmanaged)}


def plan(current: Mapping[str, Any] | None, desired: Mapping[str, Any], *, janitor_covers: bool = False) -> Plan:
    """Compare the bucket's configuration (None: it has none) with the rendered one, keeping others' rules.

    With `janitor_covers`, a bucket rule equal to the desired one without its NewerNoncurrentVersions expiry (see
    `lifecycle.without_newer_noncurrent`) matches: the janitor keeps that promise, and the plan says so.
    """
    existing = normalise(current or {})["Rules"]
    wanted = normalise(desired)["Rules"]
    strays = [str(rule.get("ID", "")) for rule in wanted if not is_managed(rule)]
    if strays:
        raise ValueError(f"desired rules must have IDs starting with 'session-gateway:': {', '.join(strays)}")
    ours = {str(rule["ID"]): rule for rule in existing if is_managed(rule)}
    unmanaged = [rule for rule in existing if not is_managed(rule)]
    target = {str(rule["ID"]): rule for rule in wanted}
    covered = _by_id(without_newer_noncurrent({"Rules": wanted})) if janitor_covers else {}

    changes: list[str] = []
    differences: list[FieldDifference] = []
    takeovers: list[Takeover] = []
    accepted: dict[str, dict[str, Any]] = {}  # what the bucket may hold for the plan to be clean
    for rule_id in sorted(ours.keys() | target.keys()):
        before, after = ours.get(rule_id), target.get(rule_id)
        promise = janitor_takeover(after) if after is not None else None
        if janitor_covers and promise is not None and before == covered.get(rule_id):
            takeovers.append(Takeover(rule_id, promise))
            if before is not None:
                accepted[rule_id] = before
            continue
        if after is not None:
            accepted[rule_id] = after
        found = rule_differences(rule_id, before, after)
        if not found:
            continue
        differences += found
        if before is None:
            changes.append(f"add {rule_id}")
        elif after is None:
            changes.append(f"remove {rule_id}")
        else:
            fields = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
            changes.append(f"change {rule_id}: {', '.join(fields)}")

    diff = "".join(
        difflib.unified_diff(
            to_json({"Rules": list(ours.values())}).splitlines(keepends=True),
            to_json({"Rules": [accepted[rule_id] for rule_id in sorted(accepted)]}).splitlines(keepends=True),
            fromfile="bucket (managed rules)",
            tofile="policy",
        )
    )
    return Plan(
        changes=changes,
        differences=differences,
        takeovers=takeovers,
        diff=diff,
        unmanaged=unmanaged,
        merged=_merged(list(desired.get("Rules") or []), unmanaged),
    )


def read_back(found: Mapping[str, Any] | None, written: Mapping[str, Any]) -> list[FieldDifference]:
    """Every field in which the managed rules read back from the bucket differ from the ones just written."""
    have = {rule_id: rule for rule_id, rule in _by_id(normalise(found or {})).items() if is_managed(rule)}
    want = _by_id(normalise(written))
    return [
        difference
        for rule_id in sorted(have.keys() | want.keys())
        for difference in rule_differences(rule_id, have.get(rule_id), want.get(rule_id))
    ]


def rule_differences(rule_id: str, found: Any, wanted: Any, path: str = "") -> list[FieldDifference]:
    """The fields of two normalised rules (or parts of rules) that differ, deepest first named."""
    if found == wanted:
        return []
    if isinstance(found, Mapping) and isinstance(wanted, Mapping):
        return [
            difference
            for key in sorted(found.keys() | wanted.keys())
            for difference in rule_differences(
                rule_id, found.get(key, ABSENT), wanted.get(key, ABSENT), f"{path}.{key}" if path else str(key)
            )
        ]
    if isinstance(found, list) and isinstance(wanted, list) and len(found) == len(wanted):
        return [
            difference
            for index, (have, want) in enumerate(zip(found, wanted, strict=True))
            for difference in rule_differences(rule_id, have, want, f"{path}[{index}]")
        ]
    return [FieldDifference(rule_id, path, ABSENT if wanted is None else wanted, ABSENT if found is None else found)]


def _by_id(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(rule.get("ID", "")): rule for rule in config.get("Rules") or []}


def _shown(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
