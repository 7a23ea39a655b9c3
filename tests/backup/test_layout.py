"""The backup bucket's layout and the judgement of a session's state at a moment (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.backup import layout, state
from gateway.backup.entries import Entry
from gateway.keys import Owner

ROOT = "gw"
KEYS = Owner(ROOT, "acmé", "usér 🎉", b"k" * 32).session("01J0000000000000000000000A")
T0 = datetime(2026, 1, 31, 12, 0, 0, 123_456, tzinfo=UTC)


def test_record_keys_name_what_they_hold_and_read_back() -> None:
    for version_id in ("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "null", "a.b_c-d", "x" * 200, "é"):
        key = layout.entry_key(ROOT, KEYS.prefix, "f/données/100% 🎉.txt", T0, version_id, layout.DELETED)
        listed = layout.parse_entry(ROOT, key)
        assert listed is not None and len(key.encode()) < 300
        assert listed.session_prefix == KEYS.prefix and listed.kind == layout.DELETED
        assert listed.name == layout.name_of("f/données/100% 🎉.txt")
        assert listed.token == layout.version_token(version_id) and layout.stamp_moment(listed.stamp) == T0
    assert layout.version_token("a.b_c-d") == "a.b_c-d" and layout.version_token("a/b").startswith("~")
    assert layout.parse_entry(ROOT, layout.entries_prefix(ROOT) + "o/elsewhere.json") is None
    assert layout.parse_entry(ROOT, layout.blob(ROOT, "0" * 64)) is None


def test_stamps_sort_as_moments_do() -> None:
    moments = [T0 + timedelta(microseconds=n) for n in (0, 1, 999_999, 10**7)]
    assert sorted(layout.stamp(m) for m in moments) == [layout.stamp(m) for m in moments]
    assert len({len(layout.stamp(m)) for m in moments}) == 1


def listed(name: str, moment: datetime, version_id: str, kind: str) -> layout.Listed:
    key = layout.entry_key(ROOT, KEYS.prefix, name, moment, version_id, kind)
    found = layout.parse_entry(ROOT, key)
    assert found is not None
    return found


def test_the_newest_entry_at_a_moment_wins_and_kept_beats_noted() -> None:
    later = T0 + timedelta(milliseconds=1)
    history = [
        listed("f/a", T0, "v1", layout.VERSION),
        listed("f/a", later, "v2", layout.SKIPPED),
        listed("f/a", later, "v2", layout.VERSION),  # noted as skipped, then kept once its tier changed
    ]
    merged = state.merged(history)[layout.name_of("f/a")]
    assert [(e.token, e.kind) for e in merged] == [("v1", layout.VERSION), ("v2", layout.VERSION)]
    assert [e.token for e in state.candidates(merged, T0)] == ["v1"]
    assert [e.token for e in state.candidates(merged, None)] == ["v2"]
    assert state.candidates(merged, T0 - timedelta(microseconds=1)) == []


def test_entries_of_one_moment_are_ordered_by_what_they_were_written_on() -> None:
    def entry(version_id: str, below: str | None, kind: str = layout.VERSION) -> Entry:
        return Entry(kind, KEYS.file("a"), "f/a", version_id, T0, below, size=1, sha256="0" * 64, blob="b")

    # Written zz, then aa on it, then a delete marker mm on aa: neither id order nor listing order tells.
    entries = [entry("aa", "zz"), entry("mm", "aa", layout.DELETED), entry("zz", None)]
    assert state.newest(entries).version_id == "mm"
    assert state.newest(entries[::-1]).version_id == "mm"
    assert state.newest([entry("aa", "zz"), entry("zz", None)]).version_id == "aa"


def test_a_record_round_trips() -> None:
    kept = Entry(
        layout.VERSION, KEYS.file("é"), "f/é", "v1", T0, None, "persistent", 3, "a" * 64, "text/plain",
        {"gateway-sha256": "a" * 64}, {"tier": "persistent"}, layout.blob(ROOT, "a" * 64),
    )  # fmt: skip
    assert Entry.decode(kept.encode()) == kept
    noted = Entry(layout.SKIPPED, KEYS.file("é"), "f/é", "v2", T0, "v1", "standard")
    assert Entry.decode(noted.encode()) == noted
