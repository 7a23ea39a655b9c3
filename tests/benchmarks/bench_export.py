"""Exports against direct S3 on the same Ceph RGW: a zip of 1,000 small files and a zip of one large file. Prints
the time to the first byte, throughput beside raw GETs of the same bytes straight from S3, and the gateway's memory
growth while it zips (goal: under 64 MiB).

    .venv/bin/python -m tests.benchmarks.bench_export [--files 1000] [--large-mib 256]

`BENCH_EXPORT_LARGE_MIB` sets the large file's size too (2048 for the 2 GiB run in docs/performance.md). Starts the
local RGW when none answers (and stops it afterwards), runs the gateway as its own process so that its resident
memory can be read from /proc, and checks every zip it measures. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from gateway.auth.tokens import issue_token
from gateway.keys import Owner
from gateway.settings import Settings
from tests.benchmarks.bench_streaming import _blocks, _empty, _expected_digest, _rss_kib
from tests.conftest import Backend, bucket_owner_key, gateway_process, gateway_settings, local_rgw

MiB = 1024 * 1024
SMALL_MAX = 8 * 1024
MEMORY_GOAL_MIB = 64


def _reset_peak(pid: int) -> None:
    """Start the process's peak resident set (VmHWM) afresh, so it shows the zipping alone, not the uploads."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _timed_zip(client: httpx.Client, url: str, sink: Any) -> tuple[float, float, int]:
    """(seconds to the first byte, seconds in all, bytes) of one streamed download, written to `sink`."""
    started = time.perf_counter()
    first = None
    size = 0
    with client.stream("GET", url) as response:
        assert response.status_code == 200, response.read()
        for chunk in response.iter_raw():
            if first is None:
                first = time.perf_counter() - started
            sink.write(chunk)
            size += len(chunk)
    assert first is not None
    return first, time.perf_counter() - started, size


def _direct_reads(backend: Backend, bucket: str, keys: list[str], *, threads: int) -> tuple[float, float, int]:
    """(seconds to the first byte, seconds in all, bytes) of GETs straight from S3, `threads` at a time."""
    s3 = backend.client()
    started = time.perf_counter()
    firsts: list[float] = []

    def read(key: str, sink: Any) -> int:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        count = 0
        for chunk in body.iter_chunks(1024 * 1024):
            if not firsts:
                firsts.append(time.perf_counter() - started)
            sink.write(chunk)  # as the zip is written: the same work for the client on both sides
            count += len(chunk)
        return count

    with tempfile.TemporaryFile() as sink, ThreadPoolExecutor(threads) as pool:
        size = sum(pool.map(lambda key: read(key, sink), keys))
    return firsts[0], time.perf_counter() - started, size


def _row(name: str, first: float, total: float, size: int) -> str:
    return f"{name:<34}{first * 1000:>12.1f}{total:>10.2f}{size / 1_000_000 / total:>10.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--large-mib", type=int, default=int(os.environ.get("BENCH_EXPORT_LARGE_MIB", "256")))
    args = parser.parse_args()
    with local_rgw() as backend:
        bucket = backend.new_bucket()
        limit = str(args.large_mib * MiB + 64 * MiB)
        settings = gateway_settings(backend, bucket, GATEWAY_MAX_UPLOAD_BYTES=limit)
        try:
            with gateway_process(backend, bucket, GATEWAY_MAX_UPLOAD_BYTES=limit) as (url, process):
                return _measure(backend, settings, bucket, url, process.pid, args.files, args.large_mib * MiB)
        finally:
            _empty(backend, bucket)


def _measure(backend: Backend, settings: Settings, bucket: str, url: str, pid: int, count: int, large: int) -> int:
    token = issue_token(settings, sub="bench")
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=3600)
    owner = Owner(settings.key_root, None, "bench", bucket_owner_key(backend, settings))

    # Many small files, written through the gateway (so they carry their tier and SHA-256, as real files do).
    many = client.post("/v1/sessions", json={"name": "many"}).json()["id"]
    files = {f"batch/{i // 100:02d}/file é {i:04d}.txt": os.urandom(1 + (i * 7919) % SMALL_MAX) for i in range(count)}

    def put(item: tuple[str, bytes]) -> None:
        response = client.put(f"/v1/sessions/{many}/files/{quote(item[0])}", content=item[1])
        assert response.status_code == 201, response.text

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, files.items()))
    big = client.post("/v1/sessions", json={"name": "large"}).json()["id"]
    response = client.put(
        f"/v1/sessions/{big}/files/large.bin", content=_blocks(large), headers={"Content-Length": str(large)}
    )
    assert response.status_code == 201, response.text

    # Warm the export path, then measure from a fresh peak.
    client.get(f"/v1/sessions/{many}/export.zip", params={"prefix": "batch/00/"}).raise_for_status()
    baseline, _ = _rss_kib(pid)
    _reset_peak(pid)

    with tempfile.TemporaryFile() as sink:
        many_first, many_total, many_size = _timed_zip(client, f"/v1/sessions/{many}/export.zip", sink)
        sink.seek(0)
        with zipfile.ZipFile(sink) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            assert len(manifest["files"]) == count
            for entry in manifest["files"]:
                data = archive.read(entry["path"])
                assert data == files[entry["path"]] and hashlib.sha256(data).hexdigest() == entry["sha256"]
    with tempfile.TemporaryFile() as sink:
        large_first, large_total, large_size = _timed_zip(client, f"/v1/sessions/{big}/export.zip", sink)
        _, peak = _rss_kib(pid)
        sink.seek(0)
        with zipfile.ZipFile(sink) as archive:
            entry = json.loads(archive.read("manifest.json"))["files"][0]
            assert entry["sha256"] == _expected_digest(large) and archive.getinfo("large.bin").file_size == large
            if large >= 4 * 1024 * MiB:
                assert archive.getinfo("large.bin").extra  # Zip64

    with tempfile.TemporaryFile() as sink:
        plain = _timed_zip(client, f"/v1/sessions/{big}/files/large.bin", sink)

    keys = [owner.session(many).file(path) for path in sorted(files)]
    direct_many = _direct_reads(backend, bucket, keys, threads=8)
    direct_large = _direct_reads(backend, bucket, [owner.session(big).file("large.bin")], threads=1)

    print(
        f"Ceph RGW at {backend.endpoint}; {count} files of 1 B to {SMALL_MAX // 1024} KiB; one of {large / MiB:.0f} MiB"
    )
    print(f"{'':<34}{'first byte ms':>12}{'seconds':>10}{'MB/s':>10}")
    print(_row(f"export.zip, {count} files", many_first, many_total, many_size))
    print(_row(f"direct GETs, {count} files, 8 at once", *direct_many))
    print(_row(f"export.zip, {large / MiB:.0f} MiB file", large_first, large_total, large_size))
    print(_row("GET of the file through the gateway", *plain))
    print(_row(f"direct GET, {large / MiB:.0f} MiB file", *direct_large))
    print(f"files per second through export.zip: {count / many_total:.0f}")
    growth = (peak - baseline) / 1024
    print(f"gateway RSS: baseline {baseline / 1024:.1f} MiB, peak while zipping {peak / 1024:.1f} MiB")
    print(f"gateway RSS growth while zipping: {growth:.1f} MiB (goal: under {MEMORY_GOAL_MIB} MiB)")
    return 0 if growth < MEMORY_GOAL_MIB else 1


if __name__ == "__main__":
    raise SystemExit(main())
