"""Reading the past through the gateway, against the S3 calls a client would make itself on the same Ceph RGW.

    .venv/bin/python -m tests.benchmarks.bench_past [--files 1000] [--reads 50] [--limit 100]

A session of `--files` small files, each written twice, a tenth deleted afterwards; the moment read is between the
two writes. Measured:
- one file at the moment (`GET ...?at=`): the gateway lists the key's history, reads the chosen version's tags (the
  retention judge) and streams it; direct: `list_object_versions` of the key and `get_object` of the version
  chosen by time (no retention judged). Medians of `--reads` reads, one at a time, and the read of now beside them;
- the whole listing at the moment, `--limit` entries a page, with and without `delimiter=/` (files in 10 folders),
  against the listing of now and a direct walk of `list_object_versions`;
- the gateway's resident memory (VmHWM, the peak) before and after the listings: flat, whatever the session holds.

Starts the local RGW when none answers (and stops it afterwards). Not collected by pytest.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from gateway.auth.tokens import issue_token
from tests.conftest import Backend, gateway_process, gateway_settings, local_rgw

PARALLEL = 16


def _seconds(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=50)
    parser.add_argument("--limit", type=int, default=100)
    args = parser.parse_args()
    with local_rgw() as backend:
        _measure(backend, args.files, args.reads, args.limit)
    return 0


def _measure(backend: Backend, count: int, reads: int, limit: int) -> None:
    bucket = backend.new_bucket()
    settings = gateway_settings(backend, bucket)
    s3 = backend.client()
    names = [f"dossier {index % 10}/{index:05d} é🎉 100%.txt" for index in range(count)]
    with gateway_process(backend, bucket) as (url, process), ThreadPoolExecutor(PARALLEL) as pool:
        token = issue_token(settings, sub="bench")
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=600)
        sid = client.post("/v1/sessions", json={}).json()["id"]
        files = f"/v1/sessions/{sid}/files"

        def write(name: str, body: bytes) -> None:
            assert client.put(f"{files}/{quote(name)}", content=body).status_code in (200, 201)

        list(pool.map(lambda name: write(name, b"first " + name.encode()), names))
        # The moment: the last of the first writes, as S3 dated them (Ceph RGW: to the millisecond).
        moment = max(item["last_modified"] for item in _listing(client, files))
        then = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        list(pool.map(lambda name: write(name, b"second " + name.encode()), names))
        list(pool.map(lambda name: client.delete(f"{files}/{quote(name)}"), names[::10]))
        key = _key_of(s3, bucket, names[1])

        def gateway_get(at: str | None) -> None:
            response = client.get(f"{files}/{quote(names[1])}", params={"at": at} if at else {})
            assert response.status_code == 200

        def direct_get() -> None:
            entries = s3.list_object_versions(Bucket=bucket, Prefix=key)
            chosen = max(
                (v for v in entries.get("Versions", []) if v["Key"] == key and v["LastModified"] <= then),
                key=lambda v: v["LastModified"],
            )
            s3.get_object(Bucket=bucket, Key=key, VersionId=chosen["VersionId"])["Body"].read()

        latencies = {
            "GET ?at= (gateway)": [_seconds(lambda: gateway_get(moment)) for _ in range(reads)],
            "GET now (gateway)": [_seconds(lambda: gateway_get(None)) for _ in range(reads)],
            "list_object_versions + get_object (direct)": [_seconds(direct_get) for _ in range(reads)],
        }
        before = _peak_kib(process.pid)

        def walk(**params: str) -> int:
            shown, cursor = 0, None
            while True:
                query = {**params, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
                page = client.get(files, params=query).json()
                shown += len(page["items"]) + len(page["prefixes"])
                cursor = page["next_cursor"]
                if cursor is None:
                    return shown

        def direct_walk() -> None:
            prefix = key.rsplit("/f/", 1)[0] + "/f/"
            for _ in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
                pass

        walks = [
            ("listing ?at= (gateway)", _seconds(lambda: walk(at=moment))),
            ("listing ?at=&delimiter=/ (gateway)", _seconds(lambda: walk(at=moment, delimiter="/"))),
            ("listing now (gateway)", _seconds(lambda: walk())),
            ("list_object_versions pages (direct)", _seconds(direct_walk)),
        ]
        after = _peak_kib(process.pid)
    print(f"{count} files written twice, a tenth deleted; Ceph RGW at {backend.endpoint}")
    print(f"{'one file':<46}{'median ms':>10}{'p90 ms':>10}")
    for name, seconds in latencies.items():
        ordered = sorted(seconds)
        p90 = ordered[int(len(ordered) * 0.9) - 1]
        print(f"{name:<46}{statistics.median(seconds) * 1000:>10.1f}{p90 * 1000:>10.1f}")
    print(f"{'the whole listing, ' + str(limit) + ' a page':<46}{'seconds':>10}")
    for name, taken in walks:
        print(f"{name:<46}{taken:>10.2f}")
    print(f"gateway resident peak: {before / 1024:.0f} MiB before the listings, {after / 1024:.0f} MiB after")


def _listing(client: httpx.Client, files: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get(files, params={"limit": "1000", **({"cursor": cursor} if cursor else {})}).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def _key_of(s3: Any, bucket: str, name: str) -> str:
    """The key of a session file, found in the bucket (the benchmark does not rebuild the owner's opaque segments)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/f/" + name):
                return str(item["Key"])
    raise LookupError(name)


if __name__ == "__main__":
    raise SystemExit(main())
