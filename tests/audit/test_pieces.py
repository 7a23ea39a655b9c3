"""The pure pieces of the audit log: batch names and where they live, the denial limit, settings, signatures."""

from __future__ import annotations

import pytest

from gateway.audit.denials import Denial, DenialLimiter
from gateway.errors import SettingsError
from gateway.events import signing
from gateway.keys import (
    BatchName,
    OwnerSpace,
    audit_log_batch,
    batch_name_of,
    dead_letter_key,
    owner_audit_batch,
    owner_label,
    owner_space_of_key,
    session_keys_of,
    tenant_label,
)
from gateway.settings import Settings

ROOT = "gw"
OWNER = OwnerSpace(f"{ROOT}/o/{'a' * 26}/{'b' * 26}/")


def test_batch_names_sort_by_time_and_lie_outside_every_owner() -> None:
    early = BatchName(1_767_225_600_000, 1_767_225_600_900, "abcdefgh", 7)
    late = BatchName(1_767_229_200_000, 1_767_229_200_000, "zzzzzzzz", 1)
    keys = [audit_log_batch(ROOT, early), audit_log_batch(ROOT, late)]
    assert keys == [
        "gw/_audit/log/2026/01/01/00/1767225600000-1767225600900-abcdefgh-0000000007.jsonl",
        "gw/_audit/log/2026/01/01/01/1767229200000-1767229200000-zzzzzzzz-0000000001.jsonl",
    ]
    owner_key = owner_audit_batch(ROOT, OWNER, early)
    assert owner_key == f"gw/_audit/owners/{'a' * 26}/{'b' * 26}/{early.name}"
    assert owner_label(ROOT, OWNER) == f"{'a' * 26}/{'b' * 26}"
    for key in [*keys, owner_key, dead_letter_key(ROOT, early)]:
        assert batch_name_of(key) == (early if "abcdefgh" in key else late)
        # No session, no owner: no token or path names them.
        assert session_keys_of(ROOT, key) is None and owner_space_of_key(ROOT, key) is None
    assert owner_space_of_key(ROOT, OWNER.prefix + "s/x/f/é😀%") == OWNER
    assert batch_name_of("gw/_audit/log/2026/01/01/00/not-a-batch.jsonl") is None
    with pytest.raises(ValueError):
        _ = BatchName(5, 4, "abcdefgh", 1).name  # the last before the first
    assert tenant_label(b"k" * 32, "acmé") != tenant_label(b"k" * 32, None)


def _denial(principal: str | None, client: str = "192.0.2.1") -> Denial:
    return Denial(
        404, "not-found", "GET /v1/sessions/{sid}", "/v1/sessions/x", principal, None, None, "x", client, None
    )


def test_denials_are_limited_per_caller_and_counted() -> None:
    limiter = DenialLimiter(2, max_callers=2)
    mallory, alice = _denial("mallory"), _denial("alice")
    assert [limiter.admit(mallory, 1000 + n) for n in range(5)] == [True, True, False, False, False]
    assert limiter.admit(alice, 1000)  # a caller of their own
    # Callers beyond the windows kept share one: an attacker changing addresses gains nothing.
    crowd = [limiter.admit(_denial(None, f"198.51.100.{n}"), 1000) for n in range(3)]
    assert crowd == [True, True, False]
    assert limiter.ended(30_000) == []  # nobody's minute is over
    ended = limiter.ended(61_000)
    assert sorted((example.principal or "", count, start) for example, count, start in ended) == [
        ("", 1, 1000),
        ("mallory", 3, 1000),
    ]
    assert limiter.admit(mallory, 61_001)  # a new minute


def test_settings_of_the_audit_log_and_webhooks() -> None:
    assert Settings().settle_seconds == 1.0 + 5.0 + 4.0
    assert Settings.from_env({"GATEWAY_AUDIT_FLUSH_SECONDS": "0.5"}).audit_flush_seconds == 0.5
    with pytest.raises(SettingsError, match="GATEWAY_EVENTS_SETTLE_SECONDS"):
        Settings.from_env({"GATEWAY_EVENTS_SETTLE_SECONDS": "6"})
    with pytest.raises(SettingsError, match="GATEWAY_AUDIT_FLUSH_SECONDS"):
        Settings.from_env({"GATEWAY_AUDIT_FLUSH_SECONDS": "0"})
    with pytest.raises(SettingsError, match="GATEWAY_WEBHOOK_SECRET"):
        Settings.from_env({"GATEWAY_WEBHOOK_URLS": "https://hooks.example/a"})
    with pytest.raises(SettingsError, match="GATEWAY_WEBHOOK_SECRET"):
        Settings.from_env({"GATEWAY_WEBHOOK_URLS": "https://hooks.example/a", "GATEWAY_WEBHOOK_SECRET": "short"})
    with pytest.raises(SettingsError, match="GATEWAY_WEBHOOK_URLS"):
        Settings.from_env({"GATEWAY_WEBHOOK_URLS": "ftp://hooks.example/a"})


def test_signatures_hold_the_time_and_the_body() -> None:
    secret, body = b"s" * 32, '{"path":"é😀%"}'.encode()
    header = signing.signature(secret, 1_767_225_600, body)
    assert signing.verify(secret, header, body, now=1_767_225_600 + 299)
    assert not signing.verify(secret, header, body, now=1_767_225_600 + 301)  # too old: a replay
    assert not signing.verify(secret, header, body + b" ", now=1_767_225_600)
    assert not signing.verify(b"t" * 32, header, body, now=1_767_225_600)
    assert not signing.verify(secret, header.replace("t=", "t=1"), body, now=1_767_225_600)
    assert not signing.verify(secret, "v1=" + "0" * 64, body, now=1_767_225_600)
