"""Copying, moving and forking a folder of small files through the gateway, against bare server-side copies sent
straight to the same Ceph RGW.

    .venv/bin/python -m tests.benchmarks.bench_moving [--files 200] [--size-kib 1]

The gateway's copy of a file is a look at the target, the copy, a read-back, a re-tag where the backend drops tags
and a settle listing (docs/architecture.md, "S3 calls per operation"); the direct figures are one `copy_object`
per file (and a `delete_object` for a move), 16 at a time like the gateway, with none of those checks. Starts the
local RGW when none answers (and stops it afterwards). Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from gateway.auth.tokens import issue_token
from tests.conftest import Backend, gateway_process, gateway_settings, local_rgw

PARALLEL = 16


def _seconds(work: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    work()
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--size-kib", type=int, default=1)
    args = parser.parse_args()
    with local_rgw() as backend:
        _measure(backend, args.files, os.urandom(args.size_kib * 1024))
    return 0


def _measure(backend: Backend, count: int, body: bytes) -> None:
    bucket = backend.new_bucket()
    settings = gateway_settings(backend, bucket)
    s3 = backend.client()
    names = [f"{index:05d} é🎉.bin" for index in range(count)]
    with gateway_process(backend, bucket) as (url, _), ThreadPoolExecutor(PARALLEL) as pool:
        token = issue_token(settings, sub="bench")
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=600)
        sid = client.post("/v1/sessions", json={}).json()["id"]
        other = client.post("/v1/sessions", json={}).json()["id"]
        list(pool.map(lambda n: client.put(f"/v1/sessions/{sid}/files/src/{n}", content=body), names))
        list(pool.map(lambda n: s3.put_object(Bucket=bucket, Key=f"direct/src/{n}", Body=body), names))

        def call(route: str, payload: dict[str, Any], status: int = 200) -> None:
            response = client.post(f"/v1/sessions/{sid}/{route}", json=payload)
            assert response.status_code == status, response.text

        def direct_copy(prefix: str, *, delete: bool = False) -> None:
            def one(name: str) -> None:
                source = {"Bucket": bucket, "Key": f"direct/src/{name}"}
                s3.copy_object(Bucket=bucket, Key=f"direct/{prefix}/{name}", CopySource=source)
                if delete:
                    s3.delete_object(Bucket=bucket, Key=f"direct/src/{name}")

            list(pool.map(one, names))

        again = {"from": "src/", "to": "copy/", "overwrite": True}
        rows = [
            ("gateway fork (now)", _seconds(lambda: call("fork", {}, 201))),  # first: the session holds `count` files
            ("gateway copy (folder)", _seconds(lambda: call("copy", {"from": "src/", "to": "copy/"}))),
            ("gateway copy, overwrite", _seconds(lambda: call("copy", again))),
            ("direct copy_object", _seconds(lambda: direct_copy("copy"))),
            ("gateway move to another session", _seconds(
                lambda: call("move", {"from": "src/", "to": "moved/", "to_session": other}))),
            ("direct copy_object + delete_object", _seconds(lambda: direct_copy("moved", delete=True))),
        ]  # fmt: skip
    print(f"{count} files of {len(body)} bytes, {PARALLEL} at a time, Ceph RGW at {backend.endpoint}")
    print(f"{'operation':<40}{'seconds':>10}{'files/s':>10}")
    for name, seconds in rows:
        print(f"{name:<40}{seconds:>10.2f}{count / seconds:>10.0f}")


if __name__ == "__main__":
    raise SystemExit(main())
