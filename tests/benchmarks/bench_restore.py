"""Restoring a session of many small files to a moment, through the gateway, against bringing the same versions
back by hand with bare S3 calls to the same Ceph RGW.

    .venv/bin/python -m tests.benchmarks.bench_restore [--files 1000] [--size-kib 1]

Every file is written twice; the restore brings the first versions back. The gateway's restore walks the history
as of the moment and the current files (judged by retention), takes a `before-restore` snapshot (a protected copy
of each file and a manifest), then copies each old version back through the write step, conditional on the version
it replaces. The direct figure is one ListObjectVersions walk and one `copy_object` per file, 16 at a time, without
snapshot, judgement or conditions. Starts the local RGW when none answers (and stops it afterwards). Not collected
by pytest.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx

from gateway.auth.tokens import issue_token
from gateway.wire import iso
from tests.conftest import Backend, gateway_process, gateway_settings, local_rgw

PARALLEL = 16


def _seconds(work: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    work()
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--size-kib", type=int, default=1)
    args = parser.parse_args()
    with local_rgw() as backend:
        _measure(backend, args.files, args.size_kib * 1024)
    return 0


def _measure(backend: Backend, count: int, size: int) -> None:
    bucket = backend.new_bucket()
    settings = gateway_settings(backend, bucket)
    s3 = backend.client()
    names = [f"{index:05d} é🎉.bin" for index in range(count)]
    first, second = os.urandom(size), os.urandom(size)
    with gateway_process(backend, bucket) as (url, _), ThreadPoolExecutor(PARALLEL) as pool:
        token = issue_token(settings, sub="bench")
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=600)
        sid = client.post("/v1/sessions", json={}).json()["id"]

        def fill(body: bytes) -> None:
            list(pool.map(lambda n: client.put(f"/v1/sessions/{sid}/files/{n}", content=body), names))
            list(pool.map(lambda n: s3.put_object(Bucket=bucket, Key=f"direct/{n}", Body=body), names))

        fill(first)
        time.sleep(1.1)  # S3 dates versions; the moment must fall between the two writes (moto: to the second)
        moment = iso(datetime.now(UTC))
        time.sleep(1.1)
        fill(second)

        def call(route: str, payload: dict[str, Any]) -> dict[str, Any]:
            response = client.post(f"/v1/sessions/{sid}/{route}", json=payload)
            assert response.status_code == 200, response.text
            found: dict[str, Any] = response.json()
            return found

        def restore() -> None:
            done = call("restore", {"at": moment})
            assert done["counts"]["restore"] == count and done["complete"], done["counts"]

        def direct() -> None:
            oldest: dict[str, str] = {}
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="direct/"):
                for item in page.get("Versions", []):
                    if item["LastModified"] <= datetime.fromisoformat(moment):
                        oldest[item["Key"]] = item["VersionId"]
            assert len(oldest) == count

            def one(key: str) -> None:
                s3.copy_object(
                    Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key, "VersionId": oldest[key]}
                )

            list(pool.map(one, oldest))

        rows = [
            ("gateway restore, dry run", _seconds(lambda: call("restore", {"at": moment, "dry_run": True}))),
            ("gateway restore (snapshot + copies)", _seconds(restore)),
            ("gateway restore again (nothing to do)", _seconds(lambda: call("restore", {"at": moment}))),
            ("direct list versions + copy_object", _seconds(direct)),
            ("gateway snapshot (named)", _seconds(
                lambda: client.post(f"/v1/sessions/{sid}/snapshots", json={"name": "bench"}).raise_for_status())),
        ]  # fmt: skip
        fill(second)
        rows.append(("gateway snapshot restore", _seconds(lambda: call("snapshots/bench/restore", {}))))
    print(f"{count} files of {size} bytes, {PARALLEL} at a time, Ceph RGW at {backend.endpoint}")
    print(f"{'operation':<42}{'seconds':>10}{'files/s':>10}")
    for name, seconds in rows:
        print(f"{name:<42}{seconds:>10.2f}{count / seconds:>10.0f}")


if __name__ == "__main__":
    raise SystemExit(main())
