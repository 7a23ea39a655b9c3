"""The quota file: overrides per tenant, and mistakes refused at start-up naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.policy.tiers import PolicyError
from gateway.quotas.limits import load_quotas
from gateway.settings import Settings
from tests.conftest import ROOT


def _settings(path: Path | None, **extra: str) -> Settings:
    values = {"GATEWAY_QUOTA_USER_BYTES": "1000", **extra}
    if path is not None:
        values["GATEWAY_QUOTA_FILE"] = str(path)
    return Settings.from_env(values)


def test_overrides_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "q.toml"
    path.write_text('[tenants."ünï 😀%"]\nuser_bytes = "unlimited"\nsession_files = 0\n[no_tenant]\ntenant_files = 9\n')
    policy = load_quotas(_settings(path))
    assert policy.for_tenant("ünï 😀%").of("user", "bytes") is None
    assert policy.for_tenant("ünï 😀%").of("session", "files") == 0
    assert policy.for_tenant("other").of("user", "bytes") == 1000
    assert policy.for_tenant(None).of("tenant", "files") == 9
    assert policy.for_tenant(None).of("user", "bytes") == 1000
    assert not policy.unlimited
    assert load_quotas(Settings.from_env({})).unlimited


def test_the_example_loads() -> None:
    policy = load_quotas(_settings(ROOT / "policies" / "quotas.example.toml"))
    assert policy.for_tenant("acme").of("tenant", "bytes") == 500_000_000_000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[tenants."acme"]\nuser_bytes = "10GB"\n', "tenants.acme.user_bytes: must be an integer of at least 0"),
        ('[tenants."acme"]\nuser_byte = 1\n', "tenants.acme.user_byte: unknown key"),
        ("[tenants.acme]\nuser_files = -1\n", "tenants.acme.user_files: must be an integer"),
        ("[tenants.acme]\nuser_files = true\n", "tenants.acme.user_files: must be an integer"),
        ("[tenant]\n", "tenant: unknown key"),
        ("[tenants]\nacme = 3\n", "tenants.acme: must be a table"),
        ("[tenants.acme\n", "not valid TOML"),
    ],
)
def test_mistakes_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "q.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=message.replace(".", r"\.")):
        load_quotas(_settings(path))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the quota file"):
        load_quotas(_settings(tmp_path / "missing.toml"))
