"""An unconditional write's look at the key may land before or after the write: what it replaced either way."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.storage.store import VersionEntry
from gateway.storage.writes import Prepared

NOW = datetime(2024, 5, 1, tzinfo=UTC)


def _entry(version_id: str, *, marker: bool = False) -> VersionEntry:
    key = "gw/t/default/u/üser/s/01HZ/f/naïve 🚀 100%.txt"
    return VersionEntry(key, version_id, False, marker, None if marker else '"e"', None if marker else 1, NOW)


def test_a_look_before_the_write_saw_what_it_replaced() -> None:
    old, older = _entry("old"), _entry("older")
    assert Prepared(old, None, older, True).replaced_by("new") is old
    assert Prepared(None, None, None, True).replaced_by("new") is None
    marker = _entry("deleted", marker=True)
    assert Prepared(marker, None, old, True).replaced_by("new") is marker


def test_a_look_after_the_write_saw_it_on_top_of_what_it_replaced() -> None:
    new, old = _entry("new"), _entry("old")
    assert Prepared(new, None, old, True).replaced_by("new") is old
    assert Prepared(new, None, None, True).replaced_by("new") is None  # the key's first version
    assert Prepared(new, None, None, False).replaced_by("new") is ...  # the entry under it was not seen


def test_a_rival_on_top_of_the_write_leaves_it_unknown() -> None:
    rival, new = _entry("rival"), _entry("new")
    assert Prepared(rival, None, new, True).replaced_by("new") is ...
