"""`session-gateway serve` as an operator runs it: JSON log lines naming each request, SIGTERM drained (readiness
fails at once, uploads under way finish, one that does not is aborted with nothing visible), SIGKILL mid-upload
leaving nothing visible and a multipart upload that the janitor removes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from gateway.auth.tokens import issue_token
from gateway.policy.config import load_configured_policy
from gateway.services.assembly import assemble
from gateway.settings import MiB
from gateway.storage.store import Store
from tests.conftest import KEY_ROOT, SECRET, Backend, free_port, gateway_process, gateway_settings, wait_until_up

DRAIN_SECONDS = 2
TIMEOUT_SECONDS = 1


def _env(backend: Backend, bucket: str, **extra: str) -> dict[str, str]:
    return {
        **{name: value for name, value in os.environ.items() if not name.startswith("GATEWAY_")},
        "GATEWAY_S3_ENDPOINT_URL": backend.endpoint,
        "GATEWAY_BUCKET": bucket,
        "GATEWAY_KEY_ROOT": KEY_ROOT,
        "GATEWAY_JWT_SECRET": SECRET,
        "GATEWAY_MULTIPART_THRESHOLD_BYTES": str(5 * MiB),
        "AWS_ACCESS_KEY_ID": backend.credentials[0],
        "AWS_SECRET_ACCESS_KEY": backend.credentials[1],
        **extra,
    }


@dataclass
class Replica:
    backend: Backend
    bucket: str
    url: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _seen: threading.Condition = field(default_factory=threading.Condition)

    def token(self, sub: str) -> str:
        return issue_token(gateway_settings(self.backend, self.bucket), sub=sub)

    def client(self, sub: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token(sub)}"}, timeout=30)

    def read_logs(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()

    def logged(self, found: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first JSON line `found` accepts, waiting for it (a request's access line follows its answer)."""

        def first() -> dict[str, Any] | None:
            return next((entry for entry in map(json.loads, self.lines) if found(entry)), None)

        with self._seen:
            assert self._seen.wait_for(lambda: first() is not None, timeout=10), "".join(self.lines[-20:])
            entry = first()
        assert entry is not None
        return entry


@pytest.fixture(scope="module")
def replica(backend: Backend) -> Iterator[Replica]:
    """A replica logging JSON (the default of `serve`), with a short drain and graceful timeout."""
    bucket = backend.new_bucket()
    env = _env(
        backend,
        bucket,
        GATEWAY_SHUTDOWN_DRAIN_SECONDS=str(DRAIN_SECONDS),
        GATEWAY_SHUTDOWN_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
    )
    port = free_port()
    command = [sys.executable, "-m", "gateway", "serve", "--port", str(port), "--log-level", "info"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, encoding="utf-8")
    found = Replica(backend, bucket, f"http://127.0.0.1:{port}", process)
    reader = threading.Thread(target=found.read_logs, daemon=True)
    reader.start()
    try:
        wait_until_up(found.url, process)
        yield found
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        reader.join(timeout=30)
        assert process.stderr is not None
        process.stderr.close()


def _session(api: httpx.Client) -> str:
    response = api.post("/v1/sessions", json={"name": "replica"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _keys_ending(backend: Backend, bucket: str, name: str) -> tuple[list[str], list[str]]:
    """Versions (and delete markers) of keys ending in `name`, and multipart uploads still open on them."""
    s3 = backend.client()
    listing = s3.list_object_versions(Bucket=bucket)
    versions = [
        item["Key"]
        for kind in ("Versions", "DeleteMarkers")
        for item in listing.get(kind, [])
        if item["Key"].endswith("/f/" + name)
    ]
    uploads = [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) if u["Key"].endswith(name)]
    return versions, uploads


def test_json_log_lines_name_the_request_and_never_a_token(replica: Replica) -> None:
    user = "lögger ü🙂 100%"
    name = unicodedata.normalize("NFD", "café 🚀 100%.txt")
    with replica.client(user) as api:
        sid = _session(api)
        put = api.put(
            f"/v1/sessions/{sid}/files/{quote(name)}", content=b"x" * 1000, headers={"X-Request-Id": "ops-put-1"}
        )
        assert put.status_code == 201
        listed = api.get(f"/v1/sessions/{sid}/files?prefix=s3cr3t-in-query", headers={"X-Request-Id": "ops-list-1"})
        assert listed.status_code == 200
    forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2VjcmV0LXNpZ25hdHVyZQ"
    refused = httpx.get(f"{replica.url}/v1/sessions", headers={"Authorization": f"Bearer {forged}"})
    assert refused.status_code == 401

    access = replica.logged(lambda e: e.get("request_id") == "ops-put-1" and e["logger"] == "gateway.access")
    assert access["level"] == "info"
    assert access["method"] == "PUT" and access["route"] == "/v1/sessions/{sid}/files/{path}"
    assert access["status"] == 201 and access["bytes_in"] == 1000 and access["bytes_out"] > 0
    assert access["duration_ms"] >= 0 and access["time"].endswith("Z")
    # Whatever else was logged while the upload was served (the change it made) names the same request.
    change = replica.logged(lambda e: e["logger"] == "gateway.changes" and "file.written" in e["message"])
    assert change["request_id"] == "ops-put-1"
    listing = replica.logged(lambda e: e.get("request_id") == "ops-list-1" and e["logger"] == "gateway.access")
    assert listing["route"] == "/v1/sessions/{sid}/files" and listing["status"] == 200
    denied = replica.logged(lambda e: e.get("route") == "/v1/sessions" and e.get("status") == 401)
    assert denied["request_id"]

    text = "".join(replica.lines)
    for entry in map(json.loads, replica.lines):
        assert {"time", "level", "logger", "message", "request_id"} <= entry.keys()
        if entry["logger"] == "gateway.access":
            assert entry["request_id"], entry
    for secret in (replica.token(user), forged, "s3cr3t-in-query", "c2VjcmV0LXNpZ25hdHVyZQ"):
        assert secret not in text
    assert '"logger": "uvicorn.access"' not in text


def _chunks(parts: list[bytes], pause_after: int, resume: threading.Event) -> Iterator[bytes]:
    yield from parts[:pause_after]
    resume.wait(timeout=60)
    yield from parts[pause_after:]


def _upload(api: httpx.Client, url: str, body: Iterator[bytes], answers: dict[str, Any], name: str) -> None:
    try:
        answers[name] = api.put(url, content=body).status_code
    except httpx.HTTPError as exc:
        answers[name] = exc


def _streams(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    line = next(
        line for line in text.splitlines() if line.startswith('gateway_streams_in_progress{direction="upload"}')
    )
    return float(line.split()[-1])


def test_sigterm_drains_finishes_uploads_under_way_and_aborts_one_that_stalls(replica: Replica) -> None:
    finishing, stalling = "finishing ü.txt", "stalling 🙂 100%.bin"
    with replica.client("drainer ✓") as api:
        sid = _session(api)
        finish, never = threading.Event(), threading.Event()
        answers: dict[str, Any] = {}
        uploads = [
            (finishing, _chunks([b"f" * 65536] * 16, 2, finish)),
            # Five parts' worth: the gateway starts a multipart upload, then waits for more.
            (stalling, _chunks([b"s" * MiB] * 6, 5, never)),
        ]
        threads = [
            threading.Thread(target=_upload, args=(api, f"/v1/sessions/{sid}/files/{quote(n)}", body, answers, n))
            for n, body in uploads
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while _streams(replica.url) < 2 or not _keys_ending(replica.backend, replica.bucket, stalling)[1]:
            assert time.monotonic() < deadline, "the uploads did not start"
            time.sleep(0.05)

        replica.process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        # The signal reaches the app's handler at the loop's next turn: a readiness check already under way may
        # still pass.
        ready = httpx.get(f"{replica.url}/readyz")
        while ready.status_code == 200 and time.monotonic() < stopped + DRAIN_SECONDS / 2:
            ready = httpx.get(f"{replica.url}/readyz")
        assert ready.status_code == 503 and ready.json()["reason"] == "shutting down"
        assert httpx.get(f"{replica.url}/healthz").status_code == 200
        finish.set()
        threads[0].join(timeout=30)
        assert answers[finishing] == 201

        replica.process.wait(timeout=DRAIN_SECONDS + TIMEOUT_SECONDS + 20)
        assert time.monotonic() - stopped < DRAIN_SECONDS + TIMEOUT_SECONDS + 15
        never.set()
        threads[1].join(timeout=30)
        # The cut upload was answered 503 shutting-down; a client still sending may see the connection close first.
        assert answers[stalling] == 503 or isinstance(answers[stalling], httpx.TransportError)

    s3 = replica.backend.client()
    versions, uploads_left = _keys_ending(replica.backend, replica.bucket, finishing)
    assert len(versions) == 1 and uploads_left == []
    assert s3.get_object(Bucket=replica.bucket, Key=versions[0])["Body"].read() == b"f" * 65536 * 16
    assert _keys_ending(replica.backend, replica.bucket, stalling) == ([], [])
    logged = [json.loads(line) for line in replica.lines]
    assert any("shutting down" in entry["message"] for entry in logged)
    cut = [e for e in logged if e["logger"] == "gateway.access" and e["status"] == 503 and e["method"] == "PUT"]
    assert len(cut) == 1 and cut[0]["route"] == "/v1/sessions/{sid}/files/{path}"


def test_sigkill_mid_upload_leaves_nothing_visible_and_the_janitor_aborts_the_upload(backend: Backend) -> None:
    bucket = backend.new_bucket()
    name = "killed ü 🚀 100%.bin"
    with gateway_process(backend, bucket, GATEWAY_MULTIPART_THRESHOLD_BYTES=str(5 * MiB)) as (url, process):
        token = issue_token(gateway_settings(backend, bucket), sub="victim ✓")
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
            sid = _session(api)
            resume = threading.Event()
            answers: dict[str, Any] = {}
            body = _chunks([b"k" * MiB] * 7, 5, resume)
            upload = threading.Thread(
                target=_upload, args=(api, f"/v1/sessions/{sid}/files/{quote(name)}", body, answers, name)
            )
            upload.start()
            deadline = time.monotonic() + 30
            while not _keys_ending(backend, bucket, name)[1]:
                assert time.monotonic() < deadline, "the multipart upload did not start"
                time.sleep(0.05)
            process.kill()
            process.wait(timeout=30)
            resume.set()
            upload.join(timeout=30)
            assert isinstance(answers[name], httpx.HTTPError)

    versions, uploads = _keys_ending(backend, bucket, name)
    assert versions == [] and len(uploads) == 1

    async def janitor_two_days_later() -> None:
        settings = gateway_settings(backend, bucket)
        later = datetime.now(UTC) + timedelta(days=2)
        async with Store(settings, credentials=backend.credentials) as store:
            janitor = assemble(store, settings, load_configured_policy(settings), clock=lambda: later).janitor
            await janitor.run(dry_run=False)

    asyncio.run(janitor_two_days_later())
    assert _keys_ending(backend, bucket, name) == ([], [])
