"""`serve --dev` stays within a bounded memory under sustained use by any token holder.

The embedded S3 keeps every stored version in memory, so the bound covers what the requests store (a few MiB here)
plus what the processes need to serve them; it would be crossed several times over by a leak of even a few hundred
kilobytes a request over its 2,500 requests (moto's own version listing leaked megabytes per call).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_until_up

REQUESTS = 2_500
CLIENTS = 4
# Growth allowed between the end of the warm-up and the end of the run, for the gateway and its embedded S3.
BOUND_MIB = 192
NAMES = [
    "notes/plan.md",
    "rapports/e\u0301te\u0301.txt",
    "\U0001f680/launch.txt",
    "100%.txt",
    "\u4e2d\u6587/\u6587\u4ef6.txt",
]


def _rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert match is not None
    return int(match.group(1)) / 1024


@pytest.fixture(scope="module")
def dev_server() -> Iterator[tuple[str, str, str, int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--dev", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, process)
        assert process.stdout is not None
        banner = ""
        while "export SESSION=" not in banner:
            banner += process.stdout.readline()
        token = re.search(r"export TOKEN=(\S+)", banner)
        session = re.search(r"export SESSION=(\S+)", banner)
        assert token is not None and session is not None
        yield url, token.group(1), session.group(1), process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def _drive(url: str, token: str, session: str, worker: int, count: int, failures: list[str]) -> None:
    """What clients do, reads first as in real use: reads, misses, listings, history, new files, overwrites,
    conditional writes and deletes."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as api:
        files = f"/v1/sessions/{session}/files"
        for i in range(count):
            name = f"w{worker}/{NAMES[i % len(NAMES)]}"
            step = i % 20
            if step in (0, 1):
                response = api.put(f"{files}/{name}", content=f"{worker}-{i}".encode() * 64)
            elif step == 2:
                etag = api.head(f"{files}/{name}").headers.get("etag", '"none"')
                response = api.put(f"{files}/{name}", content=f"c{i}".encode(), headers={"If-Match": etag})
            elif step < 13:
                response = api.get(f"{files}/{name}")
            elif step < 15:
                response = api.get(f"{files}/w{worker}/missing-{i}.txt")
            elif step < 17:
                response = api.get(files, params={"prefix": f"w{worker}/", "limit": 20})
            elif step < 19:
                response = api.get(f"/v1/sessions/{session}/history", params={"path": name, "limit": 5})
            else:
                response = api.delete(f"{files}/{name}")
            if response.status_code >= 500:
                failures.append(f"{response.request.method} {response.request.url}: {response.status_code}")


def _run(url: str, token: str, session: str, total: int) -> list[str]:
    failures: list[str] = []
    threads = [
        threading.Thread(target=_drive, args=(url, token, session, worker, total // CLIENTS, failures))
        for worker in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


@pytest.mark.timeout(900)  # 2,500 requests: a minute alone, far longer on a machine busy with more
def test_thousands_of_mixed_requests_keep_memory_bounded(dev_server: tuple[str, str, str, int]) -> None:
    url, token, session, pid = dev_server
    assert _run(url, token, session, 500) == []  # warm-up: imports, connection pools, first versions
    before = _rss_mib(pid)
    assert _run(url, token, session, REQUESTS) == []
    growth = _rss_mib(pid) - before
    print(f"serve --dev RSS growth over {REQUESTS} mixed requests: {growth:.1f} MiB (from {before:.1f} MiB)")
    assert growth < BOUND_MIB
