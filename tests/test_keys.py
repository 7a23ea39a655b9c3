from __future__ import annotations

import itertools
import os
import random

import pytest

from gateway.errors import InvalidPath, NotFound
from gateway.keys import (
    MAX_IDENTITY_SEGMENT,
    MAX_KEY_BYTES,
    Owner,
    decode_identity,
    decode_path_bytes,
    encode_identity,
    encode_session_id,
    is_session_id,
    validate_root,
)

SID = encode_session_id(1_700_000_000_000, bytes(10))
TRICKY_IDENTITIES = [
    "alice",
    "Alice",
    "a/b",
    "a%2Fb",
    "a%2fb",
    "..",
    ".",
    "a..b",
    "%",
    "%25",
    "~x",
    "~",
    " ",
    "a b",
    "a\x00b",
    "a\nb",
    "é",
    "e\u0301",
    "\U0001f600",
    "\ud800",
    "t/acme/u/bob",
    "x" * MAX_IDENTITY_SEGMENT,
    "x" * (MAX_IDENTITY_SEGMENT + 1),
    "y" * 5000,
    "-_",
    "A-Z_09",
]


@pytest.mark.parametrize("value", TRICKY_IDENTITIES)
def test_identity_segments_are_safe_single_segments(value: str) -> None:
    segment = encode_identity(value)
    assert "/" not in segment
    assert segment not in {".", ".."}
    assert len(segment) <= MAX_IDENTITY_SEGMENT + 1
    assert all(c.isascii() and (c.isalnum() or c in "-_%~") for c in segment)


def test_identity_encoding_is_injective_over_tricky_values() -> None:
    encoded = [encode_identity(v) for v in TRICKY_IDENTITIES]
    assert len(set(encoded)) == len(TRICKY_IDENTITIES)


def test_identity_encoding_is_injective_over_random_values() -> None:
    rng = random.Random(1234)
    alphabet = "ab/%.~_-Zé\U0001f600 \x00"
    values = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(20_000)}
    values |= {"a" * n for n in range(1, 300)}
    assert len({encode_identity(v) for v in values}) == len(values)


@pytest.mark.parametrize("value", [v for v in TRICKY_IDENTITIES if not encode_identity(v).startswith("~")])
def test_readable_identity_segments_decode_back(value: str) -> None:
    assert decode_identity(encode_identity(value)) == value


def test_long_identities_become_digests() -> None:
    segment = encode_identity("y" * 5000)
    assert segment.startswith("~")
    assert decode_identity(segment) is None
    assert encode_identity("y" * 5000) == segment
    assert encode_identity("y" * 4999) != segment


def test_empty_identity_is_refused() -> None:
    with pytest.raises(ValueError):
        encode_identity("")


def test_layout() -> None:
    keys = Owner(root="prod/gw", tenant="acme", user="alice").session(SID)
    assert keys.prefix == f"prod/gw/t/acme/u/alice/s/{SID}/"
    assert keys.record == f"prod/gw/t/acme/u/alice/s/{SID}/session.json"
    assert keys.file("notes/a.txt") == f"prod/gw/t/acme/u/alice/s/{SID}/f/notes/a.txt"
    assert keys.folder("notes/") == f"prod/gw/t/acme/u/alice/s/{SID}/f/notes/"
    assert keys.folder("notes") == keys.folder("notes/")
    assert keys.listing("") == keys.files_prefix
    assert keys.listing("no") == keys.files_prefix + "no"
    assert keys.path_of(keys.file("x/y")) == "x/y"


def test_empty_root_has_no_leading_slash() -> None:
    assert Owner(root="", tenant="t", user="u").sessions_prefix == "t/t/u/u/s/"


def test_record_and_files_never_collide() -> None:
    keys = Owner(root="", tenant="t", user="u").session(SID)
    for path in ["session.json", "f/session.json", "../session.json".replace("../", "")]:
        assert keys.file(path) != keys.record


def test_prefixes_of_different_users_are_disjoint() -> None:
    owners = [Owner(root="r", tenant=t, user=u) for t, u in itertools.product(TRICKY_IDENTITIES[:12], repeat=2)]
    prefixes = [o.sessions_prefix for o in owners]
    for a, b in itertools.permutations(prefixes, 2):
        assert not a.startswith(b)


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("", "empty"),
        ("/abs", "empty-segment"),
        ("a//b", "empty-segment"),
        ("a/", "empty-segment"),
        (".", "dot-segment"),
        ("..", "dot-segment"),
        ("a/./b", "dot-segment"),
        ("a/../b", "dot-segment"),
        ("../../etc/passwd", "dot-segment"),
        ("a\\b", "backslash"),
        ("..\\x", "backslash"),
        ("a\x00b", "control-character"),
        ("a\nb", "control-character"),
        ("a\x7fb", "control-character"),
        ("a\x85b", "control-character"),
        ("\ud800", "utf-8"),
        ("x" * 2000, "too-long"),
    ],
)
def test_bad_paths_name_the_rule(path: str, rule: str) -> None:
    keys = Owner(root="", tenant="t", user="u").session(SID)
    with pytest.raises(InvalidPath) as caught:
        keys.file(path)
    assert caught.value.rule == rule
    assert caught.value.status == 400


@pytest.mark.parametrize("path", ["a", "a.b", "...", ".hidden", "a..b", "é/ü", "\U0001f600.txt", "a b/c d", "%2e%2e"])
def test_good_paths(path: str) -> None:
    keys = Owner(root="", tenant="t", user="u").session(SID)
    assert keys.path_of(keys.file(path)) == path


def test_paths_are_nfc_normalised() -> None:
    keys = Owner(root="", tenant="t", user="u").session(SID)
    assert keys.file("e\u0301.txt") == keys.file("\u00e9.txt")
    assert keys.path_of(keys.file("e\u0301.txt")) == "\u00e9.txt"


def test_key_limit_counts_the_whole_key_in_bytes() -> None:
    keys = Owner(root="", tenant="t", user="u").session(SID)
    room = MAX_KEY_BYTES - len(keys.files_prefix)
    assert len(keys.file("a" * room).encode()) == MAX_KEY_BYTES
    with pytest.raises(InvalidPath):
        keys.file("a" * (room + 1))
    with pytest.raises(InvalidPath):
        keys.file("é" * (room // 2 + 1))


@pytest.mark.parametrize("prefix", ["a/../", "../", "a//", "a\\", "a/..", "/"])
def test_bad_listing_prefixes(prefix: str) -> None:
    keys = Owner(root="", tenant="t", user="u").session(SID)
    with pytest.raises(InvalidPath):
        keys.listing(prefix)


def test_listing_prefix_may_end_mid_name() -> None:
    keys = Owner(root="", tenant="t", user="u").session(SID)
    assert keys.listing("docs/rep") == keys.files_prefix + "docs/rep"
    assert keys.listing("docs/") == keys.files_prefix + "docs/"


def test_raw_path_decoding() -> None:
    assert decode_path_bytes(b"a%20b/%C3%A9") == "a b/é"
    with pytest.raises(InvalidPath) as caught:
        decode_path_bytes(b"a%FFb")
    assert caught.value.rule == "utf-8"


def test_session_ids_sort_by_time_and_validate() -> None:
    early = encode_session_id(1_000, os.urandom(10))
    late = encode_session_id(2_000, os.urandom(10))
    assert early < late
    assert len(early) == 26
    assert is_session_id(early)
    assert encode_session_id(2**48 - 1, b"\xff" * 10) == "7" + "Z" * 25
    for bad in ["", "x", early.lower(), early[:-1], early + "A", "8" + early[1:], early[:5] + "I" + early[6:]]:
        assert not is_session_id(bad)
    with pytest.raises(NotFound):
        Owner(root="", tenant="t", user="u").session("../other")


def test_session_id_from_listing_prefix() -> None:
    owner = Owner(root="r", tenant="t", user="u")
    assert owner.session_id_from_prefix(owner.sessions_prefix + SID + "/") == SID
    assert owner.session_id_from_prefix(owner.sessions_prefix + "junk/") is None
    assert owner.session_id_from_prefix("r/t/t/u/other/s/" + SID + "/") is None


@pytest.mark.parametrize(
    ("root", "expected"), [("", ""), ("/", ""), ("a", "a"), ("/a/b/", "a/b"), ("a.b_c-d", "a.b_c-d")]
)
def test_roots(root: str, expected: str) -> None:
    assert validate_root(root) == expected


@pytest.mark.parametrize("root", ["a//b", "a/../b", "..", "a b", "é"])
def test_bad_roots(root: str) -> None:
    with pytest.raises(ValueError):
        validate_root(root)
