"""Bearer-token verification: from an `Authorization` header to a `Principal`.

Algorithms come from configuration only; the token's header merely selects among keys. `exp`, `sub` and `aud`
are always required, `iss` when an issuer is configured. The token is read strictly: unpadded base64url segments
only, and `exp`, `nbf`, `iat` must be JSON numbers, as RFC 7515 and RFC 7519 say.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from gateway.auth.jwks import JwksCache
from gateway.errors import Forbidden, InsufficientScope, SettingsError, Unauthorized
from gateway.keys import Owner
from gateway.settings import Settings, env_name

READ = "files:read"
WRITE = "files:write"
ALL_SCOPES = frozenset({READ, WRITE})
MAX_TOKEN_BYTES = 8192
MAX_CLAIM_CHARS = 1024
# RFC 7515 compact serialisation: three base64url segments without '=' padding (the signature is empty only for
# `alg: none`, which is refused later with a clearer message). PyJWT alone would also accept padding and skip
# characters outside the alphabet, so one token could be spelled many ways.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")


@dataclass(frozen=True)
class Principal:
    """Who is calling, as far as the verified token says."""

    tenant: str | None
    user: str
    session_id: str | None
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise InsufficientScope(scope)

    def may_reach(self, session_id: str) -> bool:
        return self.session_id is None or self.session_id == session_id

    def require_unrestricted(self) -> None:
        if self.session_id is not None:
            raise Forbidden("this token is limited to one session")

    def owner(self, root: str, owner_key: bytes) -> Owner:
        return Owner(root=root, tenant=self.tenant, user=self.user, owner_key=owner_key)


class TokenVerifier:
    def __init__(self, settings: Settings, jwks: JwksCache | None = None) -> None:
        self._settings = settings
        self._algorithms = list(settings.accepted_algorithms)
        self._static_key: Any = None
        if settings.jwt_secret:
            self._static_key = settings.jwt_secret
        elif settings.jwt_public_key:
            pem = settings.jwt_public_key.replace("\\n", "\n").encode()
            try:
                self._static_key = load_pem_public_key(pem)
            except ValueError as exc:
                raise SettingsError(f"{env_name('jwt_public_key')}: not a PEM public key ({exc})") from exc
        self._jwks = jwks
        # The console's OpenID Connect sign-in sends the provider's ID token, whose audience is the console's client
        # id (docs/console.md), accepted while the console is served; every other caller's token names this service.
        console_client = settings.console_oidc_client_id if settings.console else None
        self._audiences = [settings.jwt_audience, *filter(None, [console_client])]
        if self._static_key is None and self._jwks is None:
            raise SettingsError(f"{env_name('jwt_secret')}: no way to verify tokens is configured")

    async def verify_header(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthorized("send 'Authorization: Bearer <token>'", error=None)
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("the Authorization header must be 'Bearer <token>'", error="invalid_request")
        return await self.verify(token)

    async def verify(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthorized("the token is too large")
        if not _COMPACT_JWS.fullmatch(token):
            raise Unauthorized("the token must be three unpadded base64url segments (RFC 7515), without '='")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("the token is malformed") from exc
        key = self._static_key
        if self._jwks is not None:
            kid = header.get("kid")
            if kid is not None and not isinstance(kid, str):
                raise Unauthorized("the token's key id is malformed")
            key = await self._jwks.key_for(kid)
        required = ["exp", "sub", "aud"] + (["iss"] if self._settings.jwt_issuer else [])
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=self._audiences,
                issuer=self._settings.jwt_issuer,
                leeway=self._settings.jwt_leeway_seconds,
                options={"require": required, "verify_signature": True},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("the token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthorized("the token is not meant for this service (aud)") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthorized("the token comes from an untrusted issuer (iss)") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"the token lacks the required '{exc.claim}' claim") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise Unauthorized("the token's algorithm is not accepted") from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthorized("the token's signature is invalid") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("the token is invalid") from exc
        _require_numeric_dates(claims)
        return self._principal(claims, console=self._is_console_id_token(claims))

    def _is_console_id_token(self, claims: dict[str, Any]) -> bool:
        """Whether the token is an ID token the console's provider issued to the console, checked as OpenID Connect
        Core 3.1.3.7 asks: its issuer exactly, and the party it was issued to when it names one."""
        audience = claims["aud"]
        if self._settings.jwt_audience in ([audience] if isinstance(audience, str) else audience):
            return False
        if claims.get("iss") != self._settings.console_oidc_issuer:
            raise Unauthorized("the token comes from an untrusted issuer (iss)")
        # With several audiences the token must say which of them it was issued to (OpenID Connect Core 2, `azp`).
        several = not isinstance(audience, str) and len(audience) > 1
        if several and "azp" not in claims:
            raise Unauthorized("a token for several audiences must name the client it was issued to (azp)")
        if claims.get("azp", self._settings.console_oidc_client_id) != self._settings.console_oidc_client_id:
            raise Unauthorized("the token was issued to another client (azp)")
        return True

    def _principal(self, claims: dict[str, Any], *, console: bool = False) -> Principal:
        user = _identity(claims.get("sub"), "sub")
        tenant_claim = claims.get(self._settings.jwt_tenant_claim)
        # No claim, or null: tenant-less, a prefix of its own (see `keys.NO_TENANT_SEGMENT`).
        tenant = None if tenant_claim is None else _identity(tenant_claim, self._settings.jwt_tenant_claim)
        # In an ID token `sid` names the person's login session at the provider (OpenID Connect logout), not a
        # session here: it limits nothing.
        session_id = None if console else claims.get("sid")
        if session_id is not None and not isinstance(session_id, str):
            raise Unauthorized("the token's 'sid' claim must be a string")
        return Principal(tenant=tenant, user=user, session_id=session_id, scopes=_scopes(claims.get("scope")))


def _require_numeric_dates(claims: dict[str, Any]) -> None:
    """RFC 7519 NumericDate is a JSON number; PyJWT also takes numeric strings (and booleans) through int()."""
    for claim in NUMERIC_DATE_CLAIMS:
        if claim not in claims:
            continue
        value = claims[claim]
        # A huge int is finite whatever float() thinks of it; only floats can be NaN or infinite.
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if not is_number or (isinstance(value, float) and not math.isfinite(value)):
            raise Unauthorized(f"the token's '{claim}' claim must be a JSON number of seconds (RFC 7519 NumericDate)")


def _identity(value: object, claim: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_CLAIM_CHARS:
        raise Unauthorized(f"the token's '{claim}' claim must be a non-empty string of at most {MAX_CLAIM_CHARS} chars")
    return value


def _scopes(value: object) -> frozenset[str]:
    if value is None:
        return ALL_SCOPES
    if isinstance(value, str):
        return frozenset(value.split()) & ALL_SCOPES
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(value) & ALL_SCOPES
    raise Unauthorized("the token's 'scope' claim must be a space-separated string")


def issue_token(
    settings: Settings,
    *,
    sub: str,
    tenant: str | None = None,
    session_id: str | None = None,
    scope: str | None = None,
    ttl_seconds: int = 3600,
) -> str:
    """Sign a development token with the configured shared secret."""
    if not settings.jwt_secret:
        raise SettingsError(f"{env_name('jwt_secret')}: `token` signs with the shared secret; set it")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "aud": settings.jwt_audience, "iat": now, "exp": now + ttl_seconds}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if tenant is not None:
        claims[settings.jwt_tenant_claim] = tenant
    if session_id is not None:
        claims["sid"] = session_id
    if scope is not None:
        claims["scope"] = scope
    return jwt.encode(claims, settings.jwt_secret, algorithm=settings.accepted_algorithms[0])
