"""GET /metrics: requests by route template and status, S3 calls by operation, bytes; never what a user named."""

from __future__ import annotations

import unicodedata
from collections import Counter
from urllib.parse import quote

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gateway.telemetry.metrics import UNMATCHED
from tests.conftest import Gateway

FILES = "/v1/sessions/{sid}/files/{path}"
NAMES = ["naïve résumé.txt", unicodedata.normalize("NFD", "crème.txt"), "🚀/launch 🙂.txt", "100% sure%2F.txt"]


def _samples(api: httpx.Client) -> tuple[Counter[tuple[str, frozenset[tuple[str, str]]]], str]:
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found: Counter[tuple[str, frozenset[tuple[str, str]]]] = Counter()
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] += sample.value
    return found, response.text


def _delta(
    after: Counter[tuple[str, frozenset[tuple[str, str]]]],
    before: Counter[tuple[str, frozenset[tuple[str, str]]]],
    name: str,
    **labels: str,
) -> float:
    key = (name, frozenset(labels.items()))
    return after[key] - before[key]


def test_metrics_count_requests_by_route_template_s3_calls_and_bytes(gateway: Gateway) -> None:
    user = "métrics ü🙂 100%"
    with gateway.client(user) as api:
        before, _ = _samples(api)
        sid = api.post("/v1/sessions", json={"name": "secret-session-name"}).json()["id"]
        sizes = 0
        for name in NAMES:
            body = name.encode() * 100
            sizes += len(body)
            assert api.put(f"/v1/sessions/{sid}/files/{quote(name)}", content=body).status_code == 201
            assert api.get(f"/v1/sessions/{sid}/files/{quote(name)}").content == body
        assert api.get(f"/v1/sessions/{sid}/files/{quote('missing ü.txt')}").status_code == 404
        assert api.get("/no/such/route/alice").status_code == 404
        after, text = _samples(api)

    put = {"method": "PUT", "route": FILES}
    assert _delta(after, before, "gateway_http_requests_total", status="201", **put) == len(NAMES)
    assert _delta(after, before, "gateway_http_requests_total", method="GET", route=FILES, status="200") == len(NAMES)
    assert _delta(after, before, "gateway_http_requests_total", method="GET", route=FILES, status="404") == 1
    assert _delta(after, before, "gateway_http_requests_total", method="GET", route=UNMATCHED, status="404") == 1
    assert _delta(after, before, "gateway_http_requests_total", method="POST", route="/v1/sessions", status="201") == 1
    assert _delta(after, before, "gateway_http_request_duration_seconds_count", **put) == len(NAMES)
    assert _delta(after, before, "gateway_http_received_bytes_total", route=FILES) == sizes
    assert _delta(after, before, "gateway_http_sent_bytes_total", route=FILES) > sizes
    # Each upload is one PutObject and each read one GetObject, beside the calls that look at the key's history.
    assert _delta(after, before, "gateway_s3_requests_total", operation="put_object") >= len(NAMES)
    assert _delta(after, before, "gateway_s3_requests_total", operation="get_object") >= 2 * len(NAMES)
    assert _delta(after, before, "gateway_s3_request_duration_seconds_count", operation="put_object") >= len(NAMES)
    assert _delta(after, before, "gateway_s3_errors_total", operation="get_object", error="not-found") >= 1
    assert after[("gateway_streams_in_progress", frozenset({("direction", "upload")}))] == 0
    # Route templates only: nothing a user named reaches a label.
    for named in [user, sid, "secret-session-name", "alice", "missing", *NAMES, *(quote(n) for n in NAMES)]:
        assert named not in text
    for word in ("naïve", "crème", unicodedata.normalize("NFD", "crème"), "🚀", "launch", "100%"):
        assert word not in text
