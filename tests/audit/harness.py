"""Gateway replicas served in the test's own event loop (the app's lifespan and an ASGI client), on one bucket,
with a clock the test moves, so that flushes, settle windows and rate limits are decided without sleeping."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from starlette.applications import Starlette

from gateway.api.app import create_app
from gateway.audit.recorders import Recorders
from gateway.audit.records import Record, decode_batch
from gateway.auth.tokens import issue_token
from gateway.settings import Settings
from tests.conftest import Backend, gateway_settings

# Names every test set holds: non-ASCII, a decomposed (NFD) accent, emoji and '%'.
NFD_NAME = "cafe\u0301 ünïcode/😀 100%.txt"
NFC_NAME = "caf\u00e9 ünïcode/😀 100%.txt"
FLAVORS = {"moto": "aws", "rgw": "ceph"}


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def audit_settings(backend: Backend, bucket: str, **extra: str) -> Settings:
    # The flavour is known: no start-up probe, so that each replica starts in a few S3 calls.
    return gateway_settings(backend, bucket, GATEWAY_S3_FLAVOR=FLAVORS[backend.name], **extra)


@dataclass
class Replica:
    app: Starlette
    client: httpx.AsyncClient
    settings: Settings

    @property
    def recorders(self) -> Recorders:
        found: Recorders = self.app.state.services.recorders
        return found

    def headers(self, sub: str | None, request_id: str | None = None, **claims: Any) -> dict[str, str]:
        headers = {}
        if sub is not None:
            headers["Authorization"] = f"Bearer {issue_token(self.settings, sub=sub, **claims)}"
        if request_id is not None:
            headers["X-Request-Id"] = request_id
        return headers


@contextlib.asynccontextmanager
async def replica(
    backend: Backend, settings: Settings, clock: Clock, client_address: str = "203.0.113.7"
) -> AsyncIterator[Replica]:
    """A replica from start-up to a clean shutdown (which writes what its audit log holds)."""
    app = create_app(settings, credentials=backend.credentials, clock=clock)
    transport = httpx.ASGITransport(app=app, client=(client_address, 40000))
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        yield Replica(app, http, settings)


def bucket_records(backend: Backend, bucket: str, prefix: str) -> list[Record]:
    """Every record in the batches under `prefix`, read straight from the bucket, in key order."""
    client = backend.client()
    found: list[Record] = []
    for key in bucket_keys(backend, bucket, prefix):
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        found.extend(decode_batch(data, key))
    return found


def bucket_keys(backend: Backend, bucket: str, prefix: str) -> Iterator[str]:
    paginator = backend.client().get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"]
