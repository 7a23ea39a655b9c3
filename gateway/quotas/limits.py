"""Quota limits: the defaults from settings and per-tenant overrides from the quota file, loaded and checked.

A limit is a whole number of bytes or files of current files; None is no limit. Each of the three scopes (tenant,
user, session) has both. The quota file (`GATEWAY_QUOTA_FILE`, TOML) overrides them per tenant, keyed by the
tenant claim's value::

    [tenants."acme"]
    tenant_bytes = 500_000_000_000
    user_files = 10_000
    session_bytes = "unlimited"     # lifts a default for this tenant

    [no_tenant]                     # tokens without a tenant claim
    user_bytes = 1_000_000_000

Nothing here does I/O except `load_quotas`, which reads the one TOML file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gateway.keys import USAGE_SCOPES
from gateway.policy.tiers import PolicyError, _Fields, _join, _shown
from gateway.settings import Settings

DIMENSIONS = ("bytes", "files")
# The names of the limits, as the quota file spells them: tenant_bytes, tenant_files, user_bytes, ...
LIMIT_NAMES = tuple(f"{scope}_{dimension}" for scope in USAGE_SCOPES for dimension in DIMENSIONS)
UNLIMITED = "unlimited"
NO_TENANT_TABLE = "no_tenant"
_TOP_KEYS = ("tenants", NO_TENANT_TABLE)


@dataclass(frozen=True)
class Limits:
    """The limits that apply to one tenant's writes, by name (`user_bytes`, ...); None is no limit."""

    values: Mapping[str, int | None] = field(default_factory=lambda: MappingProxyType(dict.fromkeys(LIMIT_NAMES)))

    def of(self, scope: str, dimension: str) -> int | None:
        return self.values[f"{scope}_{dimension}"]

    def scope_limited(self, scope: str) -> bool:
        return any(self.of(scope, dimension) is not None for dimension in DIMENSIONS)

    @property
    def any(self) -> bool:
        return any(value is not None for value in self.values.values())


@dataclass(frozen=True)
class QuotaPolicy:
    defaults: Limits
    tenants: Mapping[str, Limits]
    no_tenant: Limits
    source: str | None = None

    def for_tenant(self, tenant: str | None) -> Limits:
        if tenant is None:
            return self.no_tenant
        return self.tenants.get(tenant, self.defaults)

    @property
    def unlimited(self) -> bool:
        """No limit anywhere: quotas then cost no S3 call at all."""
        return not (self.defaults.any or self.no_tenant.any or any(limits.any for limits in self.tenants.values()))


def default_limits(settings: Settings) -> Limits:
    return Limits(MappingProxyType({name: getattr(settings, f"quota_{name}") for name in LIMIT_NAMES}))


def load_quotas(settings: Settings) -> QuotaPolicy:
    """The settings' limits, with the quota file's overrides when one is configured."""
    defaults = default_limits(settings)
    if settings.quota_file is None:
        return QuotaPolicy(defaults, MappingProxyType({}), defaults)
    source = settings.quota_file
    try:
        with open(Path(source), "rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise PolicyError(f"{source}: cannot read the quota file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{source}: not UTF-8 text: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from exc  # the message names line and column
    return parse_quotas(document, source, defaults)


def parse_quotas(document: Mapping[str, Any], source: str, defaults: Limits) -> QuotaPolicy:
    """Check a decoded quota file; the first problem found raises `PolicyError` naming the field."""
    fields = _Fields(source)
    top = fields.table(document, "", _TOP_KEYS)
    tenants = fields.table(top.get("tenants", {}), "tenants", None)
    overrides = {}
    for name, table in tenants.items():
        path = _join("tenants", name)
        if not name:
            raise fields.error(path, "a tenant claim is never empty")
        overrides[name] = _limits(fields, table, path, defaults)
    no_tenant = _limits(fields, top.get(NO_TENANT_TABLE, {}), NO_TENANT_TABLE, defaults)
    return QuotaPolicy(defaults, MappingProxyType(overrides), no_tenant, source)


def _limits(fields: _Fields, value: Any, path: str, defaults: Limits) -> Limits:
    table = fields.table(value, path, LIMIT_NAMES)
    values = dict(defaults.values)
    for name, limit in table.items():
        if limit == UNLIMITED:
            values[name] = None
        elif isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise fields.error(
                _join(path, name), f'must be an integer of at least 0, or "{UNLIMITED}" (got {_shown(limit)})'
            )
        else:
            values[name] = limit
    return Limits(MappingProxyType(values))
