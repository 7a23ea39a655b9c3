"""Stream a large file through the gateway and directly to S3 on the same Ceph RGW; print throughput and the
gateway's memory growth.

    .venv/bin/python -m tests.benchmarks.bench_streaming [--size-mib 1024]

Starts the local RGW when none answers (and stops it afterwards), and runs the gateway as its own process so its
resident memory can be read from /proc. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from boto3.s3.transfer import TransferConfig

from gateway.auth.tokens import issue_token
from gateway.settings import Settings
from tests.conftest import Backend, gateway_process, gateway_settings, local_rgw

MiB = 1024 * 1024
BLOCK = os.urandom(8 * MiB)
# The gateway's own part size, so both paths send the same number of parts.
PART = 8 * MiB


def _blocks(size: int) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        chunk = BLOCK[: min(len(BLOCK), size - sent)]
        sent += len(chunk)
        yield chunk


class BlockReader(io.RawIOBase):
    """A file-like view of the same bytes, for boto3."""

    def __init__(self, size: int) -> None:
        self._blocks = _blocks(size)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                self._pending = next(self._blocks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _rss_kib(pid: int) -> tuple[int, int]:
    """(current, peak) resident set size of a process, in KiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def _expected_digest(size: int) -> str:
    digest = hashlib.sha256()
    for block in _blocks(size):
        digest.update(block)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mib * MiB

    with local_rgw() as backend:
        return _run(backend, size)


def _run(backend: Backend, size: int) -> int:
    bucket = backend.new_bucket()
    settings = gateway_settings(backend, bucket, GATEWAY_MAX_UPLOAD_BYTES=str(size + MiB))
    try:
        with gateway_process(backend, bucket, GATEWAY_MAX_UPLOAD_BYTES=str(size + MiB)) as (url, process):
            return _measure(backend, settings, bucket, url, process.pid, size)
    finally:
        _empty(backend, bucket)


def _measure(backend: Backend, settings: Settings, bucket: str, url: str, pid: int, size: int) -> int:
    token = issue_token(settings, sub="bench")
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=600)
    sid = client.post("/v1/sessions", json={}).json()["id"]
    # Warm up connections and code paths, then take the baseline.
    client.put(f"/v1/sessions/{sid}/files/warm", content=b"x" * MiB)
    client.get(f"/v1/sessions/{sid}/files/warm")
    baseline, _ = _rss_kib(pid)

    t0 = time.perf_counter()
    response = client.put(
        f"/v1/sessions/{sid}/files/big.bin", content=_blocks(size), headers={"Content-Length": str(size)}
    )
    upload_s = time.perf_counter() - t0
    assert response.status_code == 201, response.text
    _, peak_after_upload = _rss_kib(pid)

    digest = hashlib.sha256()
    t0 = time.perf_counter()
    with client.stream("GET", f"/v1/sessions/{sid}/files/big.bin") as download:
        for chunk in download.iter_bytes(1024 * 1024):
            digest.update(chunk)
    download_s = time.perf_counter() - t0
    current, peak = _rss_kib(pid)
    expected = _expected_digest(size)
    assert digest.hexdigest() == expected, "the download differs from the upload"

    s3 = backend.client()
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=2)
    t0 = time.perf_counter()
    s3.upload_fileobj(BlockReader(size), bucket, "direct/big.bin", Config=config)
    direct_up_s = time.perf_counter() - t0
    direct = hashlib.sha256()
    t0 = time.perf_counter()
    body = s3.get_object(Bucket=bucket, Key="direct/big.bin")["Body"]
    for chunk in body.iter_chunks(1024 * 1024):
        direct.update(chunk)
    direct_down_s = time.perf_counter() - t0
    assert direct.hexdigest() == expected

    mb = size / 1_000_000
    print(f"file size: {size / MiB:.0f} MiB on Ceph RGW at {backend.endpoint}")
    print(f"{'path':<28}{'upload MB/s':>14}{'download MB/s':>16}")
    print(f"{'through the gateway':<28}{mb / upload_s:>14.1f}{mb / download_s:>16.1f}")
    print(f"{'direct boto3':<28}{mb / direct_up_s:>14.1f}{mb / direct_down_s:>16.1f}")
    print(f"gateway RSS: baseline {baseline / 1024:.1f} MiB, peak during upload {peak_after_upload / 1024:.1f} MiB, ")
    print(f"             peak overall {peak / 1024:.1f} MiB, now {current / 1024:.1f} MiB")
    print(f"gateway RSS growth (peak - baseline): {(peak - baseline) / 1024:.1f} MiB (goal: under 100 MiB)")
    return 0


def _empty(backend: Backend, bucket: str) -> None:
    """The local RGW keeps objects in memory: give the gigabytes back."""
    s3 = backend.client()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
    s3.delete_bucket(Bucket=bucket)


if __name__ == "__main__":
    raise SystemExit(main())
