"""What a session's backup lacks, judged from the two listings and the tiers of the versions not yet kept (pure).

A version is copied when its tier is backed up (session records always are: a restore needs the session) and the
backup has no record of it as a kept version. Once a key has a kept version, every later entry of its history is
recorded too, without bytes: a delete marker, or a version of a tier that is not backed up. Without them a
restore at a later moment would bring back a file that was by then deleted or replaced. Entries older than a
key's oldest kept version change nothing a restore can bring back, and are not recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.backup import layout
from gateway.backup.walk import Session
from gateway.keys import FILES_DIR, SESSION_RECORD_NAME
from gateway.storage.store import VersionEntry


@dataclass(frozen=True)
class Item:
    """An entry of the source to record in the backup: a version to copy (kind `version`) or a note."""

    kind: str
    entry: VersionEntry
    name: str  # the key inside its session
    below: str | None  # the entry under it in its key's history
    tier: str | None


@dataclass
class Plan:
    copies: list[Item] = field(default_factory=list)
    notes: list[Item] = field(default_factory=list)
    kept: int = 0  # versions the backup holds already


def backed_names(session: Session) -> dict[str, str]:
    """The keys of a session that backups look at (its files and its record), by key, with their names in it."""
    names = {}
    for key in session.histories:
        name = key[len(session.prefix) :]
        if name == SESSION_RECORD_NAME or name.startswith(FILES_DIR):
            names[key] = name
    return names


def _recorded(session: Session) -> dict[tuple[str, str], set[str]]:
    kinds: dict[tuple[str, str], set[str]] = {}
    for listed in session.recorded:
        kinds.setdefault((listed.name, listed.token), set()).add(listed.kind)
    return kinds


def untiered(session: Session) -> list[tuple[str, str]]:
    """The file versions whose tier must be read (a tag read each): those the backup does not keep yet."""
    kinds = _recorded(session)
    wanted = []
    for key, name in backed_names(session).items():
        if name == SESSION_RECORD_NAME:
            continue
        digest = layout.name_of(name)
        for entry in session.histories[key]:
            token = layout.version_token(entry.version_id)
            if not entry.is_delete_marker and layout.VERSION not in kinds.get((digest, token), set()):
                wanted.append((key, entry.version_id))
    return wanted


def plan(session: Session, tiers: Mapping[tuple[str, str], str | None], backed: frozenset[str]) -> Plan:
    """What to copy and note for `session`; `tiers` has the tier of every version `untiered` named."""
    kinds = _recorded(session)
    kept_stamps: dict[str, list[str]] = {}
    for listed in session.recorded:
        if listed.kind == layout.VERSION:
            kept_stamps.setdefault(listed.name, []).append(listed.stamp)
    result = Plan()
    for key, name in backed_names(session).items():
        digest = layout.name_of(name)
        history = session.histories[key]
        is_record = name == SESSION_RECORD_NAME
        oldest = min(kept_stamps.get(digest, []), default=None)
        pending: list[tuple[Item, str]] = []  # entries that are not kept versions, with their stamps
        for index, entry in enumerate(history):
            below = history[index + 1].version_id if index + 1 < len(history) else None
            recorded = kinds.get((digest, layout.version_token(entry.version_id)), set())
            moment = layout.stamp(entry.last_modified)
            tier = None if is_record or entry.is_delete_marker else tiers.get((key, entry.version_id))
            if not entry.is_delete_marker and layout.VERSION in recorded:
                result.kept += 1
                continue
            if not entry.is_delete_marker and (is_record or tier in backed):
                result.copies.append(Item(layout.VERSION, entry, name, below, tier))
                oldest = moment if oldest is None else min(oldest, moment)
                continue
            kind = layout.DELETED if entry.is_delete_marker else layout.SKIPPED
            if kind not in recorded:
                pending.append((Item(kind, entry, name, below, tier), moment))
        if oldest is not None:
            result.notes += [item for item, moment in pending if moment >= oldest]
    return result
