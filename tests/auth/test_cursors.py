"""Sealed cursors, without a server: what opens, and that everything else is the same refusal."""

from __future__ import annotations

import base64
import json
import os
import time

import pytest

from gateway.auth.cursors import MAX_CURSOR_CHARS, CursorSealer
from gateway.errors import InvalidCursor, SettingsError
from gateway.settings import Settings

SECRET = b"k" * 32
BINDING = ("files.list", "gw/t/acme/u/alice/s/01HZX/", "notes/", "/")
STATE = {"token": "1/é/\U0001f600/e\u0301/100%"}


def _refused(sealer: CursorSealer, token: str, binding: tuple[str, ...] = BINDING) -> InvalidCursor:
    with pytest.raises(InvalidCursor) as caught:
        sealer.open(token, binding)
    assert caught.value.status == 400
    return caught.value


def test_a_cursor_opens_under_its_binding() -> None:
    sealer = CursorSealer(SECRET)
    cursor = sealer.seal(STATE, BINDING)
    assert sealer.open(cursor, BINDING) == STATE
    assert sealer.open(cursor, BINDING, expect=("token",)) == STATE
    # Another replica with the same secret opens it too.
    assert CursorSealer(SECRET).open(cursor, list(BINDING)) == STATE


def test_cursors_are_opaque_and_never_repeat() -> None:
    sealer = CursorSealer(SECRET)
    cursors = {sealer.seal(STATE, BINDING) for _ in range(50)}
    assert len(cursors) == 50
    for cursor in cursors:
        assert cursor.isascii() and "=" not in cursor
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        # Parts of at least four bytes: a shorter one turns up in random bytes now and then (0xC3 0xA9 is "é").
        for secret_part in (b"token", "/é/".encode(), "\U0001f600".encode(), b"100%", b"notes", b"alice"):
            assert secret_part not in raw


@pytest.mark.parametrize(
    "binding",
    [
        ("files.history", *BINDING[1:]),  # another route
        ("files.list", "gw/t/acme/u/bob/s/01HZX/", "notes/", "/"),  # another user
        ("files.list", "gw/t/acme/u/alice/s/01HZY/", "notes/", "/"),  # another session
        ("files.list", "gw/t/acme/u/alice/s/01HZX/", "notes/x", "/"),  # another prefix
        ("files.list", "gw/t/acme/u/alice/s/01HZX/", "notes/", ""),  # another delimiter
        ("files.list", "gw/t/acme/u/alice/s/01HZX/", "notes/"),  # a part fewer
        ("files.list", "gw/t/acme/u/alice/s/01HZX/notes/", "", "/"),  # same characters, other parts
        (*BINDING, ""),  # a part more
    ],
)
def test_another_binding_is_refused(binding: tuple[str, ...]) -> None:
    sealer = CursorSealer(SECRET)
    _refused(sealer, sealer.seal(STATE, BINDING), binding)


def test_another_secret_is_refused() -> None:
    cursor = CursorSealer(SECRET).seal(STATE, BINDING)
    _refused(CursorSealer(b"j" * 32), cursor)


def test_every_changed_character_is_refused() -> None:
    sealer = CursorSealer(SECRET)
    cursor = sealer.seal(STATE, BINDING)
    for index, char in enumerate(cursor):
        replacement = "A" if char != "A" else "B"
        _refused(sealer, cursor[:index] + replacement + cursor[index + 1 :])
    _refused(sealer, cursor[:-1])
    _refused(sealer, cursor + "A")
    _refused(sealer, cursor + "AAAA")


def test_one_answer_for_every_refusal() -> None:
    sealer = CursorSealer(SECRET)
    cursor = sealer.seal(STATE, BINDING)
    old_style = base64.urlsafe_b64encode(json.dumps({"token": "abc"}).encode()).decode().rstrip("=")
    garbage = [
        "",
        "garbage!",
        "%",
        "%41%41",
        "é",
        "\U0001f600",
        " ",
        cursor + "=",
        cursor + "\n",
        "A",
        "AAAA",
        "x" * (MAX_CURSOR_CHARS + 1),
        base64.urlsafe_b64encode(os.urandom(200)).decode().rstrip("="),
        base64.urlsafe_b64encode(b"\x02" + base64.urlsafe_b64decode(cursor + "==")[1:]).decode().rstrip("="),
        old_style,
    ]
    details = {_refused(sealer, token).detail for token in garbage}
    details.add(_refused(sealer, cursor, ("sessions.list", "gw/t/acme/u/alice/s/")).detail)
    assert len(details) == 1


def test_refusals_are_fast_whatever_the_size() -> None:
    sealer = CursorSealer(SECRET)
    started = time.perf_counter()
    for token in ["x" * 10**6, "é" * 10**5, "A" * MAX_CURSOR_CHARS]:
        _refused(sealer, token)
    assert time.perf_counter() - started < 1


def test_expected_fields_are_checked() -> None:
    sealer = CursorSealer(SECRET)
    with pytest.raises(InvalidCursor):
        sealer.open(sealer.seal({"after": "v1"}, BINDING), BINDING, expect=("token",))
    with pytest.raises(InvalidCursor):
        sealer.open(sealer.seal({"token": "t", "extra": "x"}, BINDING), BINDING, expect=("token",))


def test_the_largest_state_fits() -> None:
    """A continuation state as large as an S3 key in four-byte characters, with room to spare."""
    sealer = CursorSealer(SECRET)
    state = {"token": "\U0001f600" * 256 + "a" * 1024}
    cursor = sealer.seal(state, BINDING)
    assert len(cursor) < MAX_CURSOR_CHARS // 2
    assert sealer.open(cursor, BINDING) == state


def test_secrets_must_be_long_enough() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        CursorSealer(b"k" * 31)
    with pytest.raises(SettingsError, match="GATEWAY_SERVER_SECRET"):
        Settings.from_env({"GATEWAY_SERVER_SECRET": "short"})
    assert Settings.from_env({"GATEWAY_SERVER_SECRET": "é" * 16}).server_secret == "é" * 16


def test_a_genuine_cursor_over_the_limit_is_refused_before_it_is_opened() -> None:
    sealer = CursorSealer(SECRET)
    fits = sealer.seal({"token": "a" * 6000}, BINDING)
    assert len(fits) <= MAX_CURSOR_CHARS
    assert sealer.open(fits, BINDING) == {"token": "a" * 6000}
    too_long = sealer.seal({"token": "a" * 6200}, BINDING)
    assert len(too_long) > MAX_CURSOR_CHARS
    assert _refused(sealer, too_long).detail == _refused(sealer, "garbage!").detail
