"""The first page of a user's 10,000 sessions through the gateway, beside a raw S3 listing of the same prefix on the
same Ceph RGW, in one run.

    .venv/bin/python -m tests.benchmarks.bench_session_listing [--sessions 10000] [--reads 200] [--cold 20]
        [--notes 50]

Populating: the session records (and an activity object for two sessions in three) are written straight into the
bucket, many at once, with names, tags, states and creation times that vary (names hold non-ASCII, NFD, emoji and
`%`); the owner's index is then built once with a full compaction, as `session-gateway index rebuild` would. The
gateway runs as its own process (`session-gateway serve`); its client is a keep-alive `http.client` connection, the
HTTP layer boto3 itself uses. Measured, one request at a time, `--reads` times after a warm-up:

- `GET /v1/sessions?limit=50`: the first page, in creation order; with `q=`, `tag=` and `state=` filters; sorted
  by last activity, newest first. The base is cached in the gateway and checked by a conditional GET (a 304);
- cold: the first listing after another process rewrote the base (one session renamed and compacted in), so the
  gateway downloads and parses the whole base again; `--cold` times;
- with `--notes` pending change notes (sessions renamed since the base was built): every listing reads their truth;
- direct: `list_objects_v2` of the user's `s/` prefix with `Delimiter='/'`, the first 1,000 and all of them, and a
  GET of the index base, whole and conditional (the 304 the warm listing pays).

Every page is checked against what the records say (50 items, in the right order, renamed sessions showing their
new names); speed is printed, not asserted (the goals live in docs/performance.md). Uses the local RGW when one
answers, otherwise starts it (and stops it afterwards). Not collected by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import random
import statistics
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from botocore.exceptions import ClientError

from gateway.auth.server_key import load_owner_key
from gateway.auth.tokens import issue_token
from gateway.index.summaries import Activity, SessionSummary, folded
from gateway.keys import Owner
from gateway.ordered import bounded
from gateway.policy.config import load_configured_policy
from gateway.services.assembly import Core, assemble
from gateway.services.session_records import ACTIVE, ARCHIVED, ENDED, SessionRecord
from gateway.services.sessions import encode_record, new_session_id
from gateway.settings import Settings
from gateway.storage.store import Store
from gateway.wire import iso
from tests.conftest import KEY_ROOT, Backend, gateway_process, gateway_settings, local_rgw

USER = "bench-listing"
PAGE = 50
WARM_UP = 10
WRITERS = 64  # records written at once while populating
WORDS = ("Cafe\u0301", "Rapport", "Réunion 🎉", "Budget 100%", "Support", "Ünïcode")
TAGS = ("billing", "support", "alpha", "beta", "ünïcode", "🎉")
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@dataclass
class Population:
    owner: Owner
    records: dict[str, SessionRecord]
    activities: dict[str, Activity]

    def summary(self, sid: str) -> SessionSummary:
        return SessionSummary.of(self.records[sid], self.activities.get(sid))


def _records(count: int, seed: int = 7) -> tuple[dict[str, SessionRecord], dict[str, Activity]]:
    chance = random.Random(seed)
    start = NOW - timedelta(days=365)
    step = timedelta(days=365) / count
    records: dict[str, SessionRecord] = {}
    activities: dict[str, Activity] = {}
    for index in range(count):
        created = start + step * index + timedelta(seconds=chance.randrange(0, 600))
        updated = created + timedelta(minutes=chance.randrange(0, 600))
        state = chance.choices((ACTIVE, ENDED, ARCHIVED), weights=(6, 3, 1))[0]
        ended = updated if state != ACTIVE else None
        archived = ended + timedelta(days=1) if state == ARCHIVED and ended else None
        sid = new_session_id()
        records[sid] = SessionRecord(
            id=sid,
            name=f"{WORDS[index % len(WORDS)]} {index:05d}",
            created_at=iso(created),
            updated_at=iso(archived or updated),
            touched_at=iso(updated),
            state=state,
            metadata={"n": index},
            ended_at=None if ended is None else iso(ended),
            archived_at=None if archived is None else iso(archived),
            tags=tuple(chance.sample(TAGS, chance.randrange(0, 3))),
            external_ids=(f"ext-{index}",),
        )
        if index % 3:
            last = min(NOW, updated + timedelta(hours=chance.randrange(0, 24 * 60)))
            activities[sid] = Activity(
                last_activity_at=iso(last),
                file_count=chance.randrange(0, 500),
                bytes=chance.randrange(0, 10**9),
                counted_at=iso(last),
            )
    return records, activities


async def _populate(settings: Settings, backend: Backend, count: int) -> tuple[Population, float, float]:
    """Write the records and activities straight into the bucket, then build the index once; the seconds each took."""
    async with Store(settings, credentials=backend.credentials) as store:
        owner = Owner(root=KEY_ROOT, tenant=None, user=USER, owner_key=await load_owner_key(store, settings))
        records, activities = _records(count)
        started = time.perf_counter()

        async def write(sid: str) -> None:
            keys = owner.session(sid)
            await store.put(keys.record, encode_record(records[sid]), content_type="application/json", metadata={})
            if sid in activities:
                body = json.dumps(activities[sid].to_json()).encode()
                await store.put(keys.activity, body, content_type="application/json", metadata={})

        await bounded(list(records), write, limit=WRITERS)
        written = time.perf_counter() - started
        started = time.perf_counter()
        repair = await _core(store, settings).index.compact(owner.space, full=True)
        assert repair.written and repair.sessions == count, repair
        return Population(owner, records, activities), written, time.perf_counter() - started


def _core(store: Store, settings: Settings) -> Core:
    return assemble(store, settings, load_configured_policy(settings))


async def _rename(settings: Settings, backend: Backend, population: Population, sids: list[str], tag: str) -> float:
    """Rename sessions the way a replica does (record, then note); then, with `tag == "compact"`, fold the notes
    into the base from this process, as another replica would. Returns the compaction's seconds."""
    async with Store(settings, credentials=backend.credentials) as store:
        core = _core(store, settings)
        for sid in sids:
            record = population.records[sid]
            population.records[sid] = replace(record, name=f"{tag} {record.name}", updated_at=iso(NOW))
        await bounded(
            sids,
            lambda sid: store.put(
                population.owner.session(sid).record,
                encode_record(population.records[sid]),
                content_type="application/json",
                metadata={},
            ),
        )
        await bounded(sids, lambda sid: core.index.note(population.owner.session(sid)))
        if tag != "compact":
            return 0.0
        started = time.perf_counter()
        repair = await core.index.compact(population.owner.space)
        assert repair.written, repair
        return time.perf_counter() - started


# What the page should hold, computed from the records here (not by the gateway's query code).


def _expected(population: Population, params: dict[str, str]) -> list[tuple[str, str | None]]:
    summaries = [population.summary(sid) for sid in population.records]
    if "q" in params:
        summaries = [s for s in summaries if folded(params["q"]) in folded(s.name or "")]
    if "tag" in params:
        summaries = [s for s in summaries if unicodedata.normalize("NFC", params["tag"]) in s.tags]
    if "state" in params:
        summaries = [s for s in summaries if s.state == params["state"]]
    by_activity = params.get("sort") == "last_activity"
    summaries.sort(
        key=lambda s: (s.last_activity_at if by_activity else s.created_at, s.id),
        reverse=params.get("order") == "desc",
    )
    return [(s.id, s.name) for s in summaries[:PAGE]]


class GatewayClient:
    """A keep-alive connection to the gateway, as `http.client` (what boto3 uses underneath)."""

    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        self._connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
        self._headers = {"Authorization": f"Bearer {token}"}

    def page(self, params: dict[str, str]) -> tuple[float, list[tuple[str, str | None]]]:
        started = time.perf_counter()
        target = "/v1/sessions?" + urlencode({"limit": str(PAGE), **params})
        self._connection.request("GET", target, headers=self._headers)
        response = self._connection.getresponse()
        body = response.read()
        taken = time.perf_counter() - started
        assert response.status == 200, body[:500]
        return taken, [(item["id"], item["name"]) for item in json.loads(body)["items"]]


def _seconds(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _percentile(seconds: list[float], share: float) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--cold", type=int, default=20)
    parser.add_argument("--notes", type=int, default=50)
    args = parser.parse_args()
    assert args.sessions >= 2 * PAGE and args.notes <= args.sessions // 2
    with local_rgw() as backend:
        _measure(backend, args.sessions, args.reads, args.cold, args.notes)
    return 0


def _measure(backend: Backend, count: int, reads: int, cold: int, notes: int) -> None:
    bucket = backend.new_bucket()
    settings = gateway_settings(backend, bucket)
    s3 = backend.client()
    rows: list[tuple[str, list[float]]] = []
    with gateway_process(backend, bucket) as (url, process):
        population, written, built = asyncio.run(_populate(settings, backend, count))
        client = GatewayClient(url, issue_token(settings, sub=USER))
        space = population.owner.space

        def measure(label: str, params: dict[str, str], times: int) -> None:
            expected = _expected(population, params)
            assert len(expected) == PAGE, (label, len(expected))
            for _ in range(WARM_UP):
                client.page(params)
            seconds = []
            for _ in range(times):
                taken, shown = client.page(params)
                assert shown == expected, label
                seconds.append(taken)
            rows.append((f"gateway {label}", seconds))

        measure("first page", {}, reads)
        measure("q=café", {"q": "café"}, reads)
        measure("tag=billing", {"tag": "billing"}, reads)
        measure("state=ended", {"state": "ended"}, reads)
        measure("sort=last_activity&order=desc", {"sort": "last_activity", "order": "desc"}, reads)
        peak_warm = _peak_mib(process.pid)

        # Cold: another process renames one session of the first page and compacts; the next listing here
        # downloads and parses the whole new base.
        first = [sid for sid, _ in _expected(population, {})]
        colds, compactions = [], []
        for round_ in range(cold):
            compactions.append(asyncio.run(_rename(settings, backend, population, [first[round_ % PAGE]], "compact")))
            taken, shown = client.page({})
            assert shown == _expected(population, {}), "cold"
            colds.append(taken)
        rows.append(("gateway first page, cold (base just rewritten)", colds))
        rows.append(("  (compaction of one note by another process)", compactions))
        base_size = s3.head_object(Bucket=bucket, Key=space.index_base)["ContentLength"]

        # Pending notes: sessions renamed since the base was built, the first page among them.
        by_creation = sorted(population.records, key=lambda sid: (population.summary(sid).created_at, sid))
        asyncio.run(_rename(settings, backend, population, by_creation[: 2 * notes : 2], "renamed"))
        measure(f"first page, {notes} notes pending", {}, reads)
        pending = s3.list_objects_v2(Bucket=bucket, Prefix=space.index_notes_prefix).get("KeyCount", 0)
        assert pending == notes, pending
        peak = _peak_mib(process.pid)

    # Raw S3 on the same prefix, in the same run.
    prefix = space.sessions_prefix

    first_sizes: list[int] = []

    def first_thousand() -> None:
        # Ceph RGW may answer a delimited page with fewer prefixes than asked for: how many is printed.
        page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/", MaxKeys=1000)
        first_sizes.append(len(page.get("CommonPrefixes", [])))
        assert first_sizes[-1] > 0 and (page["IsTruncated"] or count <= 1000)

    def all_sessions() -> None:
        found = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            found += len(page.get("CommonPrefixes", []))
        assert found == count

    etag = s3.head_object(Bucket=bucket, Key=space.index_base)["ETag"]

    def base_whole() -> None:
        assert len(s3.get_object(Bucket=bucket, Key=space.index_base)["Body"].read()) == base_size

    def base_unchanged() -> None:
        try:
            s3.get_object(Bucket=bucket, Key=space.index_base, IfNoneMatch=etag)
        except ClientError as exc:
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 304
        else:
            raise AssertionError("the base changed")

    for label, work, times in (
        ("direct list_objects_v2 s/ delimiter=/, MaxKeys=1000", first_thousand, max(10, reads // 4)),
        (f"direct list_objects_v2 s/ delimiter=/, all {count:,}", all_sessions, max(5, reads // 20)),
        ("direct GET index base (whole)", base_whole, reads),
        ("direct GET index base, If-None-Match (304)", base_unchanged, reads),
    ):
        for _ in range(3):
            work()
        rows.append((label, [_seconds(work) for _ in range(times)]))

    print(f"{count:,} sessions of one user on Ceph RGW at {backend.endpoint}; pages of {PAGE}")
    print(f"populated in {written:.1f} s (records and activities), index built in {built:.1f} s (full compaction)")
    print(f"index base: {base_size / 1024:.0f} KiB; gateway resident peak {peak_warm:.0f} MiB warm, {peak:.0f} at end")
    print(f"direct first page (MaxKeys=1000) held {min(first_sizes)}-{max(first_sizes)} session prefixes")
    print(f"{'measure':<56}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'n':>6}")
    for label, seconds in rows:
        p50, p99 = _percentile(seconds, 0.5) * 1000, _percentile(seconds, 0.99) * 1000
        print(f"{label:<56}{p50:>9.1f}{p99:>9.1f}{statistics.fmean(seconds) * 1000:>9.1f}{len(seconds):>6}")


if __name__ == "__main__":
    raise SystemExit(main())
