"""Webhooks: every committed change POSTed, signed, to the operator's URLs; retried, then kept as a dead letter.

A change reaches the webhooks from the audit log (`AuditLog.followers`), with the record the log keeps, so a
delivery carries the same `id` as the event feed and the audit log. Nothing here runs on a request's path: the
listener only starts a task. Each delivery is one JSON body (`records.public_json`), signed (`signing`), POSTed with
`timeout` per attempt; an answer other than 2xx, or none, is tried again after `backoff`, doubled each time (five
minutes at most), up to `attempts` attempts. After the last one, a dead letter with the body, the URL, the
attempts and the last error is written to `{root}/_webhooks/dead/{yyyy}/{mm}/{dd}/`. At a clean shutdown,
deliveries still under way get `timeout` to finish; the rest are written as dead letters too. A crash loses the
deliveries under way (the changes are still in the audit log and the event feed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import aiohttp

from gateway.audit.records import Record, iso_ms, ms_of, public_json
from gateway.events import signing
from gateway.keys import BatchName, dead_letter_key
from gateway.storage.store import Store

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 300.0
# Deliveries waiting or under way at most; a change beyond that goes to the dead letters at once.
MAX_PENDING = 10_000
# POSTs in flight at once, over every URL.
MAX_IN_FLIGHT = 8
DEAD_LETTER_TYPE = "application/x-ndjson"

# (url, body, headers) -> the answer's status; raises when there is no answer.
Poster = Callable[[str, bytes, Mapping[str, str]], Awaitable[int]]


@dataclass
class _Delivery:
    url: str
    record: Record
    body: bytes
    attempts: int = 0
    error: str = ""
    first_at: str | None = None


class Webhooks:
    def __init__(
        self,
        store: Store,
        *,
        root: str,
        urls: tuple[str, ...],
        secret: str,
        attempts: int,
        backoff_seconds: float,
        timeout_seconds: float,
        replica: str,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        post: Poster | None = None,
    ) -> None:
        self._store = store
        self._root = root
        self.urls = urls
        self._secret = secret.encode("utf-8")
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._timeout = timeout_seconds
        self._replica = replica
        self._clock = clock
        self._sleep = sleep
        self._post = post or self._http_post
        self._session: aiohttp.ClientSession | None = None
        self._gate = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._tasks: dict[asyncio.Task[None], _Delivery] = {}
        self._letters = 0
        self.delivered = 0

    def follow(self, record: Record) -> None:
        """From the audit log, for each committed change: a delivery to every URL, started in the background."""
        body = json.dumps(public_json(record), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        for url in self.urls:
            delivery = _Delivery(url, record, body)
            if len(self._tasks) >= MAX_PENDING:
                delivery.error = f"more than {MAX_PENDING} deliveries were waiting"
                self._start(self._dead_letter([delivery]), delivery)
            else:
                self._start(self._deliver(delivery), delivery)

    def _start(self, work: Awaitable[None], delivery: _Delivery) -> None:
        task = asyncio.ensure_future(work)
        self._tasks[task] = delivery
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("a webhook delivery failed unexpectedly", exc_info=task.exception())

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def _deliver(self, delivery: _Delivery) -> None:
        for attempt in range(1, self._attempts + 1):
            delivery.attempts = attempt
            now = self._clock()
            delivery.first_at = delivery.first_at or iso_ms(now)
            headers = {
                "Content-Type": "application/json",
                signing.HEADER: signing.signature(self._secret, int(now.timestamp()), delivery.body),
                signing.EVENT_ID_HEADER: delivery.record.id,
                signing.ATTEMPT_HEADER: str(attempt),
            }
            try:
                async with self._gate:
                    status = await self._post(delivery.url, delivery.body, headers)
                if 200 <= status < 300:
                    self.delivered += 1
                    return
                delivery.error = f"HTTP {status}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                delivery.error = f"{type(exc).__name__}: {exc}"
            if attempt < self._attempts:
                await self._sleep(min(self._backoff * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))
        await self._dead_letter([delivery])

    async def _dead_letter(self, deliveries: list[_Delivery], reason: str = "attempts exhausted") -> None:
        now = ms_of(self._clock())
        self._letters += 1
        key = dead_letter_key(self._root, BatchName(now, now, self._replica, self._letters))
        lines = [
            json.dumps(
                {
                    "url": item.url,
                    "reason": reason if item.attempts else "not attempted: " + (item.error or reason),
                    "attempts": item.attempts,
                    "last_error": item.error or None,
                    "first_attempt_at": item.first_at,
                    "given_up_at": iso_ms(self._clock()),
                    "event": public_json(item.record),
                },
                ensure_ascii=False,
                separators=(",", ":"),
            )
            for item in deliveries
        ]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        try:
            await self._store.put(key, data, content_type=DEAD_LETTER_TYPE, metadata={})
        except Exception:
            # The last place left: the log, with what a person needs to deliver it by hand.
            log.exception("webhook dead letter %s could not be written: %s", key, data.decode("utf-8"))

    async def _http_post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        async with self._session.post(url, data=body, headers=dict(headers), allow_redirects=False) as response:
            return response.status

    async def close(self) -> None:
        """Deliveries under way get one `timeout` to finish; the rest are written as dead letters."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self._timeout)
        left = [(task, delivery) for task, delivery in self._tasks.items() if not task.done()]
        for task, _delivery in left:
            task.cancel()
        await asyncio.gather(*(task for task, _delivery in left), return_exceptions=True)
        if left:
            await self._dead_letter([delivery for _task, delivery in left], reason="the gateway stopped")
        if self._session is not None:
            await self._session.close()
            self._session = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Webhooks]:
        try:
            yield self
        finally:
            await self.close()
