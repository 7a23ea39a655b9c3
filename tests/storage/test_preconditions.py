"""Conditional writes hold between separate gateway processes on the same bucket, on every backend."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from gateway.errors import PreconditionFailed
from gateway.storage import preconditions
from gateway.storage.preconditions import BASE_METADATA, Precondition, matches, normalise_etag
from gateway.storage.store import Store
from tests.conftest import Backend, Gateway, gateway_process

ROUNDS = 10
WRITERS_PER_PROCESS = 4
# A session id for keys written straight to S3 (the user is new in every test).
SESSION = "01JCW0M8Q4Z8Y3V5T6R7P9N2KD"


@dataclass(frozen=True)
class Replicas:
    urls: list[str]
    bucket: str


@pytest.fixture(scope="module")
def two_replicas(backend: Backend) -> Iterator[Replicas]:
    bucket = backend.new_bucket()
    with gateway_process(backend, bucket) as (first, _), gateway_process(backend, bucket) as (second, _):
        yield Replicas([first, second], bucket)


def _race(urls: list[str], token: str, url_path: str, headers: dict[str, str], round_: int) -> list[tuple[int, bytes]]:
    """Every writer PUTs its own body at the same moment; returns (status, body) per writer.

    Bodies differ from round to round: a body equal to the current file's would share its ETag, and `If-Match`
    would rightly let a later writer through.
    """
    writers = [(url, f"{url[-5:]}-{i}-round-{round_}".encode()) for url in urls for i in range(WRITERS_PER_PROCESS)]
    barrier = threading.Barrier(len(writers))
    results: list[tuple[int, bytes]] = [(0, b"")] * len(writers)

    def write(index: int, base: str, body: bytes) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            client.get("/healthz")  # connect before the barrier
            barrier.wait()
            results[index] = (client.put(url_path, content=body, headers=headers).status_code, body)

    threads = [threading.Thread(target=write, args=(i, base, body)) for i, (base, body) in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_exactly_one_conditional_writer_wins_each_round(two_replicas: Replicas, gateway: Gateway, user: str) -> None:
    token = gateway.token(user)
    with httpx.Client(base_url=two_replicas.urls[0], headers={"Authorization": f"Bearer {token}"}) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        path = f"/v1/sessions/{sid}/files/counter.txt"

        created = _race(two_replicas.urls, token, path, {"If-None-Match": "*"}, 0)
        winners = [body for status, body in created if status == 201]
        assert len(winners) == 1, created
        assert sorted(status for status, _ in created) == [201] + [412] * (len(created) - 1)
        current = api.get(path)
        assert current.content == winners[0]

        for round_ in range(1, ROUNDS + 1):
            results = _race(two_replicas.urls, token, path, {"If-Match": current.headers["etag"]}, round_)
            winners = [body for status, body in results if status == 200]
            assert len(winners) == 1, (results, _versions_with_bases(gateway, two_replicas.bucket, user, sid))
            assert all(status == 412 for status, body in results if body != winners[0]), results
            current = api.get(path)
            assert current.content == winners[0]  # the winner's update is the one kept

        history = api.get(f"/v1/sessions/{sid}/history", params={"path": "counter.txt", "limit": "1000"}).json()
        # One version per round: every losing write was withdrawn.
        assert len(history["items"]) == ROUNDS + 1
        assert not any(item["is_delete_marker"] for item in history["items"])


def _versions_with_bases(gateway: Gateway, bucket: str, user: str, sid: str) -> list[tuple[str, str, bytes]]:
    """The file's history as S3 lists it, with each version's recorded base: what a failure needs explained."""
    s3 = gateway.backend.client()
    key = gateway.owner(user).session(sid).file("counter.txt")
    found = []
    for item in s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", []):
        version = s3.get_object(Bucket=bucket, Key=key, VersionId=item["VersionId"])
        found.append((item["VersionId"], version["Metadata"].get("gateway-base", ""), version["Body"].read()))
    return found


def test_a_losing_write_left_behind_is_withdrawn_by_the_next_writer(
    gateway: Gateway, api: httpx.Client, user: str
) -> None:
    """A gateway that died between writing a losing version and withdrawing it must not block the file."""
    sid = api.post("/v1/sessions", json={}).json()["id"]
    path = f"/v1/sessions/{sid}/files/f.txt"
    base_version = api.put(path, content=b"base").json()["version_id"]
    winner = api.put(path, content=b"winner").json()
    key = gateway.owner(user).session(sid).file("f.txt")
    s3 = gateway.backend.client()
    # What a crashed loser leaves: a version based on `base`, on top of the winner.
    s3.put_object(Bucket=gateway.settings.bucket, Key=key, Body=b"loser", Metadata={"gateway-base": base_version})
    assert api.get(path).content == b"loser"
    response = api.put(path, content=b"next", headers={"If-Match": winner["etag"]})
    assert response.status_code == 200, response.text
    assert api.get(path).content == b"next"
    items = api.get(f"/v1/sessions/{sid}/history", params={"path": "f.txt"}).json()["items"]
    assert [item["etag"] for item in items[1:]] == [winner["etag"], items[2]["etag"]]
    assert len(items) == 3


def test_precondition_headers() -> None:
    assert not Precondition.from_headers(None, None).conditional
    assert Precondition.from_headers(None, "*").if_none_match_any
    assert Precondition.from_headers('"a", W/"b"', None).if_match == frozenset({"a", "b"})
    assert normalise_etag(' W/"x" ') == "x"
    assert matches(frozenset({"*"}), '"anything"')
    assert not matches(frozenset({"a"}), None)


def test_concurrent_session_updates_on_two_replicas_lose_nothing(
    two_replicas: Replicas, gateway: Gateway, user: str
) -> None:
    token = gateway.token(user)
    with httpx.Client(base_url=two_replicas.urls[0], headers={"Authorization": f"Bearer {token}"}) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
    writers = [(url, f"k{url[-5:]}-{i}") for url in two_replicas.urls for i in range(WRITERS_PER_PROCESS)]
    barrier = threading.Barrier(len(writers))
    statuses: dict[str, int] = {}

    def patch(base: str, name: str) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            client.get("/healthz")
            barrier.wait()
            statuses[name] = client.patch(f"/v1/sessions/{sid}", json={"metadata": {name: True}}).status_code

    threads = [threading.Thread(target=patch, args=writer) for writer in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with httpx.Client(base_url=two_replicas.urls[1], headers={"Authorization": f"Bearer {token}"}) as api:
        final = api.get(f"/v1/sessions/{sid}")
    assert final.status_code == 200, (final.status_code, final.text, statuses)
    metadata = final.json()["metadata"]
    # 409 only when an update kept losing races for all its retries; then it changed nothing.
    assert set(statuses.values()) <= {200, 409}, statuses
    acknowledged = {name for name, status in statuses.items() if status == 200}
    assert len(acknowledged) >= len(writers) // 2, statuses
    # Every acknowledged update is in the record: none overwrote another.
    assert set(metadata) == acknowledged


def _history_of(gateway: Gateway, key: str, *writes: tuple[str, str | None]) -> list[str]:
    """Write versions of `key` straight to S3, oldest first: (body, recorded base) each, where a base names an
    earlier write by its body, "marker" puts a delete marker, and None records no base. Returns the version ids."""
    s3 = gateway.backend.client()
    ids: dict[str, str] = {}
    for body, base in writes:
        if body == "marker":
            ids[body] = s3.delete_object(Bucket=gateway.settings.bucket, Key=key)["VersionId"]
            continue
        metadata = {BASE_METADATA: ids[base]} if base is not None else {}
        put = s3.put_object(Bucket=gateway.settings.bucket, Key=key, Body=body.encode(), Metadata=metadata)
        ids[body] = put["VersionId"]
    return [ids[body] for body, _ in writes]


def _listed(gateway: Gateway, key: str) -> list[str]:
    s3 = gateway.backend.client()
    listing = s3.list_object_versions(Bucket=gateway.settings.bucket, Prefix=key)
    entries = [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]
    return [entry["VersionId"] for entry in entries if entry["Key"] == key]


def test_a_write_on_top_of_a_loser_being_withdrawn_wins_in_every_look(gateway: Gateway, user: str) -> None:
    """A loser not yet withdrawn lies between a version and its base: both the version's own judgement and another
    replica's look at the head must call it the winner, before the loser goes and after.

    Judging by the entry directly under a version called it lost while the loser was there and won once it had
    gone: one replica withdrew the write its own writer had just confirmed (seen on Ceph RGW under load)."""
    key = gateway.owner(user).session(SESSION).file("notes-é.txt")
    first, base, loser, mine = _history_of(
        gateway, key, ("first", None), ("base", "first"), ("loser", "first"), ("mine", "base")
    )

    async def main() -> None:
        async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
            head = await store.head(key, mine)
            checked = await preconditions.check(
                store, key, Precondition(if_match=frozenset({normalise_etag(head.etag)}))
            )
            assert checked.base == mine  # the head was judged a winner, not withdrawn
            settled = await preconditions.settle(store, key, mine, base, known=head)
            assert settled.below is not None and settled.below.version_id == base
            await store.delete_version(key, loser)  # its writer withdraws it
            settled = await preconditions.settle(store, key, mine, base, known=head)
            assert settled.below is not None and settled.below.version_id == base

    asyncio.run(main())
    assert _listed(gateway, key) == [mine, base, first]


def test_a_write_above_a_rival_on_the_same_base_loses_and_is_withdrawn(gateway: Gateway, user: str) -> None:
    key = gateway.owner(user).session(SESSION).file("100%.txt")
    first, rival, loser, late = _history_of(
        gateway, key, ("first", None), ("rival", "first"), ("loser", "first"), ("late", "first")
    )

    async def main() -> None:
        async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
            # Another replica's look withdraws both losers left behind, and takes the rival as the head.
            checked = await preconditions.check(store, key, Precondition(if_match=frozenset({"*"})))
            assert checked.base == rival
            assert _listed(gateway, key) == [rival, first]

    asyncio.run(main())
    s3 = gateway.backend.client()
    again = s3.put_object(Bucket=gateway.settings.bucket, Key=key, Body=b"again", Metadata={BASE_METADATA: first})

    async def judged() -> None:
        async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
            with pytest.raises(PreconditionFailed):
                await preconditions.settle(store, key, again["VersionId"], first)

    asyncio.run(judged())
    assert _listed(gateway, key) == [rival, first]
    assert loser not in _listed(gateway, key) and late not in _listed(gateway, key)


def test_a_delete_marker_between_a_head_and_its_base_waits_for_its_writer(gateway: Gateway, user: str) -> None:
    """A delete marker records no base, so nobody but its writer can judge it: a head above one is neither taken
    as a base nor withdrawn until the marker has gone or stays."""
    key = gateway.owner(user).session(SESSION).file("🗂 café.txt")
    first, marker, mine = _history_of(gateway, key, ("first", None), ("marker", None), ("mine", "first"))

    async def main() -> None:
        async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
            with pytest.raises(PreconditionFailed, match="settling"):
                await preconditions.check(store, key, Precondition(if_match=frozenset({"*"})))
            assert _listed(gateway, key)[0] == mine  # not withdrawn on a guess
            await store.delete_version(key, marker)  # the marker's writer saw it lose
            checked = await preconditions.check(store, key, Precondition(if_match=frozenset({"*"})))
            assert checked.base == mine

    asyncio.run(main())
    assert sorted(_listed(gateway, key)) == sorted([mine, first])
