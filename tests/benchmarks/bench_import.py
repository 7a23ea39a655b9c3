"""Import a zip of many small files (and one large one) through the gateway, and put the same files directly to S3
on the same Ceph RGW; print the times and the gateway's memory growth.

    .venv/bin/python -m tests.benchmarks.bench_import [--files 3000] [--size-kib 4] [--large-mib 256]

The archive is written to a temporary file and streamed from it. Direct S3 puts the same files with boto3, four
at a time (as many as the import uploads at once). Starts the local RGW when none answers (and stops it
afterwards), and runs the gateway as its own process so its resident memory can be read from /proc. The bucket is
removed afterwards: the local RGW keeps objects in memory (`bash deploy/rgw/local-rgw.sh gc` frees the space of
deleted ones at once). Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from gateway.auth.tokens import issue_token
from tests.benchmarks.bench_streaming import _rss_kib
from tests.conftest import Backend, gateway_process, gateway_settings, local_rgw

MiB = 1024 * 1024


def _archive(path: Path, files: int, size: int, large: int) -> list[tuple[str, bytes | None]]:
    """Write the archive; returns (name, bytes) per file (None for the large one, made again when put)."""
    listed: list[tuple[str, bytes | None]] = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for n in range(files):
            name = f"notes/{n // 100:03}/été {n} 🎉.txt"
            data = os.urandom(size // 2).hex().encode()[:size]
            archive.writestr(name, data)
            listed.append((name, data))
        if large:
            with archive.open("big/large.bin", "w", force_zip64=True) as out:
                block = os.urandom(MiB)
                for _ in range(large // MiB):
                    out.write(block)
            listed.append(("big/large.bin", None))
    return listed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--size-kib", type=int, default=4)
    parser.add_argument("--large-mib", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, local_rgw() as backend:
        _measure(backend, Path(scratch) / "import.zip", args.files, args.size_kib * 1024, args.large_mib * MiB)
    return 0


def _purge(backend: Backend, bucket: str) -> None:
    """Remove the bucket: the local RGW keeps objects in memory, and other people's tests share it."""
    s3 = backend.client()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        batch = [
            {"Key": entry["Key"], "VersionId": entry["VersionId"]}
            for name in ("Versions", "DeleteMarkers")
            for entry in page.get(name, [])
        ]
        if batch:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    s3.delete_bucket(Bucket=bucket)


def _measure(backend: Backend, path: Path, files: int, size: int, large: int) -> None:
    listed = _archive(path, files, size, large)
    bucket = backend.new_bucket()
    try:
        _compare(backend, bucket, path, listed, files, size, large)
    finally:
        _purge(backend, bucket)


def _compare(
    backend: Backend, bucket: str, path: Path, listed: list[tuple[str, bytes | None]], files: int, size: int, large: int
) -> None:
    settings = gateway_settings(backend, bucket)
    with gateway_process(backend, bucket, GATEWAY_IMPORT_MAX_ENTRIES=str(files + 10)) as (url, process):
        token = issue_token(settings, sub="bench")
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=3600)
        sid = client.post("/v1/sessions", json={}).json()["id"]
        before, _ = _rss_kib(process.pid)
        t0 = time.perf_counter()
        with path.open("rb") as body:
            response = client.post(
                f"/v1/sessions/{sid}/import", content=body, headers={"Content-Type": "application/zip"}
            )
        gateway_seconds = time.perf_counter() - t0
        assert response.status_code == 201, response.text[:2000]
        assert len(response.json()["imported"]) == len(listed)
        _, peak = _rss_kib(process.pid)

    s3 = backend.client()
    block = os.urandom(MiB)

    def put(item: tuple[str, bytes | None]) -> None:
        name, data = item
        body = data if data is not None else block * (large // MiB)
        s3.put_object(Bucket=bucket, Key=f"direct/{name}", Body=body)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, listed))
    direct_seconds = time.perf_counter() - t0

    print(f"{files} files of {size} bytes and one of {large // MiB} MiB; archive {path.stat().st_size / MiB:.1f} MiB")
    print(f"Ceph RGW at {backend.endpoint}")
    print(f"{'path':<28}{'seconds':>10}{'files/s':>10}")
    print(f"{'gateway import':<28}{gateway_seconds:>10.1f}{len(listed) / gateway_seconds:>10.0f}")
    print(f"{'direct put_object x4':<28}{direct_seconds:>10.1f}{len(listed) / direct_seconds:>10.0f}")
    print(f"gateway RSS: {before / 1024:.0f} MiB before, peak {peak / 1024:.0f} MiB ({(peak - before) / 1024:+.0f})")


if __name__ == "__main__":
    raise SystemExit(main())
