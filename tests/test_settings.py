from __future__ import annotations

import pytest

from gateway.errors import SettingsError
from gateway.settings import GiB, MiB, Settings, describe

SECRET = "x" * 32


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.bucket == ""
    assert settings.s3_region == "us-east-1"
    assert settings.max_upload_bytes == 5 * GiB
    assert settings.multipart_threshold_bytes == 8 * MiB
    assert settings.jwt_audience == "session-gateway"
    assert settings.jwt_tenant_claim == "tid"


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "GATEWAY_BUCKET": "b",
            "GATEWAY_KEY_ROOT": "/prod/gw/",
            "GATEWAY_MAX_UPLOAD_BYTES": "1_000",
            "GATEWAY_S3_ENDPOINT_URL": "http://127.0.0.1:9000/",
            "GATEWAY_JWT_SECRET": SECRET,
            "GATEWAY_JWT_ALGORITHMS": "hs256, HS512",
        }
    )
    assert settings.key_root == "prod/gw"
    assert settings.max_upload_bytes == 1000
    assert settings.s3_endpoint_url == "http://127.0.0.1:9000"
    assert settings.accepted_algorithms == ("HS256", "HS512")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEWAY_MAX_UPLOAD_BYTES", "0"),
        ("GATEWAY_MAX_UPLOAD_BYTES", "-5"),
        ("GATEWAY_PORT", "http"),
        ("GATEWAY_MULTIPART_THRESHOLD_BYTES", "1024"),
        ("GATEWAY_JWKS_CACHE_SECONDS", "0"),
        ("GATEWAY_S3_PUBLIC_ENDPOINT_URL", "s3.example"),
        ("GATEWAY_JWT_TENANT_CLAIM", ""),
        ("GATEWAY_JWT_SECRET", "too short"),
    ],
)
def test_invalid_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_serving_needs_a_bucket_and_a_verifier() -> None:
    with pytest.raises(SettingsError, match="GATEWAY_BUCKET"):
        Settings.from_env({"GATEWAY_JWT_SECRET": SECRET}).require_serving()
    with pytest.raises(SettingsError, match="GATEWAY_JWT_SECRET"):
        Settings.from_env({"GATEWAY_BUCKET": "b"}).require_serving()
    Settings.from_env({"GATEWAY_BUCKET": "b", "GATEWAY_JWT_SECRET": SECRET}).require_serving()


def test_defaults_and_overrides_layer_around_the_environment() -> None:
    settings = Settings.from_env(
        {"GATEWAY_BUCKET": "env", "GATEWAY_PORT": "1"},
        defaults={"GATEWAY_BUCKET": "default", "GATEWAY_S3_REGION": "eu-west-1"},
        overrides={"GATEWAY_PORT": "2"},
    )
    assert (settings.bucket, settings.s3_region, settings.port) == ("env", "eu-west-1", 2)


def test_every_setting_is_described() -> None:
    rows = describe()
    assert all(name.startswith("GATEWAY_") and text for name, _default, text in rows)
    assert len({name for name, _, _ in rows}) == len(rows)


def test_redaction_patterns_are_read_and_checked_at_start() -> None:
    settings = Settings.from_env(
        {"GATEWAY_REDACT_PATTERNS": "# ours\nticket=TICKET-[0-9]{6}\n\n db-password = password=(?P<secret>\\S+)\n"}
    )
    assert settings.redact_patterns == (("ticket", "TICKET-[0-9]{6}"), ("db-password", " password=(?P<secret>\\S+)"))
    for bad, why in [
        ("no-equals-sign", "kind=regex"),
        ("Bad Kind=x", "kind=regex"),
        ("broken=(unclosed", "not a regular expression"),
        ("empty=a*", "matches the empty string"),
    ]:
        with pytest.raises(SettingsError, match=f"GATEWAY_REDACT_PATTERNS: line 1.*{why}"):
            Settings.from_env({"GATEWAY_REDACT_PATTERNS": bad})


def test_export_timings_must_fit_together() -> None:
    settings = Settings.from_env({})
    assert (settings.export_ttl_seconds, settings.export_heartbeat_seconds, settings.export_stale_seconds) == (
        86_400,
        10,
        60,
    )
    with pytest.raises(SettingsError, match="GATEWAY_EXPORT_STALE_SECONDS"):
        Settings.from_env({"GATEWAY_EXPORT_HEARTBEAT_SECONDS": "40"})
    with pytest.raises(SettingsError, match="GATEWAY_EXPORT_TTL_SECONDS"):
        Settings.from_env({"GATEWAY_EXPORT_TTL_SECONDS": "60"})
