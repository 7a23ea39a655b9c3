"""The change hook: every committed change is announced once, after S3 accepted it: who, what, which versions."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from gateway.api.app import create_app
from gateway.changes import Change, ChangeHook
from gateway.keys import Owner
from gateway.policy.config import load_configured_policy
from gateway.services.assembly import assemble
from gateway.settings import Settings
from gateway.storage.store import Store
from tests.conftest import Backend, ServerThread, bucket_owner_key, gateway_settings

NAMES = ["notes/plan.md", "rapports/e\u0301te\u0301 re\u0301sume\u0301.txt", "emoji/\U0001f680 launch.txt", "100%.txt"]


@dataclass
class Recorder:
    changes: list[Change] = field(default_factory=list)

    def __call__(self, change: Change) -> None:
        self.changes.append(change)

    def actions(self) -> list[str]:
        return [change.action for change in self.changes]


@dataclass
class Hooked:
    url: str
    recorder: Recorder
    backend: Backend
    settings: Settings


@pytest.fixture(scope="module")
def hooked(backend: Backend) -> Iterator[Hooked]:
    settings = gateway_settings(backend, backend.new_bucket())
    recorder = Recorder()

    def broken(change: Change) -> None:
        raise RuntimeError("a listener that fails must not fail the request")

    app = create_app(settings, credentials=backend.credentials, hook=ChangeHook([recorder, broken]))
    with ServerThread(app) as url:
        yield Hooked(url, recorder, backend, settings)


def _client(hooked: Hooked, user: str) -> httpx.Client:
    from gateway.auth.tokens import issue_token

    token = issue_token(hooked.settings, sub=user, tenant="acme")
    return httpx.Client(base_url=hooked.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


@pytest.mark.parametrize("name", NAMES)
def test_each_file_change_is_announced_with_its_versions(hooked: Hooked, user: str, name: str) -> None:
    with _client(hooked, user) as api:
        sid = api.post("/v1/sessions", json={"name": "hooked"}).json()["id"]
        base = f"/v1/sessions/{sid}/files"
        first = api.put(f"{base}/{name}", content=b"one")
        second = api.put(f"{base}/{name}", content=b"two")
        assert (first.status_code, second.status_code) == (201, 200)
        refused = api.put(f"{base}/{name}", content=b"three", headers={"If-Match": '"not-the-etag"'})
        assert refused.status_code == 412
        rolled = api.post(f"/v1/sessions/{sid}/rollback", json={"path": name, "version_id": first.json()["version_id"]})
        assert rolled.status_code == 200
        assert api.patch(f"{base}/{name}", json={"tier": "persistent"}).status_code == 200
        assert api.delete(f"{base}/{name}").status_code == 204
        assert api.delete(f"{base}/{name}").status_code == 404  # nothing changed: nothing announced

    mine = [c for c in hooked.recorder.changes if c.session_id == sid]
    assert [c.action for c in mine] == [
        "session.created",
        "file.written",
        "file.written",
        "file.rolled_back",
        "file.retiered",
        "file.deleted",
    ]
    assert all(c.actor.kind == "user" and c.actor.user == user and c.actor.tenant == "acme" for c in mine)
    written_first, written_second, rolled_back = mine[1], mine[2], mine[3]
    assert written_first.path == written_second.path == rolled_back.path
    assert written_first.version_id == first.json()["version_id"]
    assert written_first.previous_version_id is None
    assert written_second.version_id == second.json()["version_id"]
    assert written_second.previous_version_id == written_first.version_id
    assert rolled_back.detail["source_version"] == first.json()["version_id"]
    assert rolled_back.previous_version_id == written_second.version_id
    assert mine[5].previous_version_id == rolled_back.version_id
    assert mine[5].version_id  # the delete marker's version


def test_session_changes_and_folder_deletes_are_announced(hooked: Hooked, user: str) -> None:
    with _client(hooked, user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        for name in NAMES:
            assert api.put(f"/v1/sessions/{sid}/files/dir/{name}", content=b"x").status_code == 201
        assert api.delete(f"/v1/sessions/{sid}/files/dir/?recursive=true").status_code == 204
        assert api.patch(f"/v1/sessions/{sid}", json={"name": "renamed"}).status_code == 200
        assert api.post(f"/v1/sessions/{sid}/end").status_code == 200
        assert api.delete(f"/v1/sessions/{sid}").status_code == 204
    mine = [c for c in hooked.recorder.changes if c.session_id == sid]
    actions = [c.action for c in mine]
    assert actions[0] == "session.created"
    deleted = [c for c in mine if c.action == "file.deleted"]
    # Paths are stored NFC-normalised: the NFD name comes back composed.
    assert sorted(c.path or "" for c in deleted) == sorted(unicodedata.normalize("NFC", f"dir/{n}") for n in NAMES)
    assert all(c.version_id for c in deleted)
    # A session's delete always takes its snapshot, even of an empty session: it is what brings the record back.
    assert actions[-4:] == ["session.updated", "session.ended", "snapshot.created", "session.deleted"]


def test_janitor_actions_are_announced(hooked: Hooked, user: str) -> None:
    with _client(hooked, user) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        api.put(f"/v1/sessions/{sid}/files/scratch.txt", content=b"1", headers={"X-Tier": "ephemeral"})
        api.put(f"/v1/sessions/{sid}/files/scratch.txt", content=b"2", headers={"X-Tier": "ephemeral"})
        api.put(f"/v1/sessions/{sid}/files/old.txt", content=b"o", headers={"X-Tier": "standard"})

    recorder = Recorder()

    async def run() -> list[str]:
        settings = hooked.settings
        owner = Owner(settings.key_root, "acme", user, bucket_owner_key(hooked.backend, settings))
        async with Store(settings, credentials=hooked.backend.credentials) as store:

            def later() -> datetime:
                return datetime.now(UTC) + timedelta(days=40)

            core = assemble(
                store,
                settings,
                load_configured_policy(settings),
                hook=ChangeHook([recorder]),
                clock=later,
            )
            report = await core.janitor.run(dry_run=False, prefix=owner.sessions_prefix)
            return [a.kind for a in report.actions]

    kinds = asyncio.run(run())
    assert "expire" in kinds and "delete" in kinds
    assert recorder.changes, "the janitor announced nothing"
    assert all(c.actor.kind == "janitor" for c in recorder.changes)
    expired = [c for c in recorder.changes if c.action == "version.expired"]
    assert {c.key.rsplit("/", 1)[-1] for c in expired} >= {"old.txt"}
    assert all(c.session_id == sid for c in recorder.changes)
