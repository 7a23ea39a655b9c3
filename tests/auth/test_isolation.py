"""Nobody reaches a session that is not theirs, and the gateway never even asks S3 for a key outside the caller's
prefix. Every attempt here is made over HTTP against a real gateway; the store adapter records each key it is
asked for."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.api.app import create_app
from gateway.auth.tokens import issue_token
from gateway.settings import Settings
from tests.auth.test_tokens import JwksServer
from tests.conftest import SECRET, Backend, Gateway, ServerThread, raw_request

SECRET_BYTES = b"alice's private notes"


def _victim(gateway: Gateway) -> tuple[str, str, str]:
    """A user with a session holding one file with two versions; returns (user, session id, first version)."""
    victim = f"victim-{uuid.uuid4().hex[:8]}"
    with gateway.client(victim) as api:
        sid = api.post("/v1/sessions", json={"name": "private"}).json()["id"]
        first = api.put(f"/v1/sessions/{sid}/files/notes.txt", content=SECRET_BYTES).json()["version_id"]
        api.put(f"/v1/sessions/{sid}/files/notes.txt", content=SECRET_BYTES + b" v2")
    return victim, sid, first


def _attempts(api: httpx.Client, sid: str, version: str) -> list[httpx.Response]:
    base = f"/v1/sessions/{sid}"
    return [
        api.get(base),
        api.patch(base, json={"name": "pwned"}),
        api.get(f"{base}/files"),
        api.get(f"{base}/files/notes.txt"),
        api.head(f"{base}/files/notes.txt"),
        api.get(f"{base}/files/notes.txt", params={"version_id": version}),
        api.put(f"{base}/files/notes.txt", content=b"overwritten"),
        api.put(f"{base}/files/new.txt", content=b"planted"),
        api.get(f"{base}/history", params={"path": "notes.txt"}),
        api.post(f"{base}/rollback", json={"path": "notes.txt", "version_id": version}),
        api.post(f"{base}/links", json={"path": "notes.txt"}),
        api.post(f"{base}/copy", json={"from": "notes.txt", "to": "stolen.txt"}),
        api.post(f"{base}/move", json={"from": "notes.txt", "to": "moved.txt"}),
        api.post(f"{base}/copy", json={"from": "notes.txt", "to": "notes.txt", "to_session": sid, "overwrite": True}),
        api.post(f"{base}/fork", json={}),
        api.delete(f"{base}/files/notes.txt"),
        api.delete(f"{base}/files/", params={"recursive": "true"}),
        api.delete(base),
        api.delete(base, params={"purge": "true"}),
    ]


def _assert_untouched(gateway: Gateway, victim: str, sid: str) -> None:
    with gateway.client(victim) as api:
        assert api.get(f"/v1/sessions/{sid}").json()["name"] == "private"
        assert api.get(f"/v1/sessions/{sid}/files/notes.txt").content == SECRET_BYTES + b" v2"
        listing = api.get(f"/v1/sessions/{sid}/files").json()["items"]
        assert [item["path"] for item in listing] == ["notes.txt"]
        assert len(api.get(f"/v1/sessions/{sid}/history", params={"path": "notes.txt"}).json()["items"]) == 2


def _assert_only_own_keys(gateway: Gateway, own_prefix: str) -> None:
    assert gateway.touched, "the store adapter recorded nothing"
    strays = [(op, key) for op, key in gateway.touched if not key.startswith(own_prefix)]
    assert strays == []


@pytest.mark.parametrize(
    "attacker",
    [
        {"sub": "mallory"},
        {"sub": "VICTIM", "tenant": None},  # replaced by the victim's name with other case
        {"sub": "SAME", "tenant": "other-tenant"},  # same user name, another tenant
        {"sub": "SAME", "tenant": "default"},  # a tenant named like the old tenant-less segment
        {"sub": "SAME", "tenant": "~none"},  # a tenant spelled like the tenant-less segment
    ],
    ids=["other-user", "case-variant", "other-tenant", "tenant-named-default", "tenant-named-like-none"],
)
def test_other_users_and_tenants_get_404_and_touch_nothing(gateway: Gateway, attacker: dict[str, Any]) -> None:
    victim, sid, version = _victim(gateway)
    sub = {"VICTIM": victim.upper(), "SAME": victim}.get(attacker["sub"], attacker["sub"])
    tenant = attacker.get("tenant")
    gateway.touched.clear()
    with gateway.client(sub, tenant=tenant) as api:
        responses = _attempts(api, sid, version)
    for response in responses:
        assert response.status_code == 404, (response.request.method, response.request.url, response.text)
        assert SECRET_BYTES not in response.content
        if response.request.method != "HEAD":
            assert response.headers["content-type"] == "application/problem+json"
    _assert_only_own_keys(gateway, gateway.owner(sub, tenant).prefix)
    _assert_untouched(gateway, victim, sid)


def test_a_foreign_target_session_is_404_and_touches_nothing(gateway: Gateway) -> None:
    victim, sid, _version = _victim(gateway)
    attacker = f"mallory-{uuid.uuid4().hex[:8]}"
    with gateway.client(attacker) as api:
        own = api.post("/v1/sessions", json={}).json()["id"]
        name = "e\u0301te\u0301 🎉 100%.txt"
        assert api.put(f"/v1/sessions/{own}/files/{name}", content=b"planted").status_code == 201
        assert api.put(f"/v1/sessions/{own}/files/dir/{name}", content=b"planted").status_code == 201
        gateway.touched.clear()
        for route in ("copy", "move"):
            for body in (
                {"from": name, "to": "notes.txt", "to_session": sid, "overwrite": True},
                {"from": "dir/", "to": "dir/", "to_session": sid},
                {"from": name, "to": "x", "to_session": "not-a-session-id"},
            ):
                refused = api.post(f"/v1/sessions/{own}/{route}", json=body)
                assert refused.status_code == 404, (route, body, refused.text)
                assert refused.json()["detail"] == "no such session"
        assert api.get(f"/v1/sessions/{own}/files/{name}").content == b"planted"  # the move left its source
    _assert_only_own_keys(gateway, gateway.owner(attacker).prefix)
    _assert_untouched(gateway, victim, sid)
    with gateway.client(attacker) as api:
        other = api.post("/v1/sessions", json={}).json()["id"]
    with gateway.client(attacker, session_id=own) as bound:
        body = {"from": name, "to": "x.txt", "to_session": other}
        assert bound.post(f"/v1/sessions/{own}/copy", json=body).status_code == 404
        assert bound.post(f"/v1/sessions/{own}/fork", json={}).status_code == 403
    with gateway.client(attacker) as api:
        assert api.get(f"/v1/sessions/{other}/files").json()["items"] == []


def test_a_null_tenant_claim_is_tenant_less_and_no_claim_reaches_it(gateway: Gateway, user: str) -> None:
    with gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        assert (
            api.put(f"/v1/sessions/{sid}/files/\u00e9t\u00e9 \U0001f680 100%.txt", content=b"mine").status_code == 201
        )
    tenantless = gateway.owner(user).sessions_prefix
    assert all(gateway.owner(user, tenant).sessions_prefix != tenantless for tenant in ("default", "~none", "none"))
    with gateway.client(user, tenant=None) as same:
        assert same.get(f"/v1/sessions/{sid}").status_code == 200
    token = issue_token(gateway.settings, sub=user)
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["tid"] = None  # an explicit null is no tenant, like an absent claim
    nulled = jwt.encode(claims, SECRET, algorithm="HS256")
    with gateway.client(token=nulled) as api:
        assert api.get(f"/v1/sessions/{sid}").status_code == 200
    for tenant in ("default", "~none", "%7Enone", "none"):
        with gateway.client(user, tenant=tenant) as other:
            assert other.get(f"/v1/sessions/{sid}").status_code == 404, tenant


def test_answers_for_foreign_and_missing_sessions_are_identical(gateway: Gateway) -> None:
    _victim_user, sid, _ = _victim(gateway)
    with gateway.client("prober") as api:
        foreign = api.get(f"/v1/sessions/{sid}/files/notes.txt")
        missing = api.get("/v1/sessions/01ARZ3NDEKTSV4RRFFQ69G5FAV/files/notes.txt")
    assert foreign.status_code == missing.status_code == 404
    strip = {"instance"}
    assert {k: v for k, v in foreign.json().items() if k not in strip} == {
        k: v for k, v in missing.json().items() if k not in strip
    }


def test_session_bound_token_reaches_only_its_session(gateway: Gateway, user: str) -> None:
    with gateway.client(user) as api:
        mine = api.post("/v1/sessions", json={}).json()["id"]
        other = api.post("/v1/sessions", json={}).json()["id"]
        api.put(f"/v1/sessions/{other}/files/notes.txt", content=SECRET_BYTES)
    with gateway.client(user, session_id=mine) as bound:
        assert bound.put(f"/v1/sessions/{mine}/files/a.txt", content=b"ok").status_code == 201
        for response in _attempts(bound, other, "x"):
            assert response.status_code == 404, (response.request.method, response.request.url)
        assert [item["id"] for item in bound.get("/v1/sessions").json()["items"]] == [mine]
        created = bound.post("/v1/sessions", json={})
        assert created.status_code == 403
        assert created.headers["content-type"] == "application/problem+json"


def test_missing_scope_is_403(gateway: Gateway, user: str) -> None:
    with gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        api.put(f"/v1/sessions/{sid}/files/a.txt", content=b"x")
    with gateway.client(user, scope="files:read") as reader:
        assert reader.get(f"/v1/sessions/{sid}/files/a.txt").status_code == 200
        refused = reader.put(f"/v1/sessions/{sid}/files/a.txt", content=b"y")
        assert refused.status_code == 403
        assert refused.json()["required_scope"] == "files:write"
        assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
        assert reader.delete(f"/v1/sessions/{sid}/files/a.txt").status_code == 403
        assert reader.post("/v1/sessions", json={}).status_code == 403
    with gateway.client(user, scope="files:write") as writer:
        assert writer.get(f"/v1/sessions/{sid}/files/a.txt").status_code == 403
        assert writer.get("/v1/sessions").status_code == 403
    with gateway.client(user, scope="openid profile") as neither:
        assert neither.get(f"/v1/sessions/{sid}").status_code == 403
    with gateway.client(user) as api:
        assert api.get(f"/v1/sessions/{sid}/files/a.txt").content == b"x"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _bad_tokens(sub: str) -> dict[str, str]:
    now = int(time.time())
    good = {"sub": sub, "aud": "session-gateway", "exp": now + 300}
    header, _, signature = jwt.encode(good, SECRET).split(".")
    return {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(good)}.",
        "expired": jwt.encode({**good, "exp": now - 3600}, SECRET),
        "wrong aud": jwt.encode({**good, "aud": "another-api"}, SECRET),
        "no sub": jwt.encode({k: v for k, v in good.items() if k != "sub"}, SECRET),
        "no exp": jwt.encode({k: v for k, v in good.items() if k != "exp"}, SECRET),
        "tampered payload": f"{header}.{_b64({**good, 'sub': 'someone-else'})}.{signature}",
        "wrong secret": jwt.encode(good, "k" * 64),
        "unknown kid": jwt.encode(good, "k" * 64, headers={"kid": "../../etc/passwd"}),
        "malformed": "abc",
        "numeric-string exp": jwt.encode({**good, "exp": str(now + 300)}, SECRET),
        "numeric-string nbf": jwt.encode({**good, "nbf": str(now - 10)}, SECRET),
        "boolean iat": jwt.encode({**good, "iat": True}, SECRET),
        "padded segments": _padded(jwt.encode(good, SECRET)),
    }


def _padded(token: str) -> str:
    # An HS256 signature is 32 bytes: its base64 always needs one '='.
    return ".".join(part + "=" * (-len(part) % 4) for part in token.split("."))


def test_strictly_read_tokens_say_why_over_http(gateway: Gateway, user: str) -> None:
    now = int(time.time())
    good = {"sub": user, "aud": "session-gateway", "exp": now + 300}
    cases = {
        _padded(jwt.encode(good, SECRET)): "unpadded base64url",
        jwt.encode({**good, "exp": "9999999999"}, SECRET): "'exp' claim must be a JSON number",
        jwt.encode({**good, "nbf": str(now)}, SECRET): "'nbf' claim must be a JSON number",
        jwt.encode({**good, "iat": str(now)}, SECRET): "'iat' claim must be a JSON number",
    }
    gateway.touched.clear()
    for token, reason in cases.items():
        with gateway.client(token=token) as client:
            response = client.get("/v1/sessions")
        assert response.status_code == 401, reason
        assert response.json()["type"] == "/problems/unauthorized"
        assert reason in response.json()["detail"]
        assert 'error="invalid_token", error_description="the token' in response.headers["www-authenticate"]
        assert reason in response.headers["www-authenticate"]
    with gateway.client(token=jwt.encode(good, SECRET)) as client:
        assert client.get("/v1/sessions").status_code == 200
    # Only what a first listing reads and writes, all of it under the caller's own prefix: the listing of their
    # sessions, and their (new, empty) index.
    own = gateway.owner(user)
    touched = {key for _op, key in gateway.touched}
    assert own.sessions_prefix in touched and own.space.index_base in touched
    assert all(key.startswith(own.prefix) for key in touched), touched


def test_bad_tokens_are_401_and_touch_nothing(gateway: Gateway, user: str) -> None:
    with gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
    gateway.touched.clear()
    for name, token in _bad_tokens(user).items():
        with gateway.client(token=token) as client:
            for response in (
                client.get(f"/v1/sessions/{sid}"),
                client.put(f"/v1/sessions/{sid}/files/x", content=b"x"),
            ):
                assert response.status_code == 401, name
                assert response.headers["www-authenticate"].startswith("Bearer realm=")
                assert response.headers["content-type"] == "application/problem+json"
    with gateway.client() as anonymous:
        response = anonymous.get("/v1/sessions")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="session-gateway"'
        assert anonymous.get("/v1/sessions", headers={"Authorization": "Basic dXNlcjpwYXNz"}).status_code == 401
    assert gateway.touched == []


ADVERSARIAL_SUBJECTS = ["a", "a/s/x", "a/../b", "../a", "a%2Fb", "a/", "~a", "%", "é", "e\u0301", "x" * 300, "a b"]


def test_adversarial_subjects_get_disjoint_spaces(gateway: Gateway) -> None:
    run = uuid.uuid4().hex[:6]
    subjects = [f"{run}{s}" for s in ADVERSARIAL_SUBJECTS] + [f"{s}{run}" for s in ADVERSARIAL_SUBJECTS]
    created: dict[str, str] = {}
    for sub in subjects:
        with gateway.client(sub) as api:
            created[sub] = api.post("/v1/sessions", json={}).json()["id"]
    prefixes = [gateway.owner(sub).sessions_prefix for sub in subjects]
    for a in prefixes:
        assert sum(b.startswith(a) for b in prefixes) == 1
    for sub in subjects:
        with gateway.client(sub) as api:
            assert [item["id"] for item in api.get("/v1/sessions").json()["items"]] == [created[sub]]


@pytest.mark.parametrize(
    "raw",
    ["../x", "..%2Fx", "%2E%2E/x", "a/%2e%2e/%2e%2e/x", "a%2F..%2F..%2Fx", "..%5Cx", "a/./b", "%2Fetc", "//x"],
)
def test_traversal_paths_are_refused_before_any_key_is_built(gateway: Gateway, user: str, raw: str) -> None:
    with gateway.client(user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        headers = dict(api.headers)
    prefix = gateway.owner(user).session(sid).prefix
    gateway.touched.clear()
    for method in ("GET", "PUT", "DELETE"):
        status, _headers, body = raw_request(gateway.url, method, f"/v1/sessions/{sid}/files/{raw}", headers, b"x")
        assert status == 400, (method, raw, body)
        assert json.loads(body)["type"] == "/problems/invalid-path"
    # Only the session record lookup happened, inside the caller's own session.
    assert {key for _op, key in gateway.touched} <= {prefix + "session.json"}


@pytest.fixture(scope="module")
def jwks_gateway(backend: Backend) -> Iterator[tuple[Gateway, Any]]:
    """A gateway that trusts RS256 keys from a JWKS endpoint and one issuer."""
    server = JwksServer()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server.publish(key, "main")
    settings = Settings.from_env(
        {
            "GATEWAY_S3_ENDPOINT_URL": backend.endpoint,
            "GATEWAY_BUCKET": backend.new_bucket(),
            "GATEWAY_JWT_JWKS_URL": server.url,
            "GATEWAY_JWT_ISSUER": "https://idp.test",
        }
    )
    try:
        with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
            yield Gateway(backend=backend, settings=settings, url=url), key
    finally:
        server.server.shutdown()
        server.server.server_close()


def test_public_key_gateway_refuses_forged_tokens(jwks_gateway: tuple[Gateway, Any]) -> None:
    gateway, key = jwks_gateway
    now = int(time.time())
    claims = {"sub": "alice", "aud": "session-gateway", "iss": "https://idp.test", "exp": now + 300}
    good = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "main"})
    with gateway.client(token=good) as api:
        assert api.post("/v1/sessions", json={}).status_code == 201

    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": "main"})
    signing_input = f"{header}.{_b64(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = {
        "HS256 signed with the RSA public key": f"{signing_input}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}",
        "alg none": f"{_b64({'alg': 'none', 'kid': 'main'})}.{_b64(claims)}.",
        "unknown kid": jwt.encode(
            claims, rsa.generate_private_key(65537, 2048), algorithm="RS256", headers={"kid": "x"}
        ),
        "right kid, wrong key": jwt.encode(
            claims, rsa.generate_private_key(65537, 2048), algorithm="RS256", headers={"kid": "main"}
        ),
        "wrong iss": jwt.encode(
            {**claims, "iss": "https://evil.test"}, key, algorithm="RS256", headers={"kid": "main"}
        ),
        "no iss": jwt.encode(
            {k: v for k, v in claims.items() if k != "iss"}, key, algorithm="RS256", headers={"kid": "main"}
        ),
        "ES256 with an unknown key": jwt.encode(
            claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "main"}
        ),
    }
    for name, token in forged.items():
        with gateway.client(token=token) as api:
            response = api.get("/v1/sessions")
            assert response.status_code == 401, name
            assert response.headers["www-authenticate"].startswith("Bearer realm=")
