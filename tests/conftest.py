"""Backends and a running gateway for the behaviour tests.

Every test that takes the `backend` fixture (directly or through `gateway`) runs once per backend: moto's S3
server and a real Ceph RADOS Gateway, which `deploy/rgw/local-rgw.sh` starts on loopback when none is running.
GATEWAY_TEST_BACKENDS (default "moto,rgw") narrows the list for quick local runs; CI always runs both.
"""

from __future__ import annotations

import fcntl
import http.client
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import uvicorn
from botocore.config import Config

from gateway.api.app import create_app
from gateway.api.protocol import HttpProtocol
from gateway.auth.tokens import issue_token
from gateway.devstore import start_embedded_s3
from gateway.keys import Owner, owner_key_name
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
RGW_SCRIPT = ROOT / "deploy" / "rgw" / "local-rgw.sh"
SECRET = "test-secret-that-is-long-enough-for-hs256"
KEY_ROOT = "gw"
# moto's server logs every S3 call it answers.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _backends() -> list[str]:
    names = [name.strip() for name in os.environ.get("GATEWAY_TEST_BACKENDS", "moto,rgw").split(",") if name.strip()]
    if os.environ.get("CI") == "true" and "rgw" not in names:
        raise pytest.UsageError("CI must run the rgw backend")
    return names


@dataclass
class Backend:
    name: str
    endpoint: str
    credentials: tuple[str, str]

    def client(self) -> Any:
        """An independent boto3 client, for tests that inspect the bucket."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.credentials[0],
            aws_secret_access_key=self.credentials[1],
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                retries={"mode": "standard", "max_attempts": 3},
            ),
        )

    def new_bucket(self, versioned: bool = True) -> str:
        name = f"test-{uuid.uuid4().hex[:20]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        if versioned:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name


def _rgw_env() -> dict[str, str]:
    output = subprocess.run(["bash", str(RGW_SCRIPT), "env"], capture_output=True, text=True, check=True).stdout
    values = {}
    for line in output.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        values[name.strip()] = value.strip().strip("'\"")
    return values


class RgwStartFailed(Exception):
    pass


@contextmanager
def _rgw_users_lock() -> Iterator[Path]:
    """The folder where each test process using the local RGW leaves its mark, held under an exclusive lock: with
    several workers (pytest-xdist), the first one starts the RGW and the last one to finish stops it."""
    base = Path(os.environ.get("RGW_DIR", "/tmp/session-gateway-rgw").rstrip("/") + ".users")
    base.mkdir(parents=True, exist_ok=True)
    with open(base / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield base
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _alive(mark: Path) -> bool:
    """Whether the test process that left `mark` still runs (a run that was killed leaves its mark behind)."""
    try:
        os.kill(int(mark.name.removeprefix("user-")), 0)
    except (ValueError, ProcessLookupError):
        mark.unlink(missing_ok=True)
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def local_rgw(*, keep: bool = False) -> Iterator[Backend]:
    """The local Ceph RGW: the one already answering, or one started here and stopped afterwards (unless `keep`) by
    the last test process that used it."""
    me = f"user-{os.getpid()}"
    with _rgw_users_lock() as users:
        if subprocess.run(["bash", str(RGW_SCRIPT), "status"], capture_output=True).returncode != 0:
            result = subprocess.run(["bash", str(RGW_SCRIPT), "start"], capture_output=True, text=True, timeout=300)
            if result.returncode != 0:
                raise RgwStartFailed(f"could not start Ceph RGW:\n{result.stdout}\n{result.stderr}")
            (users / "started-here").touch()
        (users / me).touch()
    try:
        env = _rgw_env()
        yield Backend("rgw", env["RGW_ENDPOINT_URL"], (env["RGW_ACCESS_KEY"], env["RGW_SECRET_KEY"]))
    finally:
        with _rgw_users_lock() as users:
            (users / me).unlink(missing_ok=True)
            last = not any(_alive(mark) for mark in users.glob("user-*"))
            if last and (users / "started-here").exists() and not keep:
                subprocess.run(["bash", str(RGW_SCRIPT), "stop"], capture_output=True, timeout=120)
                (users / "started-here").unlink()


@pytest.fixture(scope="session")
def rgw() -> Iterator[Backend]:
    try:
        with local_rgw(keep=bool(os.environ.get("GATEWAY_TEST_KEEP_RGW"))) as backend:
            yield backend
    except RgwStartFailed as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def moto() -> Iterator[Backend]:
    # The same embedded S3 as `serve --dev`.
    server, endpoint = start_embedded_s3()
    yield Backend("moto", endpoint, ("moto-key", "moto-secret"))
    server.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out (not skip) the RGW-only tests when a local run narrows the backends to moto."""
    if "rgw" in _backends():
        return
    kept = [item for item in items if item.get_closest_marker("rgw_only") is None]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept


@pytest.fixture(scope="session")
def rgw_gateway(rgw: Backend) -> Iterator[Gateway]:
    """A gateway on Ceph RGW, for what only a real S3 checks (signatures, lifecycle)."""
    settings = gateway_settings(rgw, rgw.new_bucket())
    with ServerThread(create_app(settings, credentials=rgw.credentials)) as url:
        yield Gateway(backend=rgw, settings=settings, url=url)


@pytest.fixture(scope="session", params=_backends())
def backend(request: pytest.FixtureRequest) -> Backend:
    found: Backend = request.getfixturevalue(request.param)
    return found


def gateway_settings(backend: Backend, bucket: str, **extra: str) -> Settings:
    return Settings.from_env(
        {
            "GATEWAY_S3_ENDPOINT_URL": backend.endpoint,
            "GATEWAY_BUCKET": bucket,
            "GATEWAY_KEY_ROOT": KEY_ROOT,
            "GATEWAY_JWT_SECRET": SECRET,
            "GATEWAY_S3_MAX_ATTEMPTS": "2",
            # Activity is refreshed when a test says so (tests/index/), or at shutdown: a refresh running in the
            # background would touch keys of sessions other tests are watching.
            "GATEWAY_ACTIVITY_INTERVAL_SECONDS": str(10**9),
            # The audit log is written when a test says so (tests/audit/), or at shutdown, for the same reason.
            "GATEWAY_AUDIT_FLUSH_SECONDS": str(10**9),
            # The web console at /console/ (tests/console/); static files beside the API, which it only uses.
            "GATEWAY_CONSOLE": "true",
            **extra,
        }
    )


@dataclass
class Gateway:
    """A gateway serving on loopback, with a record of every key its store adapter touched."""

    backend: Backend
    settings: Settings
    url: str
    touched: list[tuple[str, str]] = field(default_factory=list)
    _owner_key: bytes | None = field(default=None, repr=False)

    def token(self, sub: str, **claims: Any) -> str:
        return issue_token(self.settings, sub=sub, **claims)

    def client(self, sub: str | None = None, *, token: str | None = None, **claims: Any) -> httpx.Client:
        headers = {}
        if token is None and sub is not None:
            token = self.token(sub, **claims)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def owner(self, sub: str, tenant: str | None = None) -> Owner:
        return Owner(root=self.settings.key_root, tenant=tenant, user=sub, owner_key=self.owner_key)

    @property
    def owner_key(self) -> bytes:
        """The owner key this gateway made in its bucket, read the way every replica reads it: the oldest version."""
        if self._owner_key is None:
            self._owner_key = bucket_owner_key(self.backend, self.settings)
        return self._owner_key


def bucket_owner_key(backend: Backend, settings: Settings) -> bytes:
    client = backend.client()
    name = owner_key_name(settings.key_root)
    versions = client.list_object_versions(Bucket=settings.bucket, Prefix=name)["Versions"]
    oldest = [v for v in versions if v["Key"] == name][-1]
    body: bytes = client.get_object(Bucket=settings.bucket, Key=name, VersionId=oldest["VersionId"])["Body"].read()
    return body


class ServerThread:
    def __init__(self, app: Any, *, http: type = HttpProtocol) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", http=http)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def gateway(backend: Backend) -> Iterator[Gateway]:
    settings = gateway_settings(backend, backend.new_bucket())
    touched: list[tuple[str, str]] = []
    app = create_app(settings, credentials=backend.credentials, observer=lambda op, key: touched.append((op, key)))
    with ServerThread(app) as url:
        yield Gateway(backend=backend, settings=settings, url=url, touched=touched)


def raw_request(
    base_url: str, method: str, raw_path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """Send a request path byte for byte: HTTP clients would normalise '..' and '.' segments away."""
    url = httpx.URL(base_url)
    connection = http.client.HTTPConnection(url.host, url.port, timeout=30)
    try:
        connection.request(method, raw_path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[Any] | None = None, *, path: str = "/readyz") -> None:
    """Poll `url + path` until it answers 200; fail early if the process died."""
    deadline = time.monotonic() + 60
    while True:
        assert process is None or process.poll() is None, "the gateway process exited"
        try:
            if httpx.get(url + path).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} did not come up"
        time.sleep(0.1)


@contextmanager
def gateway_process(
    backend: Backend, bucket: str, *, args: Sequence[str] = (), **extra_env: str
) -> Iterator[tuple[str, subprocess.Popen[Any]]]:
    """`session-gateway serve [args]` as a process of its own (a replica), configured from the environment."""
    env = {
        **os.environ,
        "GATEWAY_S3_ENDPOINT_URL": backend.endpoint,
        "GATEWAY_BUCKET": bucket,
        "GATEWAY_KEY_ROOT": KEY_ROOT,
        "GATEWAY_JWT_SECRET": SECRET,
        "AWS_ACCESS_KEY_ID": backend.credentials[0],
        "AWS_SECRET_ACCESS_KEY": backend.credentials[1],
        **extra_env,
    }
    port = free_port()
    command = [sys.executable, "-m", "gateway", "serve", "--port", str(port), "--log-level", "warning", *args]
    process = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def user() -> str:
    """A fresh user id, so tests sharing a bucket never see each other's sessions."""
    return f"user-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def api(gateway: Gateway, user: str) -> Iterator[httpx.Client]:
    with gateway.client(user) as client:
        yield client


@pytest.fixture
def session_id(api: httpx.Client) -> str:
    response = api.post("/v1/sessions", json={"name": "test"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
