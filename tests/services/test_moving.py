"""Copies judged by retention at an injected `now` (both backends): a target its tier's retention has removed is no
conflict, and a source it has removed is nothing to copy."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from gateway.changes import Actor
from gateway.errors import NotFound
from gateway.policy.config import load_configured_policy
from gateway.services.assembly import assemble
from gateway.storage.store import Store
from tests.api.test_moving import get, put
from tests.conftest import Gateway


def test_retention_decides_what_exists(gateway: Gateway, api: httpx.Client, user: str, session_id: str) -> None:
    put(api, session_id, "source é🎉.txt", b"kept for good", **{"x-tier": "permanent"})
    put(api, session_id, "target 100%.txt", b"a month", **{"x-tier": "standard"})
    put(api, session_id, "old source.txt", b"a month", **{"x-tier": "standard"})
    keys = gateway.owner(user).session(session_id)
    actor = Actor.user_of(None, user)
    later = datetime.now(UTC) + timedelta(days=40)

    async def main() -> tuple[str | None, bool]:
        async with Store(gateway.settings, credentials=gateway.backend.credentials) as store:
            moving = assemble(
                store, gateway.settings, load_configured_policy(gateway.settings), clock=lambda: later
            ).moving
            report = await moving.transfer(
                actor, keys, "source é🎉.txt", keys, "target 100%.txt", overwrite=False, move=False
            )
            try:
                await moving.transfer(actor, keys, "old source.txt", keys, "elsewhere.txt", overwrite=False, move=False)
            except NotFound:
                gone = True
            else:
                gone = False
            return report.items[0].version_id, gone

    version_id, gone = asyncio.run(main())
    # Forty days on, the standard target is past its 30 days: the copy replaced it without `overwrite`.
    assert get(api, session_id, "target 100%.txt").content == b"kept for good"
    assert get(api, session_id, "target 100%.txt").headers["x-version-id"] == version_id
    assert gone and get(api, session_id, "elsewhere.txt").status_code == 404
