"""Persistence tiers: the policy file that says how long each kind of file lives, loaded and checked.

Every file the gateway writes carries the S3 object tag `tier=<name>`; `gateway.policy.lifecycle` turns the policy into
lifecycle rules filtered on that tag, so S3 enforces retention without the gateway running.

How old versions go (`noncurrent_days`, `keep_versions`): a version that stopped being current is removed once it
has been noncurrent for `noncurrent_days` *and* is not among the newest `keep_versions` old versions. With only
`noncurrent_days`, age alone decides; with only `keep_versions`, it is a count limit that lifecycle rules cannot
express and the janitor enforces; with neither, every old version is kept.

Nothing here does I/O except `load_policy`, which reads the one TOML file.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gateway.errors import BadRequest

TIER_TAG = "tier"
# S3's NewerNoncurrentVersions accepts at most 100.
MAX_KEEP_VERSIONS = 100
# S3 allows 1,000 lifecycle rules per bucket: one goes to the bucket-wide rule and one stays free, so an operator
# can always keep at least one rule of their own next to the gateway's.
MAX_TIERS = 998
# The transition targets AWS S3 accepts. A fixed list rather than any upper-case word: a typo such as
# "STANDARD-IA" or "GLACIER_DA" is caught when the policy loads instead of when a PUT to the bucket fails.
STORAGE_CLASSES = ("STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "GLACIER_IR", "DEEP_ARCHIVE")
# Tier names become S3 tag values and rule IDs, so they stay lower-case ASCII with no separators S3 treats specially.
_TIER_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

_TOP_KEYS = ("default_tier", "bucket", "tiers")
_BUCKET_KEYS = ("abort_incomplete_multipart_days", "expire_delete_markers")
_TIER_KEYS = ("description", "retention_days", "noncurrent_days", "keep_versions", "transitions", "ends_with_session")
_TRANSITION_KEYS = ("days", "storage_class")


class PolicyError(Exception):
    """The policy file is missing, unreadable or invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Transition:
    """Move the current version to `storage_class` once it is `days` old."""

    days: int
    storage_class: str


@dataclass(frozen=True)
class Tier:
    name: str
    description: str
    retention_days: int | None
    noncurrent_days: int | None
    keep_versions: int | None
    transitions: tuple[Transition, ...]
    ends_with_session: bool


@dataclass(frozen=True)
class Policy:
    source: str
    tiers: Mapping[str, Tier]
    default_tier: str
    abort_incomplete_multipart_days: int
    expire_delete_markers: bool

    def tier(self, name: str) -> Tier:
        """The tier a client named; an unknown name is the client's mistake, so it is a 400 listing valid names."""
        found = self.tiers.get(name)
        if found is None:
            raise BadRequest(
                f"unknown tier {name!r}; valid tiers: {', '.join(self.names)}",
                extra={"valid_tiers": list(self.names)},
            )
        return found

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.tiers)


def load_policy(path: str | Path) -> Policy:
    source = str(path)
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise PolicyError(f"{source}: cannot read the policy file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{source}: not UTF-8 text: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        # The decoder's message already ends with "(at line N, column M)".
        raise PolicyError(f"{source}: not valid TOML: {exc}") from exc
    return parse_policy(document, source)


def parse_policy(document: Mapping[str, Any], source: str) -> Policy:
    """Check a decoded policy document; the first problem found raises `PolicyError`."""
    fields = _Fields(source)
    top = fields.table(document, "", _TOP_KEYS)
    bucket = fields.table(fields.required(top, "", "bucket"), "bucket", _BUCKET_KEYS)
    abort_days = fields.integer(
        fields.required(bucket, "bucket", "abort_incomplete_multipart_days"),
        "bucket.abort_incomplete_multipart_days",
        low=1,
    )
    expire_markers = fields.flag(
        fields.required(bucket, "bucket", "expire_delete_markers"), "bucket.expire_delete_markers"
    )

    raw_tiers = fields.table(fields.required(top, "", "tiers"), "tiers", None)
    if not raw_tiers:
        raise fields.error("tiers", "define at least one tier")
    if len(raw_tiers) > MAX_TIERS:
        raise fields.error(
            "tiers", f"at most {MAX_TIERS} tiers fit in one bucket's lifecycle rules (got {len(raw_tiers)})"
        )
    tiers = {name: _tier(fields, name, value) for name, value in raw_tiers.items()}

    default_tier = fields.required(top, "", "default_tier")
    if not isinstance(default_tier, str) or default_tier not in tiers:
        raise fields.error(
            "default_tier", f"must name one of the tiers ({', '.join(tiers)}) (got {_shown(default_tier)})"
        )
    return Policy(
        source=source,
        tiers=MappingProxyType(tiers),
        default_tier=default_tier,
        abort_incomplete_multipart_days=abort_days,
        expire_delete_markers=expire_markers,
    )


def _tier(fields: _Fields, name: str, value: Any) -> Tier:
    path = _join("tiers", name)
    if not _TIER_NAME.fullmatch(name):
        raise fields.error(path, "tier names are a lower-case letter, then up to 62 lower-case letters, digits or '-'")
    table = fields.table(value, path, _TIER_KEYS)
    description = fields.required(table, path, "description")
    if not isinstance(description, str) or not description.strip():
        raise fields.error(_join(path, "description"), f"must be a non-empty string (got {_shown(description)})")
    retention = _optional_int(fields, table, path, "retention_days", low=1)
    noncurrent = _optional_int(fields, table, path, "noncurrent_days", low=1)
    keep = _optional_int(fields, table, path, "keep_versions", low=0, high=MAX_KEEP_VERSIONS)
    ends = fields.flag(table.get("ends_with_session", False), _join(path, "ends_with_session"))
    return Tier(
        name=name,
        description=description.strip(),
        retention_days=retention,
        noncurrent_days=noncurrent,
        keep_versions=keep,
        transitions=_transitions(fields, table.get("transitions", []), _join(path, "transitions"), retention),
        ends_with_session=ends,
    )


def _transitions(fields: _Fields, value: Any, path: str, retention: int | None) -> tuple[Transition, ...]:
    if not isinstance(value, list):
        raise fields.error(path, f"must be an array of {{days, storage_class}} tables (got {_shown(value)})")
    found: list[Transition] = []
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        table = fields.table(item, item_path, _TRANSITION_KEYS)
        days = fields.integer(fields.required(table, item_path, "days"), _join(item_path, "days"), low=1)
        storage_class = fields.required(table, item_path, "storage_class")
        if storage_class not in STORAGE_CLASSES:
            raise fields.error(
                _join(item_path, "storage_class"),
                f"must be one of {', '.join(STORAGE_CLASSES)} (got {_shown(storage_class)})",
            )
        if found and days <= found[-1].days:
            raise fields.error(
                _join(item_path, "days"),
                f"must be more than the previous transition's {found[-1].days} days (got {days})",
            )
        if any(earlier.storage_class == storage_class for earlier in found):
            raise fields.error(_join(item_path, "storage_class"), f"{storage_class} already has a transition")
        if retention is not None and days >= retention:
            # Moving a file that is about to expire only adds the storage class's minimum charge.
            raise fields.error(
                _join(item_path, "days"), f"must be less than the tier's retention_days of {retention} (got {days})"
            )
        found.append(Transition(days=days, storage_class=storage_class))
    return tuple(found)


def _optional_int(
    fields: _Fields, table: Mapping[str, Any], path: str, key: str, *, low: int, high: int | None = None
) -> int | None:
    if key not in table:
        return None
    return fields.integer(table[key], _join(path, key), low=low, high=high)


@dataclass(frozen=True)
class _Fields:
    """Type and range checks that report the file and the field path they failed on."""

    source: str

    def error(self, path: str, problem: str) -> PolicyError:
        return PolicyError(f"{self.source}: {path}: {problem}" if path else f"{self.source}: {problem}")

    def table(self, value: Any, path: str, allowed: tuple[str, ...] | None) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(path, f"must be a table (got {_shown(value)})")
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    raise self.error(_join(path, key), f"unknown key; allowed keys: {', '.join(allowed)}")
        return value

    def required(self, table: Mapping[str, Any], path: str, key: str) -> Any:
        if key not in table:
            raise self.error(_join(path, key), "required")
        return table[key]

    def integer(self, value: Any, path: str, *, low: int, high: int | None = None) -> int:
        wanted = f"an integer from {low} to {high}" if high is not None else f"an integer of at least {low}"
        # bool is an int subclass, and `true` for a number of days is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            raise self.error(path, f"must be {wanted} (got {_shown(value)})")
        return value

    def flag(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(path, f"must be true or false (got {_shown(value)})")
        return value


def _join(path: str, key: str) -> str:
    shown = key if _BARE_KEY.fullmatch(key) else json.dumps(key)
    return f"{path}.{shown}" if path else shown


def _shown(value: Any) -> str:
    """A value as it would look in TOML, so the message matches what the author wrote."""
    if isinstance(value, bool | int | float | str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def tier_of(policy: Policy, tags: Mapping[str, str]) -> Tier | None:
    """The tier a version's tags name. None for untagged objects (written around the gateway) and for tiers the
    policy no longer has: no lifecycle rule matches them either, so nothing expires them."""
    return policy.tiers.get(tags.get(TIER_TAG, ""))


def tier_for_new_file(
    policy: Policy,
    path: str,
    *,
    explicit: str | None,
    session_default: str | None,
    folder_defaults: Mapping[str, str],
) -> str:
    """The tier of a new file: asked for, else its nearest folder's default, else the session's, else the policy's."""
    if explicit:
        return policy.tier(explicit).name
    folders = [folder for folder in folder_defaults if path.startswith(folder)]
    if folders:
        return folder_defaults[max(folders, key=len)]
    return session_default or policy.default_tier
