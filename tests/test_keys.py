from __future__ import annotations

import itertools
import os
import random

import pytest

from gateway.codepoints import is_noncharacter
from gateway.errors import InvalidPath, NotFound
from gateway.keys import (
    MAX_IDENTITY_SEGMENT,
    MAX_KEY_BYTES,
    Owner,
    decode_identity,
    decode_path_bytes,
    encode_identity,
    encode_session_id,
    is_export_key,
    is_session_id,
    legacy_owner_prefix,
    owner_key_name,
    owner_segments,
    server_key_name,
    session_prefix_of,
    validate_root,
)

SID = encode_session_id(1_700_000_000_000, bytes(10))
OWNER_KEY = bytes(range(32))
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
    keys = Owner(root="prod/gw", tenant="acme", user="alice", owner_key=OWNER_KEY).session(SID)
    tenant, user = owner_segments(OWNER_KEY, "acme", "alice")
    assert keys.prefix == f"prod/gw/o/{tenant}/{user}/s/{SID}/"
    assert keys.record == f"prod/gw/o/{tenant}/{user}/s/{SID}/session.json"
    assert keys.file("notes/a.txt") == f"prod/gw/o/{tenant}/{user}/s/{SID}/f/notes/a.txt"
    assert keys.folder("notes/") == f"prod/gw/o/{tenant}/{user}/s/{SID}/f/notes/"
    assert keys.folder("notes") == keys.folder("notes/")
    assert keys.listing("") == keys.files_prefix
    assert keys.listing("no") == keys.files_prefix + "no"
    assert keys.path_of(keys.file("x/y")) == "x/y"


def test_empty_root_has_no_leading_slash() -> None:
    prefix = Owner(root="", tenant="t", user="u", owner_key=OWNER_KEY).sessions_prefix
    assert prefix.startswith("o/") and prefix.endswith("/s/")


@pytest.mark.parametrize(("tenant", "user"), [("acme", "alice"), ("Ünïcode", "bob@example.com"), (None, "1042")])
def test_owner_segments_reveal_neither_tenant_nor_user(tenant: str | None, user: str) -> None:
    owner = Owner(root="gw", tenant=tenant, user=user, owner_key=OWNER_KEY)
    _, _, tenant_segment, user_segment, _, _ = owner.sessions_prefix.split("/")
    for segment in (tenant_segment, user_segment):
        assert len(segment) == 26 and segment.isalnum() and segment.islower()
        for name in filter(None, (tenant, user, encode_identity(user), tenant and encode_identity(tenant))):
            assert name.lower() not in segment
    # Without the deployment's key nobody can recompute them, so a link's holder cannot confirm a guess.
    other = Owner(root="gw", tenant=tenant, user=user, owner_key=bytes(32))
    assert other.sessions_prefix != owner.sessions_prefix
    assert Owner(root="gw", tenant=tenant, user=user, owner_key=OWNER_KEY) == owner


def test_one_user_in_two_tenants_cannot_be_linked_by_segments() -> None:
    in_a = Owner(root="", tenant="a", user="alice", owner_key=OWNER_KEY).sessions_prefix.split("/")
    in_b = Owner(root="", tenant="b", user="alice", owner_key=OWNER_KEY).sessions_prefix.split("/")
    assert in_a[1] != in_b[1] and in_a[2] != in_b[2]


def test_tenantless_tokens_never_share_a_tenant_with_any_tenant_name() -> None:
    tenantless = Owner(root="", tenant=None, user="u", owner_key=OWNER_KEY).sessions_prefix
    for name in ["default", "none", "~none", "%7Enone", "", " "]:
        if name:
            assert Owner(root="", tenant=name, user="u", owner_key=OWNER_KEY).sessions_prefix != tenantless


def test_legacy_keys_map_to_the_new_layout_without_the_claims() -> None:
    for tenant, user in [("acme", "alice"), (None, "bob"), ("x" * 200, "é 😀 100%")]:
        owner = Owner(root="gw", tenant=tenant, user=user, owner_key=OWNER_KEY)
        legacy_prefix = f"gw/t/{owner.legacy_tenant_segment}/u/{encode_identity(user)}/s/"
        found = legacy_owner_prefix("gw", legacy_prefix + SID + "/f/a.txt")
        assert found is not None
        prefix, tenant_segment, user_segment = found
        assert prefix == legacy_prefix
        tenant_hash, user_hash = owner_segments(OWNER_KEY, tenant_segment, user_segment)
        assert owner.sessions_prefix == f"gw/o/{tenant_hash}/{user_hash}/s/"
    assert legacy_owner_prefix("gw", "gw/o/abc/def/s/x") is None
    assert legacy_owner_prefix("gw", "other/t/a/u/b/s/x") is None
    assert legacy_owner_prefix("gw", "gw/_gateway/owner-key") is None


def test_session_prefix_of_finds_only_session_files() -> None:
    keys = Owner(root="gw", tenant="t", user="u", owner_key=OWNER_KEY).session(SID)
    assert session_prefix_of("gw", keys.file("a/b.txt")) == keys.prefix
    assert session_prefix_of("gw", keys.record) is None
    assert session_prefix_of("", keys.file("a")) is None
    assert session_prefix_of("gw", f"gw/t/t/u/u/s/{SID}/f/a") is None
    assert session_prefix_of("gw", owner_key_name("gw")) is None


def test_record_and_files_never_collide() -> None:
    keys = Owner(root="", tenant="t", user="u", owner_key=OWNER_KEY).session(SID)
    for path in ["session.json", "f/session.json", "../session.json".replace("../", "")]:
        assert keys.file(path) != keys.record


def test_prefixes_of_different_users_are_disjoint() -> None:
    owners = [
        Owner(root="r", tenant=t, user=u, owner_key=OWNER_KEY)
        for t, u in itertools.product(TRICKY_IDENTITIES[:12], repeat=2)
    ]
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
    keys = Owner(root="", tenant="t", user="u", owner_key=OWNER_KEY).session(SID)
    with pytest.raises(InvalidPath) as caught:
        keys.file(path)
    assert caught.value.rule == rule
    assert caught.value.status == 400


@pytest.mark.parametrize("path", ["a", "a.b", "...", ".hidden", "a..b", "é/ü", "\U0001f600.txt", "a b/c d", "%2e%2e"])
def test_good_paths(path: str) -> None:
    keys = Owner(root="", tenant="t", user="u", owner_key=OWNER_KEY).session(SID)
    assert keys.path_of(keys.file(path)) == path


def test_paths_are_nfc_normalised() -> None:
    keys = Owner(root="", tenant="t", user="u", owner_key=OWNER_KEY).session(SID)
    assert keys.file("e\u0301.txt") == keys.file("\u00e9.txt")
    assert keys.path_of(keys.file("e\u0301.txt")) == "\u00e9.txt"


def test_key_limit_counts_the_whole_key_in_bytes() -> None:
    keys = Owner(root="", tenant="t", user="u", owner_key=OWNER_KEY).session(SID)
    room = MAX_KEY_BYTES - len(keys.files_prefix)
    assert len(keys.file("a" * room).encode()) == MAX_KEY_BYTES
    with pytest.raises(InvalidPath):
        keys.file("a" * (room + 1))
    with pytest.raises(InvalidPath):
        keys.file("é" * (room // 2 + 1))


@pytest.mark.parametrize("prefix", ["a/../", "../", "a//", "a\\", "a/..", "/"])
def test_bad_listing_prefixes(prefix: str) -> None:
    keys = Owner(root="", tenant="t", user="u", owner_key=OWNER_KEY).session(SID)
    with pytest.raises(InvalidPath):
        keys.listing(prefix)


def test_listing_prefix_may_end_mid_name() -> None:
    keys = Owner(root="", tenant="t", user="u", owner_key=OWNER_KEY).session(SID)
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
        Owner(root="", tenant="t", user="u", owner_key=OWNER_KEY).session("../other")


def test_session_id_from_listing_prefix() -> None:
    owner = Owner(root="r", tenant="t", user="u", owner_key=OWNER_KEY)
    assert owner.session_id_from_prefix(owner.sessions_prefix + SID + "/") == SID
    assert owner.session_id_from_prefix(owner.sessions_prefix + "junk/") is None
    other = Owner(root="r", tenant="t", user="other", owner_key=OWNER_KEY)
    assert owner.session_id_from_prefix(other.sessions_prefix + SID + "/") is None


@pytest.mark.parametrize(
    ("root", "expected"), [("", ""), ("/", ""), ("a", "a"), ("/a/b/", "a/b"), ("a.b_c-d", "a.b_c-d")]
)
def test_roots(root: str, expected: str) -> None:
    assert validate_root(root) == expected


@pytest.mark.parametrize("root", ["a//b", "a/../b", "..", "a b", "é"])
def test_bad_roots(root: str) -> None:
    with pytest.raises(ValueError):
        validate_root(root)


BIDI_CONTROLS = ["\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))]
ENGLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
REFUSED_CODE_POINTS = [
    *[(f"invoice{c}fdp.exe", "bidi-control") for c in BIDI_CONTROLS],
    ("report\u200b.txt", "zero-width"),
    ("me\u200cdia", "zero-width"),  # Persian spelling uses it too; an invisible difference all the same
    ("a\u200db", "zero-width"),
    ("\u200d\U0001f600", "zero-width"),
    ("\U0001f600\u200d", "zero-width"),
    ("a\u200d\U0001f600", "zero-width"),
    ("\U0001f600\u200da", "zero-width"),
    ("\U0001f600\u200d\u200d\U0001f600", "zero-width"),
    ("word\u2060joiner", "zero-width"),
    ("\ufeffbom.txt", "zero-width"),
    ("line\u2028break", "line-separator"),
    ("para\u2029break", "line-separator"),
    ("\ufdd0", "noncharacter"),
    ("x\ufdef", "noncharacter"),
    ("x\ufffe", "noncharacter"),
    ("x\uffff", "noncharacter"),
    ("x\U0001fffe", "noncharacter"),
    ("x\U0010ffff", "noncharacter"),
    ("x\ue000", "private-use"),
    ("x\uf8ff", "private-use"),
    ("x\U000f0000", "private-use"),
    ("x\U0010fffd", "private-use"),
    ("x\u0378", "unassigned"),
    ("x\U00050000", "unassigned"),
    ("x\U000e0080", "unassigned"),
    ("soft\u00adhyphen", "format-character"),
    ("f\u2061x", "format-character"),
    ("mongolian\u180e", "format-character"),
    ("lang\U000e0001", "format-character"),
    ("annotation\ufff9", "format-character"),
    ("stray\U000e0067tag", "format-character"),
    ("\U0001f3f4\U000e0067\U000e0062", "format-character"),  # a flag's tags without the cancel tag
    ("\U000e007f", "format-character"),
    ("a/\u202e/b", "bidi-control"),
]


@pytest.mark.parametrize(("path", "rule"), REFUSED_CODE_POINTS, ids=[ascii(p) for p, _ in REFUSED_CODE_POINTS])
def test_code_points_that_display_dishonestly_are_refused(path: str, rule: str) -> None:
    keys = Owner(root="", tenant="t", user="u", owner_key=OWNER_KEY).session(SID)
    with pytest.raises(InvalidPath) as caught:
        keys.file(path)
    assert caught.value.rule == rule
    assert caught.value.extra == {"rule": rule}
    assert caught.value.detail.startswith("the path ")
    with pytest.raises(InvalidPath) as in_prefix:
        keys.listing(path)
    assert in_prefix.value.rule == rule
    assert in_prefix.value.detail.startswith("the prefix ")


def test_refusals_name_the_code_point() -> None:
    keys = Owner(root="", tenant="t", user="u", owner_key=OWNER_KEY).session(SID)
    with pytest.raises(InvalidPath, match=r"U\+202E \(RIGHT-TO-LEFT OVERRIDE\)"):
        keys.file("a\u202eb")
    with pytest.raises(InvalidPath, match=r"U\+200B \(ZERO WIDTH SPACE\)"):
        keys.file("a\u200bb")
    with pytest.raises(InvalidPath, match=r"U\+E000"):
        keys.file("a\ue000")


DISPLAYABLE_PATHS = [
    "报告/数据.txt",
    "日本語のファイル.md",
    "한국어/문서",
    "Привет.txt",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629.txt",  # right-to-left letters are fine; only the controls are not
    "\U0001f600.txt",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family.png",
    "\U0001f3f3\ufe0f\u200d\U0001f308",  # rainbow flag: a variation selector before the joiner
    "\u2764\ufe0f\u200d\U0001f525",  # heart on fire
    "\U0001f469\U0001f3fd\u200d\U0001f4bb",  # technologist with a skin tone
    "\U0001f642\u200d\u2194\ufe0f",  # head shaking horizontally (Unicode 15.1)
    "\U0001f408\u200d\u2b1b",  # black cat
    f"{ENGLAND} flag",
    "\U0001f1eb\U0001f1f7",  # regional indicators
    "1\ufe0f\u20e3",  # keycap
    "\U0001fa77 pink heart",  # newer than some Pythons' Unicode, in a block reserved for emoji
    "\u0600\u0661\u0662",  # the Arabic number sign is a format character with a glyph
    "100%/%41%2F",
    "a b\u00a0c",
    "caf\u00e9",
]


@pytest.mark.parametrize("path", DISPLAYABLE_PATHS, ids=[ascii(p) for p in DISPLAYABLE_PATHS])
def test_displayable_paths_are_kept_as_sent(path: str) -> None:
    keys = Owner(root="", tenant="t", user="u", owner_key=OWNER_KEY).session(SID)
    assert keys.path_of(keys.file(path)) == path
    assert keys.listing(path) == keys.files_prefix + path


def test_nfd_input_is_checked_after_normalising() -> None:
    keys = Owner(root="", tenant="t", user="u", owner_key=OWNER_KEY).session(SID)
    assert keys.path_of(keys.file("cafe\u0301/\U0001f600")) == "caf\u00e9/\U0001f600"
    with pytest.raises(InvalidPath) as caught:
        keys.file("cafe\u0301\u202e")
    assert caught.value.rule == "bidi-control"


def test_every_noncharacter_and_no_other_code_point_is_one() -> None:
    found = [code for code in range(0x110000) if is_noncharacter(code)]
    assert len(found) == 66
    assert found[:32] == list(range(0xFDD0, 0xFDF0))
    assert all(code & 0xFFFF in {0xFFFE, 0xFFFF} for code in found[32:])


def test_server_keys_live_beside_the_sessions_never_among_them() -> None:
    assert server_key_name("prod/gw") == "prod/gw/_gateway/server-key"
    assert server_key_name("") == "_gateway/server-key"
    assert owner_key_name("prod/gw") == "prod/gw/_gateway/owner-key"
    for root, naming in itertools.product(("", "prod/gw"), (server_key_name, owner_key_name)):
        name = naming(root)
        assert session_prefix_of(root, name) is None
        for identity in TRICKY_IDENTITIES:
            prefix = Owner(root=root, tenant=identity, user=identity, owner_key=OWNER_KEY).sessions_prefix
            assert not name.startswith(prefix)
            assert not prefix.startswith(name)


def test_exports_live_beside_the_files_and_only_ulids_name_them() -> None:
    keys = Owner(root="gw", tenant="t", user="u", owner_key=OWNER_KEY).session(SID)
    export_id = encode_session_id(1_800_000_000_000, bytes(range(10)))
    record, archive = keys.export_record(export_id), keys.export_archive(export_id)
    assert record == keys.exports_prefix + export_id + ".json" and archive == keys.exports_prefix + export_id + ".zip"
    assert keys.exports_prefix == keys.prefix + "exports/" and not keys.exports_prefix.startswith(keys.files_prefix)
    assert is_export_key("gw", record) and is_export_key("gw", archive)
    assert session_prefix_of("gw", record) is None  # never judged as a file
    assert not is_export_key("gw", keys.file("exports/" + export_id + ".json"))
    assert not is_export_key("gw", keys.record) and not is_export_key("", record)
    for bad in ("", "nope", export_id.lower(), export_id + "/x", "../" + export_id, export_id[:-1]):
        with pytest.raises(NotFound):
            keys.export_record(bad)
        with pytest.raises(NotFound):
            keys.export_archive(bad)
