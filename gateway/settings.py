"""Configuration: one immutable `Settings`, built once from `GATEWAY_*` environment variables.

This is the only module that reads the environment. S3 credentials are not settings: they come from the standard
AWS chain (environment, profile, instance role), which botocore resolves itself.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar
from urllib.parse import urlsplit

from gateway.errors import SettingsError
from gateway.keys import validate_root

PREFIX = "GATEWAY_"
# Backend names that stand for a fixed set of facts about an S3 (`GATEWAY_S3_FLAVOR`), instead of probing it.
FLAVORS = ("aws", "ceph", "generic")
_AUTO_FLAVOR = "auto"
MiB = 1024 * 1024
GiB = 1024 * MiB
# RFC 7518 asks for HMAC keys at least as long as the hash output.
MIN_SECRET_BYTES = 32
_HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
_PUBLIC_KEY_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})

T = TypeVar("T")


def _text(raw: str) -> str:
    return raw


def _optional_text(raw: str) -> str | None:
    return raw or None


def _positive_int(raw: str) -> int:
    value = int(raw.replace("_", ""))
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw.replace("_", ""))
    if value < 0:
        raise ValueError("must be zero or a positive integer")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw.replace("_", ""))
    if not math.isfinite(value) or value < 0:
        raise ValueError("must be zero or a positive number")
    return value


_LOG_FORMATS = ("json", "text")


def _log_format(raw: str) -> str | None:
    if raw in ("", "auto"):
        return None
    if raw not in _LOG_FORMATS:
        raise ValueError(f"must be one of {', '.join(_LOG_FORMATS)}, or auto (the default)")
    return raw


def _flag(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("", "0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _optional_limit(raw: str) -> int | None:
    """A quota limit: empty for none, else zero (nothing may be stored) or more."""
    return _non_negative_int(raw) if raw else None


def _algorithms(raw: str) -> tuple[str, ...]:
    names = tuple(part.strip().upper() for part in raw.split(",") if part.strip())
    unknown = [name for name in names if name not in _HMAC_ALGORITHMS | _PUBLIC_KEY_ALGORITHMS]
    if unknown or not names:
        raise ValueError(f"unsupported algorithm(s) {', '.join(unknown) or '(none)'}")
    return names


def _flavor(raw: str) -> str | None:
    if raw in ("", _AUTO_FLAVOR):
        return None
    if raw not in FLAVORS:
        raise ValueError(f"must be one of {', '.join(FLAVORS)}, or {_AUTO_FLAVOR} (the default)")
    return raw


def _url(raw: str) -> str | None:
    if not raw:
        return None
    if not raw.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return raw.rstrip("/")


# Audit log, event feed and webhooks (gateway/audit, gateway/events).
def _positive_seconds(raw: str) -> float:
    value = float(raw.replace("_", ""))
    if not value > 0 or value == float("inf"):
        raise ValueError("must be a positive number of seconds")
    return value


def _optional_seconds(raw: str) -> float | None:
    return _positive_seconds(raw) if raw else None


def _urls(raw: str) -> tuple[str, ...]:
    found = tuple(part.strip() for part in raw.split(",") if part.strip())
    for url in found:
        _url(url)
    return found


# What an operator may call a kind of secret: it appears in the zip as `[REDACTED:{kind}]` and in the manifest.
_REDACT_KIND = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def _redact_patterns(raw: str) -> tuple[tuple[str, str], ...]:
    """`kind=regex` entries, one per line (blank lines and lines starting with '#' are skipped), compiled once here
    so that a pattern that cannot work stops start-up instead of an export."""
    patterns = []
    for number, line in enumerate(raw.splitlines(), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        kind, separator, pattern = entry.partition("=")
        kind = kind.strip()
        if not separator or not _REDACT_KIND.fullmatch(kind):
            raise ValueError(
                f"line {number}: write kind=regex, the kind in lower-case letters, digits and '-' (got {entry!r})"
            )
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"line {number} ({kind}): not a regular expression: {exc}") from exc
        if compiled.fullmatch("") is not None:
            raise ValueError(f"line {number} ({kind}): the pattern matches the empty string")
        patterns.append((kind, pattern))
    return tuple(patterns)


def _names(raw: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not names:
        raise ValueError("name at least one tier, comma-separated")
    return names


# The console's sign-in through an OpenID Connect provider (docs/console.md).
def _issuer(raw: str) -> str | None:
    # Kept exactly as written (a trailing '/' included): OpenID Connect compares `iss` with it character by character.
    if not raw:
        return None
    _url(raw)
    if "?" in raw or "#" in raw or any(char.isspace() for char in raw):
        raise ValueError("an issuer is a URL without query, fragment or spaces (OpenID Connect Discovery)")
    parsed = urlsplit(raw)
    # Its origin goes into the console's Content-Security-Policy: nothing there may end a source or a directive.
    if parsed.username is not None or any(char in (parsed.netloc or "") for char in ";,'\"\\"):
        raise ValueError("an issuer's host is a plain host[:port] (no user, ';', ',' or quotes)")
    # The code and the ID token travel to it: in the clear only to this machine itself.
    if parsed.scheme != "https" and parsed.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise ValueError("an issuer is an https URL (http only for localhost, 127.0.0.1 or ::1)")
    return raw


def _oidc_scopes(raw: str) -> str:
    scopes = raw.split()
    if "openid" not in scopes:
        raise ValueError("space-separated scopes that include 'openid'")
    if any(not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", scope) for scope in scopes):
        raise ValueError("a scope is printable ASCII without '\"' or '\\' (RFC 6749)")
    return " ".join(scopes)


def _setting(parse: Callable[[str], Any], default: Any, help_text: str) -> Any:
    return field(default=default, metadata={"parse": parse, "help": help_text})


@dataclass(frozen=True)
class Settings:
    s3_endpoint_url: str | None = _setting(_url, None, "S3 endpoint URL; empty means AWS S3 for the region")
    s3_public_endpoint_url: str | None = _setting(
        _url, None, "endpoint used in presigned links, when clients reach S3 under another name"
    )
    public_url: str | None = _setting(
        _url, None, "the gateway's own URL as people reach it, for share links (default: the URL a request came to)"
    )
    s3_region: str = _setting(_text, "us-east-1", "region used to sign S3 requests")
    s3_max_attempts: int = _setting(_positive_int, 5, "attempts per S3 call (botocore standard retry mode)")
    s3_max_connections: int = _setting(_positive_int, 64, "S3 connection pool size per gateway process")
    s3_flavor: str | None = _setting(
        _flavor, None, "override what is learned from the bucket: aws, ceph or generic; unset (or auto): learn it"
    )
    bucket: str = _setting(_text, "", "the versioning-enabled bucket that holds every session (required)")
    key_root: str = _setting(validate_root, "", "key prefix for everything the gateway writes; may be empty")
    max_upload_bytes: int = _setting(_positive_int, 5 * GiB, "largest accepted file upload, in bytes")
    max_bulk_files: int = _setting(
        _positive_int, 10_000, "most files one copy, move or fork may take; more is refused (413) before any write"
    )
    snapshot_keep_seconds: int = _setting(
        _non_negative_int,
        7 * 86_400,
        "how long automatic snapshots (taken before restores, deletes, moves and imports) are kept; 0: none are taken",
    )
    activity_interval_seconds: int = _setting(
        _positive_int,
        30,
        "how often each replica writes what changed in sessions (last activity, file count, bytes); listings lag the"
        " files by at most this much",
    )
    archive_after_seconds: int = _setting(
        _non_negative_int, 0, "the janitor archives sessions idle this long (ending them first); 0: never"
    )
    orphan_after_seconds: int = _setting(
        _non_negative_int,
        0,
        "the janitor deletes (recoverably) sessions with no files that were idle this long; 0: never",
    )
    project_cleanup_after_days: int = _setting(
        _non_negative_int,
        30,
        "a project idle this many days (its record and its sessions unchanged) is deleted with its sessions, "
        "recoverably, by the janitor; a project may set its own; 0: never by default",
    )
    project_warning_days: int = _setting(
        _non_negative_int,
        7,
        "days of warnings (in the API and from the janitor) before a project is cleaned up; a project may set its own",
    )
    multipart_threshold_bytes: int = _setting(
        _positive_int, 8 * MiB, "uploads larger than this go to S3 as multipart uploads (at least 5 MiB)"
    )
    import_max_entries: int = _setting(
        _positive_int, 10_000, "most entries a zip import may hold, folders included (more: 413, nothing written)"
    )
    import_max_bytes: int = _setting(
        _positive_int, 10 * GiB, "most bytes the files of one zip import may hold once decompressed"
    )
    import_max_ratio: int = _setting(
        _positive_int, 200, "most a zip entry over 1 MiB may grow when decompressed (decompressed / compressed size)"
    )
    policy_file: str = _setting(_text, "policies/tiers.toml", "the persistence tiers (TOML)")
    day_seconds: int = _setting(
        _positive_int, 86_400, "length of a retention day; shorten only in tests, with RGW's lc debug interval"
    )
    jwt_secret: str | None = _setting(_optional_text, None, "HS256 secret (exclusive with the public-key settings)")
    jwt_public_key: str | None = _setting(_optional_text, None, "PEM public key for RS256/ES256 tokens")
    jwt_jwks_url: str | None = _setting(_url, None, "JWKS URL for RS256/ES256 tokens")
    jwt_algorithms: tuple[str, ...] = _setting(
        _algorithms, (), "accepted algorithms, comma-separated; default HS256 with a secret, RS256,ES256 otherwise"
    )
    jwt_audience: str = _setting(_text, "session-gateway", "required `aud` claim")
    jwt_issuer: str | None = _setting(_optional_text, None, "required `iss` claim, when set")
    jwt_leeway_seconds: int = _setting(_non_negative_int, 30, "clock skew tolerated on exp/nbf/iat")
    jwt_tenant_claim: str = _setting(_text, "tid", "claim that names the tenant; absent claim means 'default'")
    jwks_cache_seconds: int = _setting(_positive_int, 300, "how long fetched JWKS keys are trusted before refresh")
    jwks_min_refetch_seconds: int = _setting(_positive_int, 30, "least time between two JWKS fetches")
    server_secret: str | None = _setting(
        _optional_text,
        None,
        "secret (at least 32 bytes) that seals pagination cursors, the same on every replica; empty: a random key "
        "kept in the bucket",
    )
    export_ttl_seconds: int = _setting(
        _positive_int, 86_400, "how long a built export (its zip and status) stays before it is removed"
    )
    export_heartbeat_seconds: int = _setting(
        _positive_int, 10, "how often a replica building an export rewrites its status record"
    )
    export_stale_seconds: int = _setting(
        _positive_int,
        60,
        "an export whose status record is older than this while building was abandoned (its replica stopped) and "
        "is marked failed; at least twice the heartbeat",
    )
    export_tier: str | None = _setting(
        _optional_text,
        None,
        "tier of built export zips; empty: the policy's first tier that ends with its session, else its default tier",
    )
    redact_max_bytes: int = _setting(
        _positive_int, 1 * MiB, "text files up to this size are scanned for secrets by redacting exports"
    )
    redact_patterns: tuple[tuple[str, str], ...] = _setting(
        _redact_patterns,
        (),
        "more secrets for redacting exports to replace: kind=regex entries, one per line; a group named secret "
        "limits the replacement to it",
    )
    backup_bucket: str = _setting(
        _text, "", "the bucket `backup run` copies persistent files into (versioned; required by the backup commands)"
    )
    backup_endpoint_url: str | None = _setting(
        _url, None, "S3 endpoint of the backup bucket; empty: the gateway's own (GATEWAY_S3_ENDPOINT_URL)"
    )
    backup_region: str | None = _setting(
        _optional_text, None, "region used to sign requests to the backup bucket; empty: GATEWAY_S3_REGION"
    )
    backup_access_key_id: str | None = _setting(
        _optional_text, None, "access key for the backup bucket (with the secret); empty: the standard AWS chain"
    )
    backup_secret_access_key: str | None = _setting(
        _optional_text, None, "secret key for the backup bucket (with the access key id)"
    )
    backup_tiers: tuple[str, ...] = _setting(
        _names, ("persistent", "permanent"), "tiers whose file versions are backed up, comma-separated"
    )
    quota_tenant_bytes: int | None = _setting(
        _optional_limit, None, "bytes of current files a tenant may hold (every user's sessions); empty: no limit"
    )
    quota_tenant_files: int | None = _setting(_optional_limit, None, "current files a tenant may hold; empty: no limit")
    quota_user_bytes: int | None = _setting(
        _optional_limit, None, "bytes of current files one user may hold across their sessions; empty: no limit"
    )
    quota_user_files: int | None = _setting(_optional_limit, None, "current files one user may hold; empty: no limit")
    quota_session_bytes: int | None = _setting(
        _optional_limit, None, "bytes of current files one session may hold; empty: no limit"
    )
    quota_session_files: int | None = _setting(
        _optional_limit, None, "current files one session may hold; empty: no limit"
    )
    quota_file: str | None = _setting(
        _optional_text, None, "per-tenant quota overrides (TOML, see policies/quotas.example.toml); empty: none"
    )
    audit_flush_seconds: float = _setting(
        _positive_seconds,
        1.0,
        "each replica writes the audit records it gathered once per this many seconds (one object, and one per "
        "owner concerned); a crash loses at most this much",
    )
    audit_write_timeout_seconds: float = _setting(
        _positive_seconds,
        5.0,
        "an audit batch not written this long after its flush is written again under a fresh name (the event "
        "feed's settle window must cover the flush interval and this)",
    )
    audit_denials_per_minute: int = _setting(
        _positive_int, 30, "denied requests (401, 403, 404) recorded per caller and minute; the rest are counted"
    )
    events_settle_seconds: float | None = _setting(
        _optional_seconds,
        None,
        "the event feed serves changes this old or older, so that no replica's batch arrives behind a cursor; "
        "empty: the flush interval plus the write timeout plus 4 s of clock skew",
    )
    webhook_urls: tuple[str, ...] = _setting(
        _urls, (), "URLs every committed change is POSTed to, signed (comma-separated); empty: no webhooks"
    )
    webhook_secret: str | None = _setting(
        _optional_text, None, "the HMAC-SHA256 key webhook bodies are signed with (at least 32 bytes)"
    )
    webhook_attempts: int = _setting(_positive_int, 6, "attempts per webhook delivery before its dead letter")
    webhook_backoff_seconds: float = _setting(
        _positive_seconds, 1.0, "wait before a webhook's second attempt, doubled before each next one (5 min at most)"
    )
    webhook_timeout_seconds: float = _setting(_positive_seconds, 10.0, "time allowed for one webhook POST")
    upload_expiry_seconds: int = _setting(
        _positive_int,
        86_400,
        "a resumable upload expires this long after its last accepted bytes; the janitor aborts it then",
    )
    host: str = _setting(_text, "127.0.0.1", "address `serve` listens on")
    port: int = _setting(_positive_int, 8000, "port `serve` listens on")
    # The web console (docs/console.md).
    console: bool = _setting(
        _flag, False, "serve the web console at /console/ (true under `serve --dev`); it uses the public API only"
    )
    console_oidc_issuer: str | None = _setting(
        _issuer, None, "OpenID Connect issuer the console offers sign-in with; empty: sign in by pasting a token"
    )
    console_oidc_client_id: str | None = _setting(
        _optional_text, None, "the console's client id at that issuer (a public client: no secret)"
    )
    console_oidc_scopes: str = _setting(_oidc_scopes, "openid", "scopes the console asks for, with 'openid'")
    # Operations (docs/operations.md): logs, the per-token rate limit, shutdown.
    log_format: str | None = _setting(
        _log_format, None, "json or text log lines on stderr; unset (or auto): text under `serve --dev`, json otherwise"
    )
    rate_limit_per_second: float = _setting(
        _non_negative_float, 0.0, "requests per second each bearer token may send, per replica; 0: no limit"
    )
    rate_limit_burst: int = _setting(
        _positive_int, 20, "requests a token may send at once before the rate limit applies (the bucket's size)"
    )
    shutdown_drain_seconds: float = _setting(
        _non_negative_float,
        0.0,
        "after SIGTERM, how long `/readyz` answers 503 while requests are still served, before the listener closes",
    )
    shutdown_timeout_seconds: int = _setting(
        _positive_int,
        30,
        "after the drain, how long requests under way (uploads, downloads) may take to finish before they are cut",
    )

    def __post_init__(self) -> None:
        sources = [name for name in ("jwt_secret", "jwt_public_key", "jwt_jwks_url") if getattr(self, name)]
        if len(sources) > 1:
            # Mixing a shared secret with public keys is how RS256-as-HS256 confusion attacks start.
            names = ", ".join(env_name(name) for name in sources)
            raise SettingsError(f"{names}: set exactly one way to verify tokens, not several")
        if self.jwt_secret is not None and len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise SettingsError(f"{env_name('jwt_secret')}: must be at least {MIN_SECRET_BYTES} bytes")
        if self.server_secret is not None and len(self.server_secret.encode()) < MIN_SECRET_BYTES:
            raise SettingsError(f"{env_name('server_secret')}: must be at least {MIN_SECRET_BYTES} bytes")
        if self.multipart_threshold_bytes < 5 * MiB:
            raise SettingsError(f"{env_name('multipart_threshold_bytes')}: must be at least 5 MiB (S3's part minimum)")
        if self.jwt_algorithms:
            allowed = _HMAC_ALGORITHMS if self.jwt_secret else _PUBLIC_KEY_ALGORITHMS
            wrong = [name for name in self.jwt_algorithms if name not in allowed]
            if wrong:
                kind = "a shared secret" if self.jwt_secret else "public keys"
                raise SettingsError(f"{env_name('jwt_algorithms')}: {', '.join(wrong)} cannot be used with {kind}")
        if self.export_stale_seconds < 2 * self.export_heartbeat_seconds:
            raise SettingsError(
                f"{env_name('export_stale_seconds')}: must be at least twice {env_name('export_heartbeat_seconds')}"
            )
        if self.export_ttl_seconds <= self.export_stale_seconds:
            raise SettingsError(
                f"{env_name('export_ttl_seconds')}: must be longer than {env_name('export_stale_seconds')}"
            )
        if (self.backup_access_key_id is None) != (self.backup_secret_access_key is None):
            raise SettingsError(
                f"{env_name('backup_access_key_id')} and {env_name('backup_secret_access_key')}: set both or neither"
            )
        if not self.jwt_tenant_claim:
            raise SettingsError(f"{env_name('jwt_tenant_claim')}: must not be empty")
        self._check_audit()
        self._check_console_oidc()

    def _check_audit(self) -> None:
        lateness = self.audit_flush_seconds + self.audit_write_timeout_seconds
        if self.events_settle_seconds is not None and self.events_settle_seconds <= lateness:
            raise SettingsError(
                f"{env_name('events_settle_seconds')}: must be longer than {env_name('audit_flush_seconds')} plus "
                f"{env_name('audit_write_timeout_seconds')} ({lateness:g} s)"
            )
        if self.webhook_urls and self.webhook_secret is None:
            raise SettingsError(f"{env_name('webhook_secret')}: required with {env_name('webhook_urls')}")
        if self.webhook_secret is not None and len(self.webhook_secret.encode()) < MIN_SECRET_BYTES:
            raise SettingsError(f"{env_name('webhook_secret')}: must be at least {MIN_SECRET_BYTES} bytes")

    def _check_console_oidc(self) -> None:
        issuer, client = env_name("console_oidc_issuer"), env_name("console_oidc_client_id")
        if (self.console_oidc_issuer is None) != (self.console_oidc_client_id is None):
            raise SettingsError(f"{issuer} and {client}: set both or neither")
        if self.console_oidc_issuer is None:
            return
        # The console sends the provider's ID token as its bearer (docs/console.md): the gateway verifies it with
        # the provider's public keys, accepts its audience (the client id) and requires its issuer.
        if not (self.jwt_jwks_url or self.jwt_public_key):
            raise SettingsError(
                f"{issuer}: needs {env_name('jwt_jwks_url')} (or {env_name('jwt_public_key')}) set to the provider's "
                "keys, so that the gateway can verify the tokens it issues"
            )
        if self.jwt_issuer is not None and self.jwt_issuer != self.console_oidc_issuer:
            raise SettingsError(f"{issuer}: must equal {env_name('jwt_issuer')} when that is set")
        if self.console_oidc_client_id == self.jwt_audience:
            raise SettingsError(f"{client}: must differ from {env_name('jwt_audience')} (tokens are told apart by it)")

    @property
    def settle_seconds(self) -> float:
        """How old a change must be before the event feed serves it (`events_settle_seconds`)."""
        if self.events_settle_seconds is not None:
            return self.events_settle_seconds
        return self.audit_flush_seconds + self.audit_write_timeout_seconds + 4.0

    @property
    def accepted_algorithms(self) -> tuple[str, ...]:
        if self.jwt_algorithms:
            return self.jwt_algorithms
        return ("HS256",) if self.jwt_secret else ("RS256", "ES256")

    @property
    def has_token_verifier(self) -> bool:
        return bool(self.jwt_secret or self.jwt_public_key or self.jwt_jwks_url)

    def require_serving(self) -> None:
        """Check what `serve` needs beyond well-formed values."""
        if not self.bucket:
            raise SettingsError(f"{env_name('bucket')}: required; name the versioning-enabled bucket to use")
        if not self.has_token_verifier:
            raise SettingsError(
                f"{env_name('jwt_secret')}, {env_name('jwt_public_key')} or {env_name('jwt_jwks_url')}: "
                "one is required to verify tokens"
            )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        defaults: Mapping[str, str] | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> Settings:
        """Build settings from `environ` (default: the process environment).

        `defaults` fill variables the environment lacks; `overrides` win over it. Both use variable names.
        """
        source = dict(defaults or {})
        source.update(os.environ if environ is None else environ)
        source.update(overrides or {})
        values: dict[str, Any] = {}
        for item in fields(cls):
            name = env_name(item.name)
            raw = source.get(name)
            if raw is None:
                continue
            try:
                values[item.name] = item.metadata["parse"](raw.strip())
            except ValueError as exc:
                raise SettingsError(f"{name}: {exc}") from exc
        return cls(**values)


def metrics_multiprocess_dir(environ: Mapping[str, str] | None = None) -> str | None:
    """prometheus-client's own variable, which `serve --workers N` sets for its worker processes: each writes its
    metrics there and `/metrics` adds them up. Read here, so that this module stays the only reader."""
    return (os.environ if environ is None else environ).get("PROMETHEUS_MULTIPROC_DIR") or None


def env_name(field_name: str) -> str:
    return PREFIX + field_name.upper()


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, help) for every setting, for docs and `--help`."""
    rows = []
    for item in fields(Settings):
        default = item.default
        shown = ",".join(default) if isinstance(default, tuple) else ("" if default is None else str(default))
        rows.append((env_name(item.name), shown, str(item.metadata["help"])))
    return rows
