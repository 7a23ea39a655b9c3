"""Webhooks against a small local receiver: signed bodies that verify as docs/events.md says, retries with a
doubling wait, a dead letter in the bucket after the last attempt, and the change's request never waiting."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gateway.audit.records import Record
from gateway.auth.server_key import load_owner_key
from gateway.changes import Actor
from gateway.events import signing
from gateway.events.webhooks import Webhooks
from gateway.keys import DEAD_LETTERS_DIR, Owner
from gateway.policy.config import load_configured_policy
from gateway.services.assembly import assemble
from gateway.storage.preconditions import Precondition
from gateway.storage.store import Store
from tests.audit.harness import NFC_NAME, NFD_NAME, Clock, audit_settings, bucket_keys, bucket_records
from tests.conftest import Backend

SECRET = "webhook-secret-of-at-least-32-bytes!"


class Receiver:
    """Answers 500 to the first two attempts of each event on /flaky, 503 to everything on /down."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.release = threading.Event()
        self._attempts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            self.received.append((path, headers, body))
            key = (path, headers.get(signing.EVENT_ID_HEADER.lower(), ""))
            self._attempts[key] = self._attempts.get(key, 0) + 1
            count = self._attempts[key]
        self.release.wait(timeout=10)  # held until the test has seen the changes' requests finish
        if path == "/flaky":
            return 200 if count >= 3 else 500
        return 503


@contextmanager
def receiving() -> Iterator[tuple[str, Receiver]]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = receiver.answer(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()


def _verified(header: str, body: bytes) -> bool:
    """The check docs/events.md gives receivers, written from the text: HMAC-SHA256 of `{t}.` and the body."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def test_webhooks_are_signed_retried_and_dead_lettered(backend: Backend, user: str) -> None:
    clock = Clock()
    bucket = backend.new_bucket()
    settings = audit_settings(backend, bucket)
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    async def main(url: str, receiver: Receiver) -> list[Record]:
        async with Store(settings, credentials=backend.credentials) as store:
            owner = Owner(settings.key_root, "t-hooks", user, await load_owner_key(store, settings))
            core = assemble(store, settings, load_configured_policy(settings), clock=clock)
            hooks = Webhooks(
                store,
                root=settings.key_root,
                urls=(url + "/flaky", url + "/down"),
                secret=SECRET,
                attempts=3,
                backoff_seconds=1.0,
                timeout_seconds=5.0,
                replica=core.recorders.log.replica,
                clock=clock,
                sleep=no_wait,
            )
            core.recorders.log.followers.append(hooks.follow)
            try:
                session = await core.sessions.create(owner, name="hooks")
                await core.files.write(
                    Actor.user_of(owner.tenant, owner.user),
                    owner.session(session.id),
                    NFD_NAME,
                    _body(b"hello"),
                    content_type="text/plain",
                    declared_length=5,
                    precondition=Precondition(),
                    tier=None,
                )
                # Both changes are done while the receiver holds every delivery: nothing waited for them.
                assert hooks.pending == 4 and hooks.delivered == 0
            finally:
                receiver.release.set()
                await hooks.close()
            assert hooks.delivered == 2
            await core.recorders.log.flush()
        return bucket_records(backend, bucket, f"{settings.key_root}/_audit/log/")

    with receiving() as (url, receiver):
        logged = asyncio.run(main(url, receiver))

    ids = [record.id for record in logged]
    flaky = [(h, b) for path, h, b in receiver.received if path == "/flaky"]
    down = [(h, b) for path, h, b in receiver.received if path == "/down"]
    assert len(flaky) == 6 and len(down) == 6  # three attempts of each of the two changes
    for headers, body in flaky + down:
        assert headers["content-type"] == "application/json"
        assert _verified(headers["gateway-signature"], body)
        assert signing.verify(SECRET.encode(), headers["gateway-signature"], body, now=int(clock.now.timestamp()))
        assert not _verified(headers["gateway-signature"], body.replace(b"}", b',"x":1}', 1))  # a changed body
        event = json.loads(body)
        assert event["id"] == headers["gateway-event-id"] and event["id"] in ids  # the audit log's id
    assert sorted(h["gateway-delivery-attempt"] for h, _b in flaky) == ["1", "1", "2", "2", "3", "3"]
    events = [json.loads(b) for h, b in flaky if h["gateway-delivery-attempt"] == "3"]
    assert sorted(e["operation"] for e in events) == ["file.written", "session.created"]
    written = next(e for e in events if e["operation"] == "file.written")
    assert (written["path"], written["principal"], written["tenant"]) == (NFC_NAME, user, "t-hooks")
    assert sorted(waits) == [1.0] * 4 + [2.0] * 4  # doubled after each failed attempt

    letters = [
        json.loads(line)
        for key in bucket_keys(backend, bucket, f"{settings.key_root}/{DEAD_LETTERS_DIR}")
        for line in backend.client().get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    ]
    assert sorted(letter["event"]["id"] for letter in letters) == sorted(ids)
    assert {(letter["url"], letter["attempts"], letter["last_error"]) for letter in letters} == {
        (url + "/down", 3, "HTTP 503")
    }
