"""Sustained load on two gateway processes sharing one Ceph RGW bucket, against the same mix sent to RGW directly,
in one run; prints requests per second, latency percentiles and every error.

    .venv/bin/python -m tests.benchmarks.bench_load [--clients 32] [--seconds 30] [--users 16] [--files 20]

Two `session-gateway serve` processes (two replicas, as behind a load balancer) serve one bucket; `--clients`
threads, each with its own keep-alive connection to one of the two (alternating), send a mix for `--seconds`:

- 60% GET of a 4 KiB file (the file chosen at random among the user's `--files`),
- 20% PUT of a 4 KiB file (unconditional, a new version),
- 10% PUT with `If-Match` (read the ETag first from the answer of a HEAD, so two calls),
- 10% listing of the session's files.

Each client acts for one of `--users` users (a token each), each with one session, so the replicas serve several
owners at once. Direct: the same mix with a pooled boto3 client (get_object, put_object, head_object then
put_object (Ceph 16 has no conditional PUT), list_objects_v2). Any answer other than the expected status,
or any exception, counts as an error; the figures are printed with the count of errors by kind. Not collected by
pytest.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.auth.tokens import issue_token
from tests.benchmarks.bench_hot_path import GatewayClient, boto3_pooled
from tests.conftest import Backend, gateway_process, gateway_settings, local_rgw

BODY = os.urandom(4096)
MIX = (("get", 60), ("put", 20), ("put-if-match", 10), ("list", 10))


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, started: float, error: str | None) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            self.latencies.append(elapsed)
            if error is not None:
                self.errors[error] += 1

    def summary(self, seconds: float) -> str:
        ordered = sorted(self.latencies)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")

        errors = sum(self.errors.values())
        detail = ", ".join(f"{kind} x{n}" for kind, n in self.errors.most_common()) or "none"
        return (
            f"{len(ordered) / seconds:8.1f} req/s  p50 {statistics.median(ordered):6.1f} ms  p95 {pct(0.95):6.1f} ms"
            f"  p99 {pct(0.99):6.1f} ms  max {ordered[-1]:7.1f} ms  requests {len(ordered)}  errors {errors} ({detail})"
        )


def _choose(rng: random.Random) -> str:
    return rng.choices([name for name, _ in MIX], weights=[weight for _, weight in MIX])[0]


def _run(clients: int, seconds: float, make: Callable[[int], Callable[[random.Random], str | None]]) -> Tally:
    tally = Tally()
    stop = time.monotonic() + seconds
    workers = [make(i) for i in range(clients)]

    def loop(index: int) -> None:
        rng = random.Random(index)
        work = workers[index]
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                error = work(rng)
            except Exception as exc:  # every failure is a figure here, not a crash of the benchmark
                error = type(exc).__name__
            tally.record(started, error)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--files", type=int, default=20)
    args = parser.parse_args()
    with local_rgw() as backend:
        bucket = backend.new_bucket()
        settings = gateway_settings(backend, bucket)
        with gateway_process(backend, bucket) as (first, _), gateway_process(backend, bucket) as (second, _):
            gateway = _gateway_side(settings, [first, second], args)
            direct = _direct_side(backend, bucket, args)
    print(f"two gateway processes on one RGW, {args.clients} clients, {args.seconds:g} s each side")
    print(f"gateway: {gateway.summary(args.seconds)}")
    print(f"direct:  {direct.summary(args.seconds)}")
    return 0 if not gateway.errors else 1


def _gateway_side(settings: Any, urls: list[str], args: argparse.Namespace) -> Tally:
    users = []
    for u in range(args.users):
        auth = {"Authorization": f"Bearer {issue_token(settings, sub=f'load-{u}-{uuid.uuid4().hex[:6]}')}"}
        setup = GatewayClient(urls[u % 2], auth)
        sid = setup.json("POST", "/v1/sessions", b'{"name": "load \\u00e9t\\u00e9 \\ud83d\\ude80"}')["id"]
        names = [f"/v1/sessions/{sid}/files/d%C3%A9j%C3%A0/f{i}%25.txt" for i in range(args.files)]
        for name in names:
            status, body = setup.call("PUT", name, BODY)
            assert status in (200, 201), body
        users.append((auth, sid, names))

    def make(index: int) -> Callable[[random.Random], str | None]:
        auth, sid, names = users[index % len(users)]
        client = GatewayClient(urls[index % 2], auth)

        def work(rng: random.Random) -> str | None:
            kind, name = _choose(rng), rng.choice(names)
            if kind == "get":
                status, _ = client.call("GET", name)
                return None if status == 200 else f"get {status}"
            if kind == "put":
                status, _ = client.call("PUT", name, BODY)
                return None if status in (200, 201) else f"put {status}"
            if kind == "list":
                status, _ = client.call("GET", f"/v1/sessions/{sid}/files?limit=50")
                return None if status == 200 else f"list {status}"
            response = client.send("HEAD", name)
            response.read()
            etag = response.getheader("ETag") or ""
            status, _ = client.call("PUT", name, BODY, {"If-Match": etag})
            # Another client may have written the file between the HEAD and the PUT: 412 is the right answer then.
            return None if status in (200, 201, 412) else f"put-if-match {status}"

        return work

    return _run(args.clients, args.seconds, make)


def _direct_side(backend: Backend, bucket: str, args: argparse.Namespace) -> Tally:
    s3 = boto3_pooled(backend, args.clients)
    keys = [f"direct/{u}/d\u00e9j\u00e0/f{i}%.txt" for u in range(args.users) for i in range(args.files)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=BODY)

    def make(index: int) -> Callable[[random.Random], str | None]:
        prefix = f"direct/{index % args.users}/"
        mine = [key for key in keys if key.startswith(prefix)]

        def work(rng: random.Random) -> str | None:
            kind, key = _choose(rng), rng.choice(mine)
            if kind == "get":
                s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            elif kind == "put":
                s3.put_object(Bucket=bucket, Key=key, Body=BODY)
            elif kind == "list":
                s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=50)
            else:
                s3.head_object(Bucket=bucket, Key=key)
                s3.put_object(Bucket=bucket, Key=key, Body=BODY)
            return None

        return work

    return _run(args.clients, args.seconds, make)


if __name__ == "__main__":
    sys.exit(main())
