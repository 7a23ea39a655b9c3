"""The hot path through the gateway against direct boto3 on the same Ceph RGW, in one run; prints each measure
with its ratio and goal.

    .venv/bin/python -m tests.benchmarks.bench_hot_path [--workers 2] [--count 200] [--clients 32]
        [--seconds 8] [--rounds 3] [--stream-mib 256] [--rss-mib 1024] [--only get-4k,get-1m,...] [--profile DIR]

Uses the local RGW when one answers, otherwise starts it (and stops it afterwards). The gateway runs as its own
process(es), `session-gateway serve --workers N`. Clients, chosen to be what a caller would use:
- the gateway's client is a keep-alive `http.client` connection per thread: the HTTP layer boto3 itself uses
  (through urllib3), so both paths pay the same for HTTP (`httpx` alone adds about 5 ms to a 1 MiB GET here);
- latencies: one request at a time, 200 times after a warm-up, gateway and direct in turns so that both meet the
  same load from anything else on the machine; direct: one boto3 client;
- concurrency: 32 threads, each with its own connection to the gateway, or sharing one boto3 client with 32
  pooled connections (direct); `--seconds` per side in all, split over `--rounds` turns (median reported);
- streams: 1 MiB pieces sent (with a `Content-Length`, and without one, chunked) and read; direct: boto3's
  `upload_fileobj` (8 MiB parts, two threads: the gateway's own part size and parts in flight) and a streamed
  `get_object` read in 1 MiB pieces; `--rounds` turns each, median reported;
- memory: the resident set of the gateway's serving processes (`VmRSS` before, the `VmHWM` peak after, from
  /proc) while a file of `--rss-mib` is uploaded and downloaded.

The last column is the gateway's own CPU time (its processes' user and system time from /proc) per request or
per GB, and for streams how busy the machine's CPUs were during each side. `--profile DIR` records each measure's
gateway CPU with py-spy (`DIR/<measure>.txt`, folded stacks; needs py-spy
and the right to trace the gateway), and prints the functions with the most samples; the CPU column then includes
what sampling costs the gateway. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from gateway.auth.tokens import issue_token
from tests.conftest import RGW_SCRIPT, Backend, gateway_process, gateway_settings, local_rgw

KiB = 1024
MiB = 1024 * KiB
PIECE = MiB
BLOCK = os.urandom(8 * MiB)
PIECES = [BLOCK[start : start + PIECE] for start in range(0, len(BLOCK), PIECE)]
PART = 8 * MiB
IDLE_SECONDS = 2.0
WARM_UP = 5


@dataclass(frozen=True)
class Goal:
    """`ratio` is gateway / direct; a latency must stay at or under `limit`, a rate at or above it."""

    limit: float
    higher_is_better: bool

    def met(self, ratio: float) -> bool:
        return ratio >= self.limit if self.higher_is_better else ratio <= self.limit

    def __str__(self) -> str:
        return f"{'>=' if self.higher_is_better else '<='} {self.limit:g}x"


@dataclass(frozen=True)
class Row:
    measure: str
    unit: str
    gateway: float
    direct: float | None
    goal: Goal
    # The gateway's own CPU time for the gateway side of the measure, per request or per GB.
    cpu: str = ""

    @property
    def ratio(self) -> float:
        return self.gateway / self.direct if self.direct else self.gateway

    def line(self) -> str:
        direct = f"{self.direct:.1f}" if self.direct is not None else "-"
        ratio = f"{self.ratio:.2f}x" if self.direct is not None else f"{self.gateway:.1f} {self.unit}"
        goal = str(self.goal) if self.direct is not None else f"<= {self.goal.limit:g} {self.unit}"
        met = "yes" if self.goal.met(self.ratio) else "NO"
        cells = [f"{self.measure} ({self.unit})", f"{self.gateway:.1f}", direct, ratio, goal, met, self.cpu]
        return f"| {' | '.join(cells)} |"


LATENCY = Goal(1.3, higher_is_better=False)
MEASURES = ("put-4k", "put-if-match", "get-4k", "get-1m", "get-4k-concurrent", "stream-put", "stream-get", "rss")


def _pieces(size: int) -> Iterator[bytes]:
    """`size` bytes in pieces of at most 1 MiB, cut once from one random block (the client should cost little)."""
    sent = 0
    while sent < size:
        piece = PIECES[(sent // PIECE) % len(PIECES)]
        piece = piece[: size - sent] if size - sent < len(piece) else piece
        yield piece
        sent += len(piece)


class PiecesReader(io.RawIOBase):
    """The same bytes as a file object, for boto3."""

    def __init__(self, size: int) -> None:
        self._pieces = _pieces(size)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._pieces)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class GatewayClient:
    """One keep-alive HTTP/1.1 connection to the gateway, carrying a bearer token."""

    def __init__(self, url: str, auth: dict[str, str]) -> None:
        parts = urlsplit(url)
        self._connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=600)
        self._auth = auth
        self._used = time.monotonic()

    def send(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> http.client.HTTPResponse:
        """Send a request and return the response, its body unread (read it before the next request)."""
        if time.monotonic() - self._used > IDLE_SECONDS:
            self._connection.close()  # uvicorn drops idle connections after 5 s: reconnect rather than write into one
        self._connection.request(method, path, body=body, headers={**self._auth, **(headers or {})})
        response = self._connection.getresponse()
        self._used = time.monotonic()
        return response

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        response = self.send(method, path, body, headers)
        return response.status, response.read()

    def json(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        status, data = self.call(method, path, body, headers)
        assert status < 300, data
        return json.loads(data)


def _p50_interleaved(count: int, gateway: Callable[[int], None], direct: Callable[[int], None]) -> tuple[float, float]:
    """Median milliseconds of each operation, called in turns (alternating which goes first) so that both meet
    the same load from whatever else runs on the machine; after untimed warm-up calls."""
    for i in range(WARM_UP):
        gateway(-1 - i)
        direct(-1 - i)
    timings: tuple[list[float], list[float]] = ([], [])
    for i in range(count):
        order = ((gateway, timings[0]), (direct, timings[1]))
        for operation, times in order if i % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            operation(i)
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(timings[0]), statistics.median(timings[1])


def _rounds(rounds: int, gateway: Callable[[], float], direct: Callable[[], float]) -> tuple[float, float]:
    """The median of each measure over `rounds` turns, alternating which goes first."""
    results: tuple[list[float], list[float]] = ([], [])
    for round_ in range(rounds):
        order = ((gateway, results[0]), (direct, results[1]))
        for measure, values in order if round_ % 2 == 0 else order[::-1]:
            values.append(measure())
    return statistics.median(results[0]), statistics.median(results[1])


def _throughput(clients: int, seconds: float, make_worker: Callable[[], Callable[[], None]]) -> float:
    """Requests per second of `clients` threads each calling its worker in a loop for `seconds`."""
    workers = [make_worker() for _ in range(clients)]
    for worker in workers:
        worker()  # connect and warm up before the clock starts
    counts = [0] * clients
    barrier = threading.Barrier(clients + 1)
    deadline = [0.0]

    def run(index: int) -> None:
        barrier.wait()
        while time.perf_counter() < deadline[0]:
            workers[index]()
            counts[index] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    deadline[0] = start + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - start)


def _serving_pids(pid: int) -> list[int]:
    """The processes that answer requests: uvicorn's workers when it has any, else the process itself."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    # A multiprocessing resource tracker may sit among the children; it serves nothing but is small and flat.
    return [int(child) for child in children] or [pid]


def _rss_kib(pid: int) -> tuple[int, int]:
    """(current, peak) resident set size of a process, in KiB."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def _cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used, in seconds."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime and stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    return sum(values) - idle, sum(values)


class Busy:
    """How busy all CPUs were while each side of a measure ran: whether the two CPUs were the limit."""

    def __init__(self) -> None:
        self._ticks: dict[str, list[int]] = {}

    @contextmanager
    def side(self, name: str) -> Iterator[None]:
        busy, total = _machine_ticks()
        try:
            yield
        finally:
            busy_after, total_after = _machine_ticks()
            ticks = self._ticks.setdefault(name, [0, 0])
            ticks[0] += busy_after - busy
            ticks[1] += total_after - total

    def __str__(self) -> str:
        shares = [f"{100 * busy / max(total, 1):.0f}% ({name})" for name, (busy, total) in self._ticks.items()]
        return "CPUs busy " + " / ".join(shares)


@dataclass
class Span:
    """What the gateway spent during one side of a measure."""

    cpu_seconds: float = 0.0

    def per_request(self, count: float) -> str:
        return f"{1000 * self.cpu_seconds / max(count, 1):.2f} ms/req"

    def per_gb(self, size: int) -> str:
        return f"{self.cpu_seconds / (size / 1e9):.2f} s/GB"


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # "5" resets VmHWM to the current RSS


class Profiler:
    """py-spy recording the gateway's processes for the span of one measure."""

    def __init__(self, directory: Path | None, pid: int) -> None:
        self._directory = directory
        self._pid = pid
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            beside = Path(sys.executable).with_name("py-spy")
            self._spy = str(beside) if beside.exists() else shutil.which("py-spy")
            if self._spy is None:
                raise SystemExit("--profile needs py-spy (pip install py-spy)")

    @contextmanager
    def recording(self, name: str) -> Iterator[Span]:
        span = Span()
        pids = _serving_pids(self._pid)
        before = _cpu_seconds(pids)
        try:
            with self._sampling(name):
                yield span
        finally:
            span.cpu_seconds = _cpu_seconds(pids) - before

    @contextmanager
    def _sampling(self, name: str) -> Iterator[None]:
        if self._directory is None:
            yield
            return
        output = self._directory / f"{name}.txt"
        command = [str(self._spy), "record", "--format", "raw", "--rate", "200", "--subprocesses", "--nonblocking"]
        spy = subprocess.Popen([*command, "--output", str(output), "--pid", str(self._pid)], stdout=subprocess.DEVNULL)
        time.sleep(1.0)  # let py-spy attach
        try:
            yield
        finally:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
            print(summarise_profile(output, name), flush=True)


def summarise_profile(path: Path, name: str, top: int = 12) -> str:
    """The functions with the most samples anywhere on the stack (inclusive) and at the top (exclusive)."""
    inclusive: Counter[str] = Counter()
    exclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [
            frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"
            for frame in stack.split(";")
        ]
        total += count
        exclusive[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    rows = [f"profile of {name}: {total} samples ({path})", "  inclusive:"]
    rows += [f"    {100 * n / max(total, 1):5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    rows.append("  exclusive:")
    rows += [f"    {100 * n / max(total, 1):5.1f}%  {frame}" for frame, n in exclusive.most_common(top)]
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workers", type=int, default=2, help="gateway worker processes (serve --workers)")
    parser.add_argument("--count", type=int, default=200, help="requests per latency measure")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each side's concurrency measure")
    parser.add_argument("--rounds", type=int, default=3, help="turns of each side in throughput measures")
    parser.add_argument("--stream-mib", type=int, default=256, help="size of the streamed file")
    parser.add_argument("--rss-mib", type=int, default=1024, help="size of the file moved while memory is watched")
    parser.add_argument("--only", default=",".join(MEASURES), help=f"comma-separated subset of {', '.join(MEASURES)}")
    parser.add_argument("--profile", type=Path, help="record each measure with py-spy into this directory")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(MEASURES)
    if unknown:
        parser.error(f"unknown measure(s): {', '.join(sorted(unknown))}")
    with local_rgw() as backend:
        rows = Bench(backend, args, chosen).run()
    print()
    print(f"gateway: serve --workers {args.workers}; Ceph RGW at {backend.endpoint}; {os.cpu_count()} CPUs shared")
    print("| measure | gateway | direct | ratio | goal | met? | gateway CPU |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(row.line())
    return 0 if all(row.goal.met(row.ratio) for row in rows) else 1


class Bench:
    def __init__(self, backend: Backend, args: argparse.Namespace, chosen: list[str]) -> None:
        self.backend = backend
        self.args = args
        self.chosen = chosen
        self.bucket = backend.new_bucket()
        self.settings = gateway_settings(backend, self.bucket)
        self.s3 = backend.client()
        self.pooled_s3 = boto3_pooled(backend, args.clients)
        self.rows: list[Row] = []

    def run(self) -> list[Row]:
        serve_args = ["--workers", str(self.args.workers)] if self.args.workers > 1 else []
        try:
            with gateway_process(self.backend, self.bucket, args=serve_args) as (url, process):
                self.url = url
                self.profiler = Profiler(self.args.profile, process.pid)
                self.pid = process.pid
                token = issue_token(self.settings, sub="bench")
                self.auth = {"Authorization": f"Bearer {token}"}
                self.client = GatewayClient(url, self.auth)
                sid = self.client.json("POST", "/v1/sessions", b"{}", {"Content-Type": "application/json"})["id"]
                self.files = f"/v1/sessions/{sid}/files"
                for name in self.chosen:
                    getattr(self, "measure_" + name.replace("-", "_"))()
        finally:
            self._empty()
        return self.rows

    def _add(self, measure: str, unit: str, gateway: float, direct: float | None, goal: Goal, cpu: str = "") -> None:
        row = Row(measure, unit, gateway, direct, goal, cpu)
        print(row.line(), flush=True)
        self.rows.append(row)

    # Latency, one request at a time

    def measure_put_4k(self) -> None:
        body = os.urandom(4 * KiB)

        def put(i: int) -> None:
            status, answer = self.client.call("PUT", f"{self.files}/put/{i}.bin", body)
            assert status == 201, answer

        def direct_put(i: int) -> None:
            self.s3.put_object(Bucket=self.bucket, Key=f"d/put/{i}", Body=body)

        with self.profiler.recording("put-4k") as span:
            gateway, direct = _p50_interleaved(self.args.count, put, direct_put)
        cpu = span.per_request(self.args.count + WARM_UP)
        self._add("4 KiB PUT p50", "ms", gateway, direct, Goal(1.6, higher_is_better=False), cpu)

    def measure_put_if_match(self) -> None:
        body = os.urandom(4 * KiB)
        path = f"{self.files}/conditional.bin"
        etag = [self.client.json("PUT", path, body)["etag"]]

        def put(i: int) -> None:
            # A distinct body each time, so that each ETag differs from the one before.
            status, answer = self.client.call("PUT", path, body + str(i).encode(), {"If-Match": etag[0]})
            assert status == 200, answer
            etag[0] = json.loads(answer)["etag"]

        def direct_put(i: int) -> None:
            self.s3.put_object(Bucket=self.bucket, Key="d/cond", Body=body)

        with self.profiler.recording("put-if-match") as span:
            gateway, direct = _p50_interleaved(self.args.count, put, direct_put)
        cpu = span.per_request(self.args.count + WARM_UP)
        self._add("4 KiB PUT If-Match p50", "ms", gateway, direct, Goal(2.5, higher_is_better=False), cpu)

    def _get_latency(self, name: str, label: str, size: int) -> None:
        body = os.urandom(size)
        assert self.client.call("PUT", f"{self.files}/{name}.bin", body)[0] == 201
        self.s3.put_object(Bucket=self.bucket, Key=f"d/{name}", Body=body)

        def get(i: int) -> None:
            status, data = self.client.call("GET", f"{self.files}/{name}.bin")
            assert status == 200 and len(data) == size

        def direct_get(i: int) -> None:
            assert len(self.s3.get_object(Bucket=self.bucket, Key=f"d/{name}")["Body"].read()) == size

        with self.profiler.recording(name) as span:
            gateway, direct = _p50_interleaved(self.args.count, get, direct_get)
        self._add(label, "ms", gateway, direct, LATENCY, span.per_request(self.args.count + WARM_UP))

    def measure_get_4k(self) -> None:
        self._get_latency("get-4k", "4 KiB GET p50", 4 * KiB)

    def measure_get_1m(self) -> None:
        self._get_latency("get-1m", "1 MiB GET p50", MiB)

    # Many clients at once

    def measure_get_4k_concurrent(self) -> None:
        body = os.urandom(4 * KiB)
        path = f"{self.files}/shared-4k.bin"
        assert self.client.call("PUT", path, body)[0] == 201
        self.s3.put_object(Bucket=self.bucket, Key="d/shared-4k", Body=body)

        def gateway_worker() -> Callable[[], None]:
            client = GatewayClient(self.url, self.auth)

            def get() -> None:
                status, data = client.call("GET", path)
                assert status == 200 and len(data) == len(body)

            return get

        def direct_worker() -> Callable[[], None]:
            def get() -> None:
                assert len(self.pooled_s3.get_object(Bucket=self.bucket, Key="d/shared-4k")["Body"].read()) == 4 * KiB

            return get

        clients, seconds = self.args.clients, self.args.seconds / self.args.rounds
        served = [0.0]

        def through_gateway() -> float:
            rate = _throughput(clients, seconds, gateway_worker)
            served[0] += rate * seconds
            return rate

        with self.profiler.recording("get-4k-concurrent") as span:
            gateway, direct = _rounds(
                self.args.rounds, through_gateway, lambda: _throughput(clients, seconds, direct_worker)
            )
        cpu = span.per_request(served[0])
        self._add(f"4 KiB GET, {clients} clients", "req/s", gateway, direct, Goal(0.6, higher_is_better=True), cpu)

    # Large streams

    def _gateway_put(self, path: str, size: int, *, declared: bool) -> float:
        headers = {"Content-Length": str(size)} if declared else {}
        t0 = time.perf_counter()
        status, answer = self.client.call("PUT", path, _pieces(size), headers)
        elapsed = time.perf_counter() - t0
        assert status in (200, 201), answer
        return size / 1e6 / elapsed

    def _gateway_get(self, path: str, size: int) -> float:
        received = 0
        t0 = time.perf_counter()
        response = self.client.send("GET", path)
        assert response.status == 200
        while chunk := response.read(PIECE):
            received += len(chunk)
        elapsed = time.perf_counter() - t0
        assert received == size
        return size / 1e6 / elapsed

    def _direct_put(self, key: str, size: int) -> float:
        config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=2)
        t0 = time.perf_counter()
        self.s3.upload_fileobj(PiecesReader(size), self.bucket, key, Config=config)
        return size / 1e6 / (time.perf_counter() - t0)

    def _direct_get(self, key: str, size: int) -> float:
        received = 0
        t0 = time.perf_counter()
        for chunk in self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].iter_chunks(PIECE):
            received += len(chunk)
        elapsed = time.perf_counter() - t0
        assert received == size
        return size / 1e6 / elapsed

    def measure_stream_put(self) -> None:
        size = self.args.stream_mib * MiB
        label = f"{self.args.stream_mib} MiB PUT"
        for name, declared in (("Content-Length", True), ("chunked", False)):
            busy = Busy()
            with self.profiler.recording(f"stream-put-{name.lower()}") as span:

                def through_gateway(declared: bool = declared, busy: Busy = busy) -> float:
                    with busy.side("gateway"):
                        rate = self._gateway_put(f"{self.files}/stream.bin", size, declared=declared)
                    self._purge("gw/")
                    return rate

                def direct(busy: Busy = busy) -> float:
                    with busy.side("direct"):
                        rate = self._direct_put("d/stream", size)
                    self._purge("d/stream")
                    return rate

                gateway_rate, direct_rate = _rounds(self.args.rounds, through_gateway, direct)
            cpu = f"{span.per_gb(size * self.args.rounds)}; {busy}"
            self._add(f"{label}, {name}", "MB/s", gateway_rate, direct_rate, Goal(0.9, higher_is_better=True), cpu)

    def measure_stream_get(self) -> None:
        size = self.args.stream_mib * MiB
        path = f"{self.files}/stream-get.bin"
        self._gateway_put(path, size, declared=True)
        self.s3.upload_fileobj(PiecesReader(size), self.bucket, "d/stream-get")
        busy = Busy()

        def through_gateway() -> float:
            with busy.side("gateway"):
                return self._gateway_get(path, size)

        def direct() -> float:
            with busy.side("direct"):
                return self._direct_get("d/stream-get", size)

        with self.profiler.recording("stream-get") as span:
            gateway, direct_rate = _rounds(self.args.rounds, through_gateway, direct)
        self._purge("gw/")
        self._purge("d/stream-get")
        cpu = f"{span.per_gb(size * self.args.rounds)}; {busy}"
        label = f"{self.args.stream_mib} MiB GET"
        self._add(label, "MB/s", gateway, direct_rate, Goal(0.85, higher_is_better=True), cpu)

    # Memory

    def measure_rss(self) -> None:
        size = self.args.rss_mib * MiB
        path = f"{self.files}/rss.bin"
        pids = _serving_pids(self.pid)
        # Warm every worker's code paths and connections with small files first (requests land on any worker):
        # the baseline is a process that has served, but has not yet held any part of a large file.
        for _ in range(4 * len(pids)):
            self._gateway_put(f"{self.files}/warm.bin", MiB, declared=False)
            self._gateway_get(f"{self.files}/warm.bin", MiB)
        baseline = {pid: _rss_kib(pid)[0] for pid in pids}
        for pid in pids:
            _reset_peak(pid)
        self._gateway_put(path, size, declared=False)
        self._gateway_get(path, size)
        growth = max(_rss_kib(pid)[1] - baseline[pid] for pid in pids)
        self._purge("gw/")
        self._add(f"RSS growth, {self.args.rss_mib} MiB up and down", "MiB", growth / 1024, None, Goal(64, False))

    def _purge(self, prefix: str) -> None:
        """The local RGW keeps objects in memory (4 GiB in all, shared): give large ones back as soon as they are
        measured, and have radosgw free their space now rather than two hours after the delete."""
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                if prefix != "gw/" or (item.get("Size") or 0) > MiB:
                    self.s3.delete_object(Bucket=self.bucket, Key=item["Key"], VersionId=item["VersionId"])
        _collect_garbage()

    def _empty(self) -> None:
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket):
            for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                self.s3.delete_object(Bucket=self.bucket, Key=item["Key"], VersionId=item["VersionId"])
        for upload in self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", []):
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        _collect_garbage()
        for attempt in range(5):
            try:
                self.s3.delete_bucket(Bucket=self.bucket)
                return
            except self.s3.exceptions.ClientError as exc:
                # Ceph RGW's bucket stats catch up with deletes a moment later.
                if attempt == 4:
                    print(f"bucket {self.bucket} left behind (empty): {exc}")
                time.sleep(1)


def _collect_garbage() -> None:
    subprocess.run(["bash", str(RGW_SCRIPT), "gc"], capture_output=True, timeout=300, check=False)


def boto3_pooled(backend: Backend, connections: int) -> Any:
    """A boto3 client with a connection per concurrent caller (boto3 clients are safe to share between threads)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=backend.endpoint,
        region_name="us-east-1",
        aws_access_key_id=backend.credentials[0],
        aws_secret_access_key=backend.credentials[1],
        config=Config(
            s3={"addressing_style": "path"},
            max_pool_connections=connections,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"mode": "standard", "max_attempts": 3},
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
