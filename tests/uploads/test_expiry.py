"""The janitor ends uploads past their expiry (and only those), under an injected clock: nothing waits."""

from __future__ import annotations

import asyncio
import os
import unicodedata
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from gateway.changes import UPLOAD_ABORTED, Change, ChangeHook
from gateway.policy.config import load_configured_policy
from gateway.policy.janitor import Report
from gateway.services.assembly import assemble
from gateway.storage.store import Store
from tests.conftest import Gateway
from tests.uploads.helpers import (
    EXPIRY_SECONDS,
    NAMED,
    TUS,
    MiB,
    created,
    keys_under,
    new_session,
    new_user,
    patch,
    pending_uploads,
)


class Janitor:
    """The janitor of a gateway's bucket on an event loop of its own, under a clock the test sets."""

    def __init__(self, gateway: Gateway, now: datetime) -> None:
        self.now = now
        self.heard: list[Change] = []
        self._loop = asyncio.new_event_loop()
        self._stack = AsyncExitStack()
        store = self._loop.run_until_complete(
            self._stack.enter_async_context(Store(gateway.settings, credentials=gateway.backend.credentials))
        )
        hook = ChangeHook()
        hook.subscribe(self.heard.append)
        policy = load_configured_policy(gateway.settings)
        self._janitor = assemble(store, gateway.settings, policy, clock=lambda: self.now, hook=hook).janitor

    def run(self, prefix: str, *, dry_run: bool) -> Report:
        return self._loop.run_until_complete(self._janitor.run(dry_run=dry_run, prefix=prefix))

    def close(self) -> None:
        self._loop.run_until_complete(self._stack.aclose())
        self._loop.close()


def test_the_janitor_ends_expired_uploads_and_leaves_live_ones(tus_gateway: Gateway) -> None:
    user = new_user()
    with tus_gateway.client(user) as api:
        sid = new_session(api)
        session = tus_gateway.owner(user).session(sid)
        start = datetime.now(UTC)
        open_one = created(api, sid, 8 * MiB, NAMED)
        assert patch(api, open_one, 0, os.urandom(6 * MiB)).status_code == 204  # a part and a tail
        done = created(api, sid, 3, "done/ça 😀 100%.txt")
        assert patch(api, done, 0, b"abc").status_code == 204
        open_prefix = session.upload(open_one.rsplit("/", 1)[-1]).prefix
        # A day on, the bucket's rule for multipart uploads would abort the open one: its own expiry is not there.
        janitor = Janitor(tus_gateway, start + timedelta(days=1, minutes=1))
        try:
            assert janitor.run(session.prefix, dry_run=False).actions == [] and janitor.heard == []
            assert len(pending_uploads(tus_gateway, session.prefix)) == 1

            janitor.now = start + timedelta(seconds=EXPIRY_SECONDS, minutes=1)
            described = janitor.run(session.prefix, dry_run=True).described()
            assert any(
                line.startswith(f"end {open_prefix} upload ") and "past its expiry" in line for line in described
            )
            assert any("finished upload's record past its expiry" in line for line in described)
            assert janitor.heard == []
            assert api.head(open_one, headers=TUS).headers["upload-offset"] == str(6 * MiB)

            assert len(janitor.run(session.prefix, dry_run=False).actions) == 2
            aborted = [change for change in janitor.heard if change.action == UPLOAD_ABORTED]
            assert len(aborted) == 1 and aborted[0].detail["upload"] == open_one.rsplit("/", 1)[-1]
            assert aborted[0].path == unicodedata.normalize("NFC", NAMED) and aborted[0].session_id == sid
            for location in (open_one, done):
                assert api.head(location, headers=TUS).status_code == 404
            assert pending_uploads(tus_gateway, session.prefix) == []
            assert keys_under(tus_gateway, session.uploads_prefix) == []
            files = api.get(f"/v1/sessions/{sid}/files").json()["items"]
            assert [item["path"] for item in files] == ["done/ça 😀 100%.txt"]
            assert api.get(f"/v1/sessions/{sid}/files/{quote('done/ça 😀 100%.txt')}").content == b"abc"
            assert janitor.run(session.prefix, dry_run=False).actions == []
        finally:
            janitor.close()
