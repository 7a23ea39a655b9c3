"""What a replica killed with SIGKILL during a burst of writes loses of the audit log: only records of its last
flush interval. The figures are printed, and docs/audit.md states them."""

from __future__ import annotations

import signal
import threading
import time
from urllib.parse import quote

import httpx

from gateway.audit.records import CHANGE
from gateway.auth.tokens import issue_token
from gateway.keys import AUDIT_LOG_DIR
from gateway.settings import Settings
from tests.audit.harness import FLAVORS, bucket_records
from tests.conftest import KEY_ROOT, SECRET, Backend, gateway_process

FLUSH = 1.0
BURST_SECONDS = 2.0
WRITERS = 4
# What may be lost: the interval being gathered, and the one whose batch was being written when the kill came.
ALLOWED_AGE = 2 * FLUSH


def test_a_killed_replica_loses_at_most_its_last_flush_interval(backend: Backend, user: str) -> None:
    bucket = backend.new_bucket()
    token = issue_token(Settings(jwt_secret=SECRET), sub=user)
    acked: list[tuple[float, str]] = []
    flavor = FLAVORS[backend.name]  # no start-up probe
    with gateway_process(backend, bucket, GATEWAY_AUDIT_FLUSH_SECONDS=str(FLUSH), GATEWAY_S3_FLAVOR=flavor) as (
        url,
        process,
    ):
        headers = {"Authorization": f"Bearer {token}"}
        sid = httpx.post(url + "/v1/sessions", json={}, headers=headers).json()["id"]
        stop = threading.Event()

        def write(writer: int) -> None:
            with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
                number = 0
                while not stop.is_set():
                    request_id = f"w{writer}-{number}"
                    path = quote(f"{writer}/{number} é😀%.txt", safe="/")
                    try:
                        answer = client.put(
                            f"/v1/sessions/{sid}/files/{path}", content=b"x", headers={"X-Request-Id": request_id}
                        )
                    except httpx.TransportError:
                        return  # the replica is gone
                    if answer.status_code == 201:
                        acked.append((time.monotonic(), request_id))
                    number += 1

        threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
        for thread in threads:
            thread.start()
        time.sleep(BURST_SECONDS)  # the burst itself: a real process, written to for real time
        process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        process.wait(timeout=10)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    recorded = {
        record.request_id
        for record in bucket_records(backend, bucket, f"{KEY_ROOT}/{AUDIT_LOG_DIR}")
        if record.kind == CHANGE and record.operation == "file.written"
    }
    lost = [(killed_at - at, request_id) for at, request_id in acked if request_id not in recorded]
    oldest = max((age for age, _ in lost), default=0.0)
    print(
        f"\n{backend.name}: {len(acked)} writes acknowledged in {BURST_SECONDS} s "
        f"({len(acked) / BURST_SECONDS:.0f}/s), "
        f"flush every {FLUSH} s; SIGKILL lost {len(lost)} records ({100 * len(lost) / max(len(acked), 1):.1f} %), "
        f"the oldest acknowledged {oldest:.2f} s before the kill"
    )
    assert len(acked) > 20
    assert oldest < ALLOWED_AGE  # only the last interval (and the batch in flight) is lost
    assert recorded  # earlier intervals are in the bucket
