"""Services of a gateway replica on the test bucket, driven in the test's own event loop with a clock it sets."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gateway.changes import Actor
from gateway.keys import Owner
from gateway.policy.config import load_configured_policy
from gateway.services.assembly import Core, assemble
from gateway.settings import Settings
from gateway.storage.preconditions import Precondition
from gateway.storage.store import Store
from tests.conftest import Gateway

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: START)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@contextlib.asynccontextmanager
async def replica(gateway: Gateway, clock: Clock, settings: Settings | None = None) -> AsyncIterator[Core]:
    settings = settings or gateway.settings
    async with Store(settings, credentials=gateway.backend.credentials) as store:
        yield assemble(
            store,
            settings,
            load_configured_policy(settings),
            clock=clock,
            owner_key=gateway.owner_key,
        )


async def write_file(core: Core, owner: Owner, session_id: str, path: str, data: bytes) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield data

    await core.files.write(
        Actor.user_of(owner.tenant, owner.user),
        owner.session(session_id),
        path,
        body(),
        content_type="text/plain",
        declared_length=len(data),
        precondition=Precondition(),
        tier=None,
    )
