"""Back up a session of many small files and one large one to a second bucket on the same Ceph RGW, run it again,
verify it, empty the source bucket of every version and restore the session; print each time (the restore's is
the recovery time to plan with) and each command's peak memory, beside copying the same objects directly with
boto3 between the two buckets.

    .venv/bin/python -m tests.benchmarks.bench_backup [--files 1000] [--size-kib 4] [--large-mib 128]

The files are written through a gateway on the source bucket; the backup commands run as processes of their own,
as a scheduler runs them, so their peak resident memory is read from the operating system. Direct S3 reads and
writes the same objects 16 at a time (as many as the commands copy small versions at once). Starts the local RGW
when none answers (and stops it afterwards). Both buckets are removed afterwards: the local RGW keeps objects in
memory. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gateway.api.app import create_app
from tests.backup.conftest import Site, purge, put
from tests.benchmarks.bench_import import _purge
from tests.conftest import Backend, ServerThread, gateway_settings, local_rgw

MiB = 1024 * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--size-kib", type=int, default=4)
    parser.add_argument("--large-mib", type=int, default=128)
    args = parser.parse_args()
    with local_rgw() as backend:
        source, backups = backend.new_bucket(), backend.new_bucket()
        try:
            _measure(backend, source, backups, args.files, args.size_kib * 1024, args.large_mib * MiB)
        finally:
            _purge(backend, source)
            _purge(backend, backups)
    return 0


# The command as a scheduler runs it, printing its own peak resident memory (VmHWM: this process's own, from its
# exec on; a fork's pages before it would count in rusage) to stderr as it ends.
_REPORTING = (
    "import sys\n"
    "from gateway.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "peak = [line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0].split()[1]\n"
    "print(peak, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _command(site: Site, *args: str) -> tuple[float, int, dict[str, Any]]:
    """Seconds, peak RSS (KiB) and JSON summary of `session-gateway backup ...` run as its own process."""
    env = {**os.environ, **site.env}
    t0 = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _REPORTING, "backup", *args, "--json"], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - t0
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.returncode == 0 and summary["ok"], (result.returncode, summary, result.stderr[-2000:])
    return seconds, int(result.stderr.strip().splitlines()[-1]), summary


def _measure(backend: Backend, source: str, backups: str, files: int, size: int, large: int) -> None:
    settings = gateway_settings(backend, source, GATEWAY_BACKUP_BUCKET=backups)
    with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
        site = Site(backend, settings, url)
        with site.client("bench") as api:
            sid = api.post("/v1/sessions", json={"name": "bench é🎉"}).json()["id"]
            block = os.urandom(MiB)
            put(api, sid, "big/large.bin", block * (large // MiB), **{"x-tier": "permanent"})
            with ThreadPoolExecutor(16) as pool:
                list(
                    pool.map(
                        lambda n: put(
                            api,
                            sid,
                            f"notes/{n // 100:03}/été {n} 🎉.txt",
                            os.urandom(size),
                            **{"x-tier": "persistent"},
                        ),
                        range(files),
                    )
                )
        run = _command(site, "run")
        again = _command(site, "run")
        verified = _command(site, "verify")
        owner = site.owner("bench")
        assert purge(backend, source) > files  # every version: files, session record, owner and server keys
        restored = _command(site, "restore", "--user", "bench", "--session", sid)
        assert restored[2]["counts"]["files_restored"] == files + 1
        assert owner.session(sid).prefix  # the same keys again: the owner key came back from the backup

    s3 = backend.client()
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=source)
        for item in page.get("Contents", [])
    ]

    def copy(key: str) -> None:
        body = s3.get_object(Bucket=source, Key=key)["Body"]
        s3.upload_fileobj(body, backups, f"direct/{key}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(copy, keys))
    direct = time.perf_counter() - t0

    total = files * size + large
    print(
        f"{files} files of {size} bytes and one of {large // MiB} MiB ({total / MiB:.0f} MiB); "
        f"Ceph RGW at {backend.endpoint}"
    )
    print(f"{'step':<34}{'seconds':>9}{'MiB/s':>8}{'peak RSS MiB':>14}")
    for name, (seconds, rss, _summary) in [
        ("backup run (first)", run),
        ("backup run (again, nothing new)", again),
        ("backup verify (hash both sides)", verified),
        ("backup restore (bucket emptied)", restored),
    ]:
        print(f"{name:<34}{seconds:>9.1f}{total / MiB / seconds:>8.0f}{rss / 1024:>14.0f}")
    print(f"{'direct get+put x16 (boto3)':<34}{direct:>9.1f}{total / MiB / direct:>8.0f}{'':>14}")
    print("counts:", json.dumps({"run": run[2]["counts"], "restore": restored[2]["counts"]}))


if __name__ == "__main__":
    raise SystemExit(main())
