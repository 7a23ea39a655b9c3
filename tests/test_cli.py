from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import jwt

from tests.conftest import SECRET, Backend, free_port, wait_until_up


def _env(backend: Backend | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_JWT_SECRET"] = SECRET
    if backend is not None:
        env.update(
            GATEWAY_S3_ENDPOINT_URL=backend.endpoint,
            AWS_ACCESS_KEY_ID=backend.credentials[0],
            AWS_SECRET_ACCESS_KEY=backend.credentials[1],
        )
    env.update(extra)
    return env


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], env=env, capture_output=True, text=True, timeout=60)


@contextmanager
def _serving(*args: str, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, path="/healthz")
        yield process, url
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_refuses_to_start_on_an_unversioned_bucket(backend: Backend) -> None:
    bucket = backend.new_bucket(versioned=False)
    result = _run("serve", env=_env(backend, GATEWAY_BUCKET=bucket))
    assert result.returncode == 2
    assert "refusing to start" in result.stderr
    assert "versioning" in result.stderr and bucket in result.stderr


def test_refuses_a_missing_bucket_unless_asked_to_create_it(backend: Backend) -> None:
    bucket = f"missing-{os.urandom(4).hex()}"
    result = _run("serve", env=_env(backend, GATEWAY_BUCKET=bucket))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "--create-bucket" in result.stderr
    with _serving("--create-bucket", env=_env(backend, GATEWAY_BUCKET=bucket)) as (_process, url):
        assert httpx.get(f"{url}/readyz").status_code == 200
    versioning = backend.client().get_bucket_versioning(Bucket=bucket)
    assert versioning["Status"] == "Enabled"


def test_invalid_settings_name_the_variable() -> None:
    cases = {
        "GATEWAY_MAX_UPLOAD_BYTES": "lots",
        "GATEWAY_S3_ENDPOINT_URL": "ftp://x",
        "GATEWAY_KEY_ROOT": "a/../b",
        "GATEWAY_JWT_ALGORITHMS": "none",
    }
    for name, value in cases.items():
        result = _run("serve", env=_env(**{"GATEWAY_BUCKET": "b", name: value}))
        assert result.returncode == 2, name
        assert name in result.stderr, (name, result.stderr)
    missing = _run("serve", env=_env())
    assert missing.returncode == 2 and "GATEWAY_BUCKET" in missing.stderr
    no_key = _run("serve", env={**_env(GATEWAY_BUCKET="b"), "GATEWAY_JWT_SECRET": ""})
    assert no_key.returncode == 2 and "GATEWAY_JWT_SECRET" in no_key.stderr


def test_token_command() -> None:
    result = _run("token", "--sub", "alice", "--tenant", "acme", "--scope", "files:read", "--ttl", "120", env=_env())
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"], audience="session-gateway")
    assert (claims["sub"], claims["tid"], claims["scope"]) == ("alice", "acme", "files:read")
    assert 100 <= claims["exp"] - time.time() <= 120


def test_dev_mode_prints_a_working_token_and_examples() -> None:
    env = {k: v for k, v in _env().items() if k != "GATEWAY_JWT_SECRET"}
    with _serving("--dev", env=env) as (process, url):
        assert process.stdout is not None
        banner = ""
        while "curl" not in banner or banner.count("curl") < 2:
            banner += process.stdout.readline()
        assert "LOST" in banner and "memory" in banner
        token = re.search(r"export TOKEN=(\S+)", banner)
        session = re.search(r"export SESSION=(\S+)", banner)
        assert token and session
        headers = {"Authorization": f"Bearer {token.group(1)}"}
        files = f"{url}/v1/sessions/{session.group(1)}/files"
        assert httpx.put(f"{files}/notes/hello.txt", content=b"hello, world", headers=headers).status_code == 201
        assert httpx.get(f"{files}/notes/hello.txt", headers=headers).content == b"hello, world"
        assert f"{files}/notes/hello.txt" in banner
        # Sealed cursors work in development mode too.
        assert httpx.put(f"{files}/notes/h\u00e9.txt", content=b"2", headers=headers).status_code == 201
        first = httpx.get(files, params={"limit": "1"}, headers=headers).json()
        rest = httpx.get(files, params={"limit": "1", "cursor": first["next_cursor"]}, headers=headers).json()
        assert [item["path"] for item in first["items"] + rest["items"]] == ["notes/hello.txt", "notes/h\u00e9.txt"]
