"""A session's state at a moment, judged from its records (pure).

Each key of the session is what its newest entry at or before the moment says: a kept version (restorable), a
delete marker (the file did not exist then) or a version of a tier that is not backed up (the file was something
the backup does not hold). Entries of one key are ordered by their times, which S3 gives to the millisecond or
better; two entries in the same microsecond are ordered by the entry each one was written on (`below`), which
takes reading their records, so `newest` is given those.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from gateway.backup import layout
from gateway.backup.entries import Entry

_PREFERENCE = (layout.VERSION, layout.DELETED, layout.SKIPPED)


def merged(records: Sequence[layout.Listed]) -> dict[str, list[layout.Listed]]:
    """Per key (by its digest), one record per source entry, oldest first. An entry recorded twice (noted as a
    skipped version, then kept once its tier changed) counts as what was kept."""
    chosen: dict[tuple[str, str], layout.Listed] = {}
    for listed in records:
        found = chosen.get((listed.name, listed.token))
        if found is None or _PREFERENCE.index(listed.kind) < _PREFERENCE.index(found.kind):
            chosen[(listed.name, listed.token)] = listed
    by_name: dict[str, list[layout.Listed]] = {}
    for listed in chosen.values():
        by_name.setdefault(listed.name, []).append(listed)
    for entries in by_name.values():
        entries.sort(key=lambda listed: (listed.stamp, listed.token))
    return by_name


def candidates(history: Sequence[layout.Listed], at: datetime | None) -> list[layout.Listed]:
    """The entries that may be the newest at `at` (None: the newest of all): those of the latest time at or
    before it. One, except when entries share a microsecond."""
    limit = layout.stamp(at) if at is not None else None
    eligible = [listed for listed in history if limit is None or listed.stamp <= limit]
    if not eligible:
        return []
    latest = eligible[-1].stamp
    return [listed for listed in eligible if listed.stamp == latest]


def newest(entries: Sequence[Entry]) -> Entry:
    """Of entries of one key made at the same time, the one written last: no other was written on top of it."""
    below = {entry.below for entry in entries}
    on_top = [entry for entry in entries if entry.version_id not in below]
    return max(on_top or entries, key=lambda entry: entry.version_id)


def record_versions(history: Sequence[layout.Listed], at: datetime | None) -> list[layout.Listed]:
    """The session record's candidates: its kept versions of the latest time at or before `at` (a delete marker
    then is passed over: restoring a session undoes its deletion), else its oldest (`at` before it was made)."""
    versions = [listed for listed in history if listed.kind == layout.VERSION]
    return candidates(versions, at) or versions[:1]
