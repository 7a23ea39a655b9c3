"""Finding the configured tier policy."""

from __future__ import annotations

from pathlib import Path

from gateway.policy.tiers import Policy, load_policy
from gateway.settings import Settings

# In a source checkout, `policies/` sits beside the package.
_CHECKOUT = Path(__file__).resolve().parent.parent.parent


def policy_path(settings: Settings) -> Path:
    """`GATEWAY_POLICY_FILE` as given, or, when relative and absent here, relative to the source checkout."""
    path = Path(settings.policy_file)
    if path.is_absolute() or path.exists():
        return path
    beside = _CHECKOUT / path
    return beside if beside.exists() else path


def load_configured_policy(settings: Settings) -> Policy:
    return load_policy(policy_path(settings))
