"""Signing in to the console through an OpenID Connect provider: a small provider written here (discovery, an
authorization endpoint that answers at once, a token endpoint that checks PKCE, its keys), a gateway trusting its
keys, and a browser going from "Sign in with ..." to the session list."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.sync_api import Page, Route, expect
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route as StarletteRoute

from gateway.api.app import create_app
from gateway.auth.tokens import Principal, TokenVerifier
from gateway.errors import SettingsError, Unauthorized
from gateway.settings import Settings
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings
from tests.console.pages import axe_violations, new_session

CLIENT_ID = "session-gateway-console"
SUBJECT = "f3b1c2d4-idp-user"
NAMES = ["Café crème", "Cafe\u0301 NFD", "Launch 🚀 plan", "100% done"]
STORED_TOKEN = "() => sessionStorage.getItem('session-gateway.token')"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


@dataclass
class Provider:
    """The identity provider: it signs in everyone as SUBJECT, and remembers what it was asked."""

    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    issuer: str = ""
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    authorizations: list[dict[str, str]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    deny_next: bool = False

    def sign(self, claims: dict[str, Any]) -> str:
        now = int(time.time())
        return jwt.encode({"iat": now, "exp": now + 600, **claims}, self.key, algorithm="RS256", headers={"kid": "k1"})

    def app(self) -> Starlette:
        async def discovery(request: Request) -> Response:
            return JSONResponse(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                    "response_types_supported": ["code"],
                    "code_challenge_methods_supported": ["S256"],
                }
            )

        async def authorize(request: Request) -> Response:
            asked = dict(request.query_params)
            self.authorizations.append(asked)
            back = asked["redirect_uri"]
            if self.deny_next:
                self.deny_next = False
                return RedirectResponse(f"{back}?{urlencode({'error': 'access_denied', 'state': asked['state']})}")
            code = secrets.token_urlsafe(16)
            self.codes[code] = asked
            return RedirectResponse(f"{back}?{urlencode({'code': code, 'state': asked['state']})}", status_code=302)

        async def token(request: Request) -> Response:
            form = {name: values[0] for name, values in parse_qs((await request.body()).decode()).items()}
            asked = self.codes.pop(form.get("code", ""), None)

            def refuse(why: str) -> Response:
                self.refusals.append(why)
                return JSONResponse({"error": "invalid_grant", "error_description": why}, status_code=400)

            if asked is None:
                return refuse("unknown code")
            if form.get("redirect_uri") != asked["redirect_uri"] or form.get("client_id") != asked["client_id"]:
                return refuse("redirect_uri or client_id differs from the authorization request")
            challenge = b64url(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
            if asked.get("code_challenge_method") != "S256" or challenge != asked.get("code_challenge"):
                return refuse("PKCE verification failed")
            id_token = self.sign(
                # `sid` is the login session here, as real providers put it in ID tokens: it limits nothing.
                {
                    "iss": self.issuer,
                    "sub": SUBJECT,
                    "aud": CLIENT_ID,
                    "azp": CLIENT_ID,
                    "nonce": asked["nonce"],
                    "sid": "login-session-1",
                }
            )
            return JSONResponse({"id_token": id_token, "access_token": "opaque", "token_type": "Bearer"})

        async def keys(request: Request) -> Response:
            public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            return JSONResponse({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})

        return Starlette(
            routes=[
                StarletteRoute("/.well-known/openid-configuration", discovery),
                StarletteRoute("/authorize", authorize),
                StarletteRoute("/token", token, methods=["POST"]),
                StarletteRoute("/jwks", keys),
            ],
            # The console exchanges the code from the browser: the token endpoint must allow its origin.
            middleware=[Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"])],
        )


@dataclass
class Setup:
    provider: Provider
    gateway: Gateway


@pytest.fixture(scope="module")
def oidc(backend: Backend) -> Iterator[Setup]:
    provider = Provider()
    with ServerThread(provider.app()) as issuer:
        provider.issuer = issuer
        settings = gateway_settings(
            backend,
            backend.new_bucket(),
            GATEWAY_JWT_SECRET="",
            GATEWAY_JWT_JWKS_URL=f"{issuer}/jwks",
            GATEWAY_CONSOLE_OIDC_ISSUER=issuer,
            GATEWAY_CONSOLE_OIDC_CLIENT_ID=CLIENT_ID,
            GATEWAY_CONSOLE_OIDC_SCOPES="openid profile",
        )
        with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
            yield Setup(provider, Gateway(backend=backend, settings=settings, url=url))


def api_client(setup: Setup, sub: str, **claims: Any) -> httpx.Client:
    """A client with a token for this service (its audience), as an agent platform trusting the same provider has."""
    token = setup.provider.sign({"iss": setup.provider.issuer, "sub": sub, "aud": "session-gateway", **claims})
    return httpx.Client(base_url=setup.gateway.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def test_signing_in_through_the_provider_lands_on_the_list_with_the_token_in_session_storage(
    oidc: Setup, page: Page
) -> None:
    with api_client(oidc, SUBJECT) as api:
        for name in NAMES:
            new_session(api, name)
    with api_client(oidc, "someone-else") as other:
        new_session(other, "Not yours")
    page.goto(f"{oidc.gateway.url}/console/")
    button = page.get_by_role("button", name=f"Sign in with {urlsplit(oidc.provider.issuer).netloc}")
    expect(button).to_be_visible()
    assert axe_violations(page) == []
    button.click()

    for name in NAMES:
        expect(page.get_by_text(name, exact=True)).to_be_visible()
    expect(page.get_by_text("Not yours")).to_have_count(0)
    assert page.url == f"{oidc.gateway.url}/console/"
    history = page.evaluate("() => location.href")
    assert "code=" not in history and "state=" not in history and "token" not in history
    # The provider was asked as it should be: S256, and the verifier the token endpoint checked matched.
    asked = oidc.provider.authorizations[-1]
    assert asked["code_challenge_method"] == "S256" and asked["response_type"] == "code"
    assert asked["scope"] == "openid profile" and asked["client_id"] == CLIENT_ID
    assert asked["redirect_uri"] == f"{oidc.gateway.url}/console/"
    assert oidc.provider.refusals == []
    token = page.evaluate(STORED_TOKEN)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == SUBJECT and claims["aud"] == CLIENT_ID and claims["nonce"] == asked["nonce"]
    assert page.evaluate("() => sessionStorage.getItem('session-gateway.oidc')") is None

    # The gateway takes the ID token as the same owner as the API's tokens, unlimited by the provider's `sid`;
    # an ID token for the console from another issuer, issued to another client, or to several without naming the
    # console as the one (azp), is refused.
    listed = httpx.get(f"{oidc.gateway.url}/v1/sessions", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    assert sorted(item["name"] for item in listed.json()["items"]) == sorted(NAMES)
    for forged in (
        {"iss": "https://elsewhere.example", "aud": CLIENT_ID},
        {"iss": oidc.provider.issuer, "aud": CLIENT_ID, "azp": "another-client"},
        # Several audiences and no word of which one it was issued to.
        {"iss": oidc.provider.issuer, "aud": [CLIENT_ID, "another-client"]},
    ):
        answer = httpx.get(
            f"{oidc.gateway.url}/v1/sessions",
            headers={"Authorization": f"Bearer {oidc.provider.sign({'sub': SUBJECT, **forged})}"},
        )
        assert answer.status_code == 401, forged


def test_a_tampered_state_a_denial_and_a_wrong_verifier_are_refused_in_words(oidc: Setup, page: Page) -> None:
    host = urlsplit(oidc.provider.issuer).netloc
    authorize = f"{oidc.provider.issuer}/authorize*"

    def sign_in_expecting(words: str) -> None:
        page.goto(f"{oidc.gateway.url}/console/")
        page.get_by_role("button", name=f"Sign in with {host}").click()
        expect(page.get_by_role("alert")).to_contain_text(words)
        assert page.url == f"{oidc.gateway.url}/console/"
        assert page.evaluate(STORED_TOKEN) is None
        expect(page.get_by_role("button", name=f"Sign in with {host}")).to_be_visible()

    def changing(name: str, value: str) -> Any:
        def handle(route: Route) -> None:
            url = urlsplit(route.request.url)
            fields = {key: values[0] for key, values in parse_qs(url.query).items()}
            route.continue_(url=url._replace(query=urlencode({**fields, name: value})).geturl())

        return handle

    # Someone else's answer, or a forged one: the state is not the one this tab sent.
    page.route(authorize, changing("state", "forged-state"))
    sign_in_expecting("does not belong to a sign-in started in this tab")
    page.unroute(authorize)

    oidc.provider.deny_next = True
    sign_in_expecting(f"{host} did not allow the sign-in (access denied)")

    # A code obtained with another challenge (an intercepted code): the token endpoint refuses the verifier.
    page.route(authorize, changing("code_challenge", b64url(hashlib.sha256(b"another verifier").digest())))
    sign_in_expecting("PKCE verification failed")
    page.unroute(authorize)
    assert oidc.provider.refusals == ["PKCE verification failed"]


def test_the_policy_and_config_name_the_provider_only_when_configured(oidc: Setup, gateway: Gateway) -> None:
    with_oidc = httpx.get(f"{oidc.gateway.url}/console/")
    policy = with_oidc.headers["content-security-policy"]
    assert f"connect-src 'self' {oidc.provider.issuer};" in policy and "form-action 'self'" in policy
    config = httpx.get(f"{oidc.gateway.url}/console/config.json")
    assert config.json() == {
        "oidc": {"issuer": oidc.provider.issuer, "client_id": CLIENT_ID, "scopes": "openid profile"}
    }
    assert config.headers["content-security-policy"] == policy

    without = httpx.get(f"{gateway.url}/console/")
    assert "connect-src 'self';" in without.headers["content-security-policy"]
    assert httpx.get(f"{gateway.url}/console/config.json").json() == {"oidc": None}


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"GATEWAY_CONSOLE_OIDC_ISSUER": "ftp://idp.example"}, "GATEWAY_CONSOLE_OIDC_ISSUER"),
        ({"GATEWAY_CONSOLE_OIDC_ISSUER": "https://idp.example/?realm=x"}, "GATEWAY_CONSOLE_OIDC_ISSUER"),
        # The code and the ID token would travel in the clear; a host that could end a CSP source or directive.
        ({"GATEWAY_CONSOLE_OIDC_ISSUER": "http://idp.example"}, "GATEWAY_CONSOLE_OIDC_ISSUER"),
        ({"GATEWAY_CONSOLE_OIDC_ISSUER": "https://idp.example;script-src"}, "GATEWAY_CONSOLE_OIDC_ISSUER"),
        ({"GATEWAY_CONSOLE_OIDC_ISSUER": "https://me@idp.example"}, "GATEWAY_CONSOLE_OIDC_ISSUER"),
        ({"GATEWAY_CONSOLE_OIDC_ISSUER": "https://idp.example"}, "GATEWAY_CONSOLE_OIDC_CLIENT_ID"),
        ({"GATEWAY_CONSOLE_OIDC_SCOPES": "profile email"}, "GATEWAY_CONSOLE_OIDC_SCOPES"),
        ({"GATEWAY_JWT_ISSUER": "https://other.example"}, "GATEWAY_JWT_ISSUER"),
        ({"GATEWAY_CONSOLE_OIDC_CLIENT_ID": "session-gateway"}, "GATEWAY_JWT_AUDIENCE"),
        ({"GATEWAY_JWT_JWKS_URL": "", "GATEWAY_JWT_SECRET": "x" * 32}, "GATEWAY_JWT_JWKS_URL"),
    ],
)
def test_settings_refuse_a_provider_the_gateway_could_not_trust(variables: dict[str, str], named: str) -> None:
    complete = {
        "GATEWAY_JWT_JWKS_URL": "https://idp.example/jwks",
        "GATEWAY_CONSOLE_OIDC_ISSUER": "https://idp.example/",
        "GATEWAY_CONSOLE_OIDC_CLIENT_ID": "console",
    }
    assert Settings.from_env(complete).console_oidc_issuer == "https://idp.example/"
    environ = {**complete, **variables}
    if named == "GATEWAY_CONSOLE_OIDC_CLIENT_ID":
        del environ[named]
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(environ)


def verified(settings: Settings, token: str) -> Principal:
    # In a thread of its own: Playwright's sync API keeps an event loop running in this one once a browser started.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, TokenVerifier(settings).verify(token)).result()


def test_the_console_audience_is_accepted_only_while_the_console_is_served() -> None:
    provider = Provider(issuer="https://idp.example")
    pem = provider.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    environ = {
        "GATEWAY_JWT_PUBLIC_KEY": pem,
        "GATEWAY_CONSOLE_OIDC_ISSUER": provider.issuer,
        "GATEWAY_CONSOLE_OIDC_CLIENT_ID": CLIENT_ID,
    }
    id_token = provider.sign({"iss": provider.issuer, "sub": SUBJECT, "aud": CLIENT_ID, "sid": "login-session-1"})
    served = verified(Settings.from_env({**environ, "GATEWAY_CONSOLE": "true"}), id_token)
    assert (served.user, served.session_id) == (SUBJECT, None)
    # An API token's `sid` still binds it to its session.
    api_token = provider.sign({"iss": provider.issuer, "sub": SUBJECT, "aud": "session-gateway", "sid": "s1"})
    bound = verified(Settings.from_env({**environ, "GATEWAY_CONSOLE": "true"}), api_token)
    assert bound.session_id == "s1"
    with pytest.raises(Unauthorized, match="aud"):
        verified(Settings.from_env({**environ, "GATEWAY_CONSOLE": "false"}), id_token)
