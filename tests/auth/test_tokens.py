from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.auth.jwks import JwksCache
from gateway.auth.tokens import ALL_SCOPES, MAX_CLAIM_CHARS, MAX_TOKEN_BYTES, READ, TokenVerifier, issue_token
from gateway.errors import InsufficientScope, SettingsError, Unauthorized
from gateway.settings import Settings

SECRET = "s" * 64
AUD = "session-gateway"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def _pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "alice", "aud": AUD, "exp": int(time.time()) + 300, **extra}


def _verify(settings: Settings, token: str, jwks: JwksCache | None = None) -> Any:
    return asyncio.run(TokenVerifier(settings, jwks).verify(token))


def hs_settings(**extra: str) -> Settings:
    return Settings.from_env({"GATEWAY_JWT_SECRET": SECRET, **extra})


def test_valid_hs256_token_gives_a_principal() -> None:
    principal = _verify(hs_settings(), jwt.encode(_claims(tid="acme", sid="S1", scope="files:read other"), SECRET))
    assert (principal.tenant, principal.user, principal.session_id) == ("acme", "alice", "S1")
    assert principal.scopes == frozenset({READ})


def test_defaults_tenant_and_scopes() -> None:
    principal = _verify(hs_settings(), jwt.encode(_claims(), SECRET))
    assert principal.tenant is None
    assert principal.scopes == ALL_SCOPES
    with pytest.raises(InsufficientScope):
        _verify(hs_settings(), jwt.encode(_claims(scope="files:read"), SECRET)).require("files:write")


def test_tenant_claim_name_is_configurable() -> None:
    principal = _verify(hs_settings(GATEWAY_JWT_TENANT_CLAIM="org"), jwt.encode(_claims(org="o1", tid="x"), SECRET))
    assert principal.tenant == "o1"


def _unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part(header)}.{part(claims)}."


BAD_HS_TOKENS = {
    "alg none": _unsigned(_claims(), {"alg": "none", "typ": "JWT"}),
    "expired": jwt.encode(_claims(exp=int(time.time()) - 3600), SECRET),
    "wrong aud": jwt.encode(_claims(aud="other-service"), SECRET),
    "no aud": jwt.encode({k: v for k, v in _claims().items() if k != "aud"}, SECRET),
    "no exp": jwt.encode({k: v for k, v in _claims().items() if k != "exp"}, SECRET),
    "no sub": jwt.encode({k: v for k, v in _claims().items() if k != "sub"}, SECRET),
    "empty sub": jwt.encode(_claims(sub=""), SECRET),
    "non-string tenant": jwt.encode(_claims(tid=5), SECRET),
    "non-string sid": jwt.encode(_claims(sid=["a"]), SECRET),
    "wrong secret": jwt.encode(_claims(), "x" * 64),
    "HS512 not configured": jwt.encode(_claims(), SECRET, algorithm="HS512"),
    "garbage": "not.a.token",
    "empty": "",
}


@pytest.mark.parametrize("name", sorted(BAD_HS_TOKENS))
def test_bad_tokens_are_refused(name: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        _verify(hs_settings(), BAD_HS_TOKENS[name])
    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer ")


def _padded(token: str) -> str:
    """The same token with '=' padding put back on every segment that base64 would pad."""
    return ".".join(part + "=" * (-len(part) % 4) for part in token.split("."))


def _signed_raw(payload: bytes, secret: str = SECRET) -> str:
    """An HS256 token around an exact payload (PyJWT would re-serialise a dict)."""
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    mac = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def _raw_claims(**values: str) -> bytes:
    """A JSON payload with claim values spliced in verbatim (so NaN, 1e999 and the like can be written)."""
    fields = {"sub": '"alice"', "aud": f'"{AUD}"', "exp": str(int(time.time()) + 300), **values}
    return ("{" + ",".join(f'"{name}":{value}' for name, value in fields.items()) + "}").encode()


def test_padded_segments_are_refused() -> None:
    token = jwt.encode(_claims(sub="é-padded"), SECRET)
    padded = _padded(token)
    assert padded != token, "the fixture must need padding somewhere"
    assert _verify(hs_settings(), token).user == "é-padded"
    with pytest.raises(Unauthorized, match="unpadded base64url") as caught:
        _verify(hs_settings(), padded)
    assert "error_description=" in caught.value.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "token",
    [
        "a.b.c.d",
        "a.b",
        "a b.c.d",
        "a+b.c.d",
        "a/b.c.d",
        "é.b.c",
        "%41.b.c",
        "a.b.c\n",
        ".b.c",
        "a..c",
    ],
)
def test_tokens_outside_the_compact_alphabet_are_refused(token: str) -> None:
    with pytest.raises(Unauthorized, match="unpadded base64url"):
        _verify(hs_settings(), token)


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    "value",
    ['"9999999999"', '"1"', '"1.5e9"', "true", "false", "null", "[1]", '{"a":1}', "NaN", "Infinity", "1e999"],
)
def test_numeric_dates_must_be_json_numbers(claim: str, value: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        _verify(hs_settings(), _signed_raw(_raw_claims(**{claim: value})))
    assert caught.value.status == 401


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_numeric_string_dates_name_the_claim(claim: str) -> None:
    now = int(time.time())
    value = {"exp": now + 300, "nbf": now - 10, "iat": now - 10}[claim]
    payload = _raw_claims(**{claim: f'"{value}"'})
    with pytest.raises(Unauthorized, match=f"'{claim}' claim must be a JSON number") as caught:
        _verify(hs_settings(), _signed_raw(payload))
    assert f"'{claim}' claim must be a JSON number" in caught.value.headers["WWW-Authenticate"]


def test_numeric_dates_may_be_integers_or_fractions() -> None:
    now = time.time()
    payload = _raw_claims(exp=repr(now + 300.5), nbf=repr(now - 1.25), iat=str(int(now)))
    assert _verify(hs_settings(), _signed_raw(payload)).user == "alice"
    assert _verify(hs_settings(), _signed_raw(_raw_claims(exp=str(10**30)))).user == "alice"


def test_tampered_payload_is_refused() -> None:
    header, _payload, signature = jwt.encode(_claims(), SECRET).split(".")
    forged = base64.urlsafe_b64encode(json.dumps(_claims(sub="mallory")).encode()).decode().rstrip("=")
    with pytest.raises(Unauthorized, match="signature"):
        _verify(hs_settings(), f"{header}.{forged}.{signature}")


def test_issuer_is_checked_when_configured() -> None:
    settings = hs_settings(GATEWAY_JWT_ISSUER="https://idp.example")
    assert _verify(settings, jwt.encode(_claims(iss="https://idp.example"), SECRET)).user == "alice"
    with pytest.raises(Unauthorized, match="iss"):
        _verify(settings, jwt.encode(_claims(iss="https://evil.example"), SECRET))
    with pytest.raises(Unauthorized, match="iss"):
        _verify(settings, jwt.encode(_claims(), SECRET))


def test_leeway_tolerates_small_skew_only() -> None:
    assert _verify(hs_settings(), jwt.encode(_claims(exp=int(time.time()) - 5), SECRET)).user == "alice"
    with pytest.raises(Unauthorized, match="expired"):
        _verify(hs_settings(), jwt.encode(_claims(exp=int(time.time()) - 120), SECRET))


def test_public_key_rs256_and_confusion_attack() -> None:
    settings = Settings.from_env({"GATEWAY_JWT_PUBLIC_KEY": _pem(RSA_KEY)})
    assert _verify(settings, jwt.encode(_claims(), RSA_KEY, algorithm="RS256")).user == "alice"
    # The classic attack: sign HS256 with the public key as the shared secret.
    signing_input = _unsigned(_claims(), {"alg": "HS256", "typ": "JWT"}).rstrip(".")
    mac = hmac.new(_pem(RSA_KEY).encode(), signing_input.encode(), hashlib.sha256).digest()
    forged = signing_input + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")
    with pytest.raises(Unauthorized, match="algorithm"):
        _verify(settings, forged)
    with pytest.raises(Unauthorized):
        _verify(settings, jwt.encode(_claims(), rsa.generate_private_key(65537, 2048), algorithm="RS256"))


def test_public_key_es256() -> None:
    settings = Settings.from_env({"GATEWAY_JWT_PUBLIC_KEY": _pem(EC_KEY).replace("\n", "\\n")})
    assert _verify(settings, jwt.encode(_claims(), EC_KEY, algorithm="ES256")).user == "alice"


@pytest.mark.parametrize(
    "env",
    [
        {"GATEWAY_JWT_SECRET": SECRET, "GATEWAY_JWT_PUBLIC_KEY": "x"},
        {"GATEWAY_JWT_SECRET": "short"},
        {"GATEWAY_JWT_SECRET": SECRET, "GATEWAY_JWT_ALGORITHMS": "RS256"},
        {"GATEWAY_JWT_PUBLIC_KEY": "pem", "GATEWAY_JWT_ALGORITHMS": "HS256"},
        {"GATEWAY_JWT_ALGORITHMS": "none"},
    ],
)
def test_unsafe_configurations_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="GATEWAY_JWT"):
        Settings.from_env(env)


def test_bad_pem_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="GATEWAY_JWT_PUBLIC_KEY"):
        TokenVerifier(Settings.from_env({"GATEWAY_JWT_PUBLIC_KEY": "not a pem"}))


def test_issue_token_round_trips() -> None:
    settings = hs_settings()
    token = issue_token(settings, sub="bob", tenant="t", session_id="S", scope="files:read", ttl_seconds=60)
    principal = _verify(settings, token)
    assert (principal.user, principal.tenant, principal.session_id, principal.scopes) == ("bob", "t", "S", {READ})


class JwksServer:
    """A real HTTP JWKS endpoint whose keys and availability the test controls."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.up = True
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                if not outer.up:
                    self.send_error(503)
                    return
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"

    def publish(self, key: Any, kid: str) -> None:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        self.keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_jwks_rotation_rate_limit_and_outage(jwks_server: JwksServer) -> None:
    now = [1000.0]
    settings = Settings.from_env({"GATEWAY_JWT_JWKS_URL": jwks_server.url})
    cache = JwksCache(
        jwks_server.url, algorithms=("RS256",), cache_seconds=300, min_refetch_seconds=30, clock=lambda: now[0]
    )
    first = rsa.generate_private_key(65537, 2048)
    jwks_server.publish(first, "k1")

    async def scenario() -> None:
        verifier = TokenVerifier(settings, cache)
        token1 = jwt.encode(_claims(), first, algorithm="RS256", headers={"kid": "k1"})
        assert (await verifier.verify(token1)).user == "alice"
        assert (await verifier.verify(token1)).user == "alice"
        assert jwks_server.hits == 1  # cached

        # A forged kid triggers at most one refetch per interval.
        for i in range(20):
            forged = jwt.encode(_claims(), first, algorithm="RS256", headers={"kid": f"evil{i}"})
            with pytest.raises(Unauthorized, match="signing key"):
                await verifier.verify(forged)
        assert jwks_server.hits == 1  # the first fetch was less than 30 s ago

        # Rotation: a new key appears; after the interval an unknown kid refetches.
        second = rsa.generate_private_key(65537, 2048)
        jwks_server.publish(second, "k2")
        now[0] += 31
        token2 = jwt.encode(_claims(), second, algorithm="RS256", headers={"kid": "k2"})
        assert (await verifier.verify(token2)).user == "alice"
        assert jwks_server.hits == 2

        # Outage: cached keys keep working after expiry.
        jwks_server.up = False
        now[0] += 400
        assert (await verifier.verify(token1)).user == "alice"
        assert jwks_server.hits == 3

        # A symmetric key smuggled into the JWKS is never used.
        jwks_server.up = True
        jwks_server.keys.append({"kty": "oct", "kid": "sym", "k": base64.urlsafe_b64encode(SECRET.encode()).decode()})
        now[0] += 400
        hs = jwt.encode(_claims(), SECRET, algorithm="HS256", headers={"kid": "sym"})
        with pytest.raises(Unauthorized):
            await verifier.verify(hs)

    asyncio.run(scenario())


def test_tokens_over_8_kib_are_refused_even_when_validly_signed() -> None:
    settings = hs_settings()
    padding = "p" * 6000
    fits = jwt.encode(_claims(pad=padding), SECRET, algorithm="HS256")
    assert len(fits) <= MAX_TOKEN_BYTES
    assert _verify(settings, fits).user == "alice"
    too_large = jwt.encode(_claims(pad=padding + "p" * 300), SECRET, algorithm="HS256")
    assert len(too_large) > MAX_TOKEN_BYTES
    with pytest.raises(Unauthorized, match="too large"):
        _verify(settings, too_large)


@pytest.mark.parametrize("claim", ["sub", "tid"])
def test_identity_claims_over_1024_characters_are_refused_by_name(claim: str) -> None:
    settings = hs_settings()
    at_limit = "a" * (MAX_CLAIM_CHARS - 24) + "\U0001f600" * 24  # characters, not bytes: an emoji counts once
    principal = _verify(settings, jwt.encode(_claims(**{claim: at_limit}), SECRET, algorithm="HS256"))
    assert (principal.user if claim == "sub" else principal.tenant) == at_limit
    over = jwt.encode(_claims(**{claim: "é" + "a" * MAX_CLAIM_CHARS}), SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized, match=f"'{claim}' claim must be a non-empty string of at most 1024"):
        _verify(settings, over)
