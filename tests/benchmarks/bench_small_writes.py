"""Latency of small writes and reads through the gateway and directly to S3 on the same Ceph RGW.

    .venv/bin/python -m tests.benchmarks.bench_small_writes [--count 200] [--size-kib 1]

Measures, one request at a time: an unconditional PUT, a conditional PUT (`If-Match`, which adds the checks
described in docs/architecture.md), a GET and a session metadata PATCH through the gateway, against a direct
boto3 `put_object` and `get_object`. Starts the local RGW when none answers (and stops it afterwards). Not
collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import httpx

from gateway.auth.tokens import issue_token
from tests.conftest import Backend, gateway_process, gateway_settings, local_rgw


def _timed(count: int, operation: Callable[[int], None]) -> list[float]:
    """Milliseconds per call of `operation(i)`, after two untimed warm-up calls."""
    for i in range(2):
        operation(-1 - i)
    timings = []
    for i in range(count):
        t0 = time.perf_counter()
        operation(i)
        timings.append((time.perf_counter() - t0) * 1000)
    return timings


def _row(name: str, timings: list[float]) -> str:
    ordered = sorted(timings)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)))]
    return f"{name:<36}{statistics.median(ordered):>10.1f}{p95:>10.1f}{1000 / statistics.mean(ordered):>10.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size-kib", type=int, default=1)
    args = parser.parse_args()

    with local_rgw() as backend:
        _measure(backend, args.count, os.urandom(args.size_kib * 1024))
    return 0


def _measure(backend: Backend, count: int, body: bytes) -> None:
    bucket = backend.new_bucket()
    settings = gateway_settings(backend, bucket)
    s3 = backend.client()
    with gateway_process(backend, bucket) as (url, _):
        token = issue_token(settings, sub="bench")
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        sid = client.post("/v1/sessions", json={}).json()["id"]
        files = f"/v1/sessions/{sid}/files"
        etag = [client.put(f"{files}/conditional.bin", content=body).json()["etag"]]

        def conditional(i: int) -> None:
            # A distinct body each time, so every ETag differs from the one before.
            response = client.put(
                f"{files}/conditional.bin", content=body + str(i).encode(), headers={"If-Match": etag[0]}
            )
            assert response.status_code == 200, response.text
            etag[0] = response.json()["etag"]

        def put(i: int) -> None:
            assert client.put(f"{files}/plain-{i}.bin", content=body).status_code == 201

        def get(i: int) -> None:
            assert client.get(f"{files}/conditional.bin").status_code == 200

        def patch(i: int) -> None:
            assert client.patch(f"/v1/sessions/{sid}", json={"metadata": {"n": i}}).status_code == 200

        def direct_put(i: int) -> None:
            s3.put_object(Bucket=bucket, Key=f"direct/plain-{i}.bin", Body=body)

        def direct_get(i: int) -> None:
            s3.get_object(Bucket=bucket, Key="direct/plain-0.bin")["Body"].read()

        rows = [
            ("gateway PUT (new file)", _timed(count, put)),
            ("gateway PUT with If-Match", _timed(count, conditional)),
            ("gateway GET", _timed(count, get)),
            ("gateway session PATCH", _timed(count, patch)),
            ("direct put_object", _timed(count, direct_put)),
            ("direct get_object", _timed(count, direct_get)),
        ]
    print(f"{count} requests each, one at a time, {len(body)} bytes, Ceph RGW at {backend.endpoint}")
    print(f"{'operation':<36}{'median ms':>10}{'p95 ms':>10}{'ops/s':>10}")
    for name, timings in rows:
        print(_row(name, timings))


if __name__ == "__main__":
    raise SystemExit(main())
