"""Overload and faults: a backend out of reach or throttling is a 503 with Retry-After, nothing partial is left
visible, and the gateway recovers once the backend is back; a token over its rate limit is a 429 with Retry-After,
other tokens unaffected."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.api.app import create_app
from gateway.errors import SettingsError
from gateway.serving.ratelimit import TokenBuckets
from gateway.settings import MiB, Settings
from gateway.storage.s3errors import RETRY_AFTER_BUSY, RETRY_AFTER_UNREACHABLE
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings
from tests.serving.proxy import Proxy

BURST = 20
NAMES = ["naïve résumé.txt", unicodedata.normalize("NFD", "crème brûlée.md"), "🚀 launch/100% done.txt"]


@dataclass
class Proxied:
    gateway: Gateway
    proxy: Proxy


@pytest.fixture(scope="module")
def proxied(backend: Backend) -> Iterator[Proxied]:
    """A gateway whose S3 is reached through a proxy the tests cut; tokens may send BURST requests at once."""
    proxy = Proxy(backend.endpoint)
    settings = gateway_settings(
        backend,
        backend.new_bucket(),
        GATEWAY_S3_ENDPOINT_URL=proxy.url,
        GATEWAY_MULTIPART_THRESHOLD_BYTES=str(5 * MiB),
        GATEWAY_RATE_LIMIT_PER_SECOND="0.01",
        GATEWAY_RATE_LIMIT_BURST=str(BURST),
    )
    try:
        with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
            yield Proxied(Gateway(backend=backend, settings=settings, url=url), proxy)
    finally:
        proxy.close()


@pytest.fixture
def client(proxied: Proxied) -> Iterator[httpx.Client]:
    with proxied.gateway.client(f"user-{uuid.uuid4().hex[:8]} ü🙂%") as api:
        yield api


@pytest.fixture
def restored(proxied: Proxied) -> Iterator[Proxy]:
    """The proxy, passing again after the test whatever happened."""
    yield proxied.proxy
    proxied.proxy.restore()


def _session(api: httpx.Client) -> str:
    response = api.post("/v1/sessions", json={"name": "faults"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _url(sid: str, name: str) -> str:
    return f"/v1/sessions/{sid}/files/{quote(name)}"


def _assert_unavailable(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/store-unavailable"
    assert response.headers["Retry-After"] == str(retry_after)


def _s3_errors(api: httpx.Client, operation: str) -> float:
    text = api.get("/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "gateway_s3_errors_total"
        and sample.labels == {"operation": operation, "error": "store-unavailable"}
    )


def test_a_read_while_the_backend_is_unreachable_is_503_until_it_is_back(client: httpx.Client, restored: Proxy) -> None:
    sid = _session(client)
    for name in NAMES:
        assert client.put(_url(sid, name), content=name.encode()).status_code == 201
    restored.cut()
    _assert_unavailable(client.get(_url(sid, NAMES[1])), RETRY_AFTER_UNREACHABLE)
    restored.restore()
    for name in NAMES:
        assert client.get(_url(sid, name)).content == name.encode()


def test_an_upload_cut_half_way_leaves_nothing_and_succeeds_once_the_backend_is_back(
    client: httpx.Client, restored: Proxy
) -> None:
    sid = _session(client)
    name = NAMES[2]
    body = [b"a" * MiB] * 5 + [b"b" * MiB]

    def cut_after_the_first_part() -> Iterator[bytes]:
        before = restored.upstream_bytes
        yield from body[:5]
        # The multipart upload is under way (its first part went to S3); the backend goes away.
        restored.wait_upstream(before + 5 * MiB)
        restored.cut()
        yield body[5]

    _assert_unavailable(client.put(_url(sid, name), content=cut_after_the_first_part()), RETRY_AFTER_UNREACHABLE)
    restored.restore()
    assert client.get(_url(sid, name)).status_code == 404
    assert client.get(f"/v1/sessions/{sid}/files").json()["items"] == []
    assert client.put(_url(sid, name), content=iter(body)).status_code == 201
    assert client.get(_url(sid, name)).content == b"".join(body)


def test_a_throttling_backend_is_503_and_counted(client: httpx.Client, restored: Proxy) -> None:
    sid = _session(client)
    name = NAMES[0]
    assert client.put(_url(sid, name), content=b"hello").status_code == 201
    errors_before = _s3_errors(client, "get_object")
    restored.slow_down()
    answer = client.get(_url(sid, name))
    _assert_unavailable(answer, RETRY_AFTER_BUSY)
    assert "SlowDown" in answer.json()["detail"]
    restored.restore()
    assert client.get(_url(sid, name)).content == b"hello"
    assert _s3_errors(client, "get_object") == errors_before + 1


def test_a_token_past_its_burst_is_429_and_others_are_not(proxied: Proxied) -> None:
    gateway = proxied.gateway
    # A malformed session id is 404 before any S3 call: the limit is all this measures.
    path = "/v1/sessions/nope/files/x.txt"
    with gateway.client("busy ü🙂%") as busy, gateway.client("calm ü🙂%") as calm:
        assert [busy.get(path).status_code for _ in range(BURST)] == [404] * BURST
        refused = busy.get(path)
        assert refused.status_code == 429
        assert refused.json()["type"] == "/problems/rate-limited"
        # 0.01 requests per second: about 100 s until the next one.
        assert 90 <= int(refused.headers["Retry-After"]) <= 100
        assert refused.json()["retry_after"] == int(refused.headers["Retry-After"])
        assert calm.get(path).status_code == 404
        assert busy.get("/healthz").status_code == 200
        # The agents' door counts against the same token, before anything is parsed.
        via_mcp = busy.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert via_mcp.status_code == 429
        assert via_mcp.json()["type"] == "/problems/rate-limited"


def test_buckets_refill_at_the_rate_and_forget_idle_tokens() -> None:
    now = [0.0]
    buckets = TokenBuckets(2.0, 3, clock=lambda: now[0], max_buckets=2)
    assert [buckets.wait_for("a") for _ in range(4)] == [0, 0, 0, 1]
    now[0] += 0.5  # one request back
    assert [buckets.wait_for("a"), buckets.wait_for("a")] == [0, 1]
    assert buckets.wait_for("b") == 0
    now[0] += 1.5  # full again: both idle buckets are forgotten when the next one comes
    assert buckets.wait_for("c") == 0
    assert len(buckets) == 1
    for key in ("d", "e", "f"):
        buckets.wait_for(key)
    assert len(buckets) == 2


def test_the_operations_settings_refuse_what_they_cannot_use() -> None:
    refused = {
        "GATEWAY_RATE_LIMIT_PER_SECOND": ["-1", "nan", "inf", "fast"],
        "GATEWAY_RATE_LIMIT_BURST": ["0", "-3"],
        "GATEWAY_SHUTDOWN_DRAIN_SECONDS": ["-0.5", "nan"],
        "GATEWAY_SHUTDOWN_TIMEOUT_SECONDS": ["0", "1.5"],
        "GATEWAY_LOG_FORMAT": ["xml", "JSON"],
    }
    for name, values in refused.items():
        for value in values:
            with pytest.raises(SettingsError, match=name):
                Settings.from_env({name: value})
    taken = Settings.from_env({"GATEWAY_RATE_LIMIT_PER_SECOND": "2.5", "GATEWAY_LOG_FORMAT": "auto"})
    assert (taken.rate_limit_per_second, taken.rate_limit_burst, taken.log_format) == (2.5, 20, None)
