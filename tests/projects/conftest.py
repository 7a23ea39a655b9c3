"""A gateway whose services run on a clock the tests move, and the janitor on the same clock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from gateway.api.app import create_app
from gateway.changes import Change, ChangeHook
from gateway.policy.config import load_configured_policy
from gateway.policy.janitor import Report
from gateway.services.assembly import assemble
from gateway.storage.store import Store
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings


class Clock:
    """Now, as the services see it: starts at the real time and moves only when told."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, days: float) -> datetime:
        self.now += timedelta(days=days)
        return self.now


class ClockedGateway(Gateway):
    clock: Clock
    # One event loop and one open store for every janitor run: opening a store costs more than a run on a small
    # bucket.
    runner: asyncio.Runner
    store: Store

    def janitor(self, *, dry_run: bool) -> tuple[Report, list[Change]]:
        """One janitor run on this gateway's bucket and clock; what it announced."""
        heard: list[Change] = []
        core = assemble(
            self.store,
            self.settings,
            load_configured_policy(self.settings),
            clock=self.clock,
            owner_key=self.owner_key,
            hook=ChangeHook([heard.append]),
        )
        return self.runner.run(core.janitor.run(dry_run=dry_run)), heard


@pytest.fixture(scope="module")
def clocked(backend: Backend) -> Iterator[ClockedGateway]:
    clock = Clock()
    settings = gateway_settings(backend, backend.new_bucket())
    with (
        ServerThread(create_app(settings, credentials=backend.credentials, clock=clock)) as url,
        asyncio.Runner() as runner,
    ):
        found = ClockedGateway(backend=backend, settings=settings, url=url)
        found.clock, found.runner = clock, runner
        found.store = Store(settings, credentials=backend.credentials)
        runner.run(found.store.__aenter__())
        try:
            yield found
        finally:
            runner.run(found.store.__aexit__(None, None, None))
