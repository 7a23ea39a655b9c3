"""The secret patterns: each kind found and replaced, look-alikes left alone, operators' patterns added."""

from __future__ import annotations

import pytest

from gateway.services.redaction import BUILT_IN, Redactor, as_text
from tests.api.test_exports import SECRETS


@pytest.mark.parametrize(("kind", "secret"), list(SECRETS.items()))
def test_each_built_in_kind_is_replaced(kind: str, secret: str) -> None:
    redacted = Redactor().redact(f"before\n{secret}\nafter")
    assert redacted.replaced == {kind: 1}
    assert f"[REDACTED:{kind}]" in redacted.text and redacted.text.startswith("before\n")
    assert redacted.text.endswith("\nafter")


def test_every_built_in_kind_is_tested() -> None:
    assert {pattern.kind for pattern in BUILT_IN} == set(SECRETS)


def test_only_the_secret_is_replaced_where_a_name_comes_with_it() -> None:
    redacted = Redactor().redact('AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n')
    assert redacted.text == 'AWS_SECRET_ACCESS_KEY: "[REDACTED:aws-secret-access-key]"\n'
    bearer = Redactor().redact("curl -H 'Authorization: Bearer abc.def-ghi_jkl~mno'")
    assert bearer.text == "curl -H 'Authorization: Bearer [REDACTED:bearer-token]'"


def test_a_jwt_after_bearer_counts_once() -> None:
    jwt = SECRETS["jwt"]
    assert Redactor().redact(f"Authorization: Bearer {jwt}").replaced == {"jwt": 1}


@pytest.mark.parametrize(
    "harmless",
    [
        "the word bearer alone",
        "AKIA is a prefix",
        "sk-short",
        "sk_live_short",
        "ghp_tooshort",
        "eyJhbGciOiJIUzI1NiJ9 is half a token",
        "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
        "un résumé d'été 🎉 100%",
    ],
)
def test_look_alikes_are_left_alone(harmless: str) -> None:
    assert Redactor().redact(harmless).text == harmless


def test_several_of_one_kind_are_counted() -> None:
    text = " ".join(SECRETS["github-token"] for _ in range(3))
    redacted = Redactor().redact(text)
    assert redacted.replaced == {"github-token": 3}
    assert redacted.text == " ".join(["[REDACTED:github-token]"] * 3)


def test_operators_add_kinds_and_may_keep_the_name_readable() -> None:
    redactor = Redactor([("ticket", r"TICKET-[0-9]{6}"), ("db-password", r"password=(?P<secret>[^&\s]+)")])
    redacted = redactor.redact("see TICKET-123456, postgres://u@h/db?password=hunter2&ssl=1 and password= alone")
    assert (
        redacted.text
        == "see [REDACTED:ticket], postgres://u@h/db?password=[REDACTED:db-password]&ssl=1 and password= alone"
    )
    assert redacted.replaced == {"ticket": 1, "db-password": 1}
    assert redactor.kinds[-2:] == ["ticket", "db-password"]


def test_text_is_utf8_without_nul() -> None:
    assert as_text("été 🎉".encode()) == "été 🎉"
    assert as_text(b"\xff\xfe") is None
    assert as_text(b"text\x00with a nul") is None
    assert as_text(b"") == ""
