"""A project's life under a short clock: activity moves its cleanup, warnings come within `warning_days` (in the API
and from the janitor, once a day), pinning stops them, unpinning and extending move the cleanup, and the cleanup
deletes its sessions recoverably (a snapshot brings one back) and then the project. Nothing sleeps: the services
and the janitor share a clock the test moves."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from gateway import changes
from gateway.projects.cleanup import CLEAN_UP, WARN
from tests.projects.conftest import ClockedGateway

DAY = timedelta(days=1)
FILE = "notes/été ñ 🎉 100%.txt"


def _at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _project(api: httpx.Client, pid: str) -> dict[str, Any]:
    response = api.get(f"/v1/projects/{pid}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def _mine(report_projects: list[Any], pid: str) -> list[tuple[str, int | None]]:
    return [(action.kind, action.days_left) for action in report_projects if action.project_id == pid]


def test_project_lifecycle_under_a_short_clock(clocked: ClockedGateway, user: str) -> None:
    clock = clocked.clock
    with clocked.client(user) as api, clocked.client(user + "-other") as other:
        created = api.post(
            "/v1/projects",
            json={"prefix": "life", "name": "Café 🎉 100% ", "cleanup_after_days": 10, "warning_days": 3},
        )
        assert created.status_code == 201, created.text
        pid = created.json()["id"]
        start = clock.now
        assert _at(created.json()["cleanup_at"]) == _at(created.json()["created_at"]) + 10 * DAY  # type: ignore[operator]
        assert created.json()["warnings"] == []
        # Another user's pinned project: the janitor leaves it alone throughout, and neither reaches the other's.
        theirs = other.post("/v1/projects", json={"cleanup_after_days": 30, "warning_days": 3}).json()["id"]
        assert other.post(f"/v1/projects/{theirs}/pin").status_code == 200
        assert api.get(f"/v1/projects/{theirs}").status_code == 404
        assert other.get(f"/v1/projects/{pid}").status_code == 404

        # Activity: a session created in it five days later moves the cleanup.
        clock.advance(5)
        sid = api.post(f"/v1/projects/{pid}/sessions", json={"name": "run ü"}).json()["id"]
        put = api.put(f"/v1/sessions/{sid}/files/{quote(FILE)}", content=b"kept", headers={"X-Tier": "permanent"})
        assert put.status_code == 201, put.text
        body = _project(api, pid)
        assert body["session_count"] == 1
        assert _at(body["cleanup_at"]) == _at(body["last_activity_at"]) + 10 * DAY  # type: ignore[operator]
        assert _at(body["last_activity_at"]) >= start + 5 * DAY  # type: ignore[operator]
        assert body["warnings"] == []
        assert _mine(clocked.janitor(dry_run=True)[0].projects, pid) == []

        # Within the warning days: the API warns at once; until the janitor has warned, cleanup is 3 days off.
        clock.advance(7.5)
        body = _project(api, pid)
        assert [w["kind"] for w in body["warnings"]] == ["cleanup"]
        assert _at(body["cleanup_at"]) == clock.now + 3 * DAY
        assert body["warnings"][0]["days_left"] == 3

        # A dry run lists the warning and changes nothing.
        report, heard = clocked.janitor(dry_run=True)
        assert _mine(report.projects, pid) == [(WARN, 3)]
        assert heard == []
        assert _project(api, pid) == body

        # The run announces it once, and fixes the cleanup time; a second run the same day announces nothing.
        report, heard = clocked.janitor(dry_run=False)
        assert _mine(report.projects, pid) == [(WARN, 3)]
        warned = [c for c in heard if c.action == changes.PROJECT_CLEANUP_WARNING]
        assert [(c.detail["project"], c.detail["days_left"], c.actor.kind) for c in warned] == [(pid, 3, "janitor")]
        assert _mine(report.projects, theirs) == []
        cleanup_at = _at(_project(api, pid)["cleanup_at"])
        assert cleanup_at == clock.now + 3 * DAY
        report, heard = clocked.janitor(dry_run=False)
        assert _mine(report.projects, pid) == [] and heard == []
        # A day on: the next warning, same cleanup time.
        clock.advance(1)
        report, heard = clocked.janitor(dry_run=False)
        assert _mine(report.projects, pid) == [(WARN, 2)]
        assert [c.detail["days_left"] for c in heard if c.action == changes.PROJECT_CLEANUP_WARNING] == [2]
        assert _at(_project(api, pid)["cleanup_at"]) == cleanup_at

        # Pinned: no cleanup, no warnings, however long it stays idle.
        pinned = api.post(f"/v1/projects/{pid}/pin")
        assert pinned.status_code == 200, pinned.text
        assert pinned.json()["pinned"] is True
        assert pinned.json()["cleanup_at"] is None and pinned.json()["warnings"] == []
        clock.advance(40)
        assert _mine(clocked.janitor(dry_run=False)[0].projects, pid) == []
        assert api.get(f"/v1/sessions/{sid}").status_code == 200

        # Unpinned: inactivity counts again, from now.
        unpinned = api.post(f"/v1/projects/{pid}/unpin").json()
        assert unpinned["pinned"] is False
        assert _at(unpinned["cleanup_at"]) == clock.now + 10 * DAY
        assert unpinned["warnings"] == []

        # Extended: five days past its cleanup time.
        extended = api.post(f"/v1/projects/{pid}/extend", json={"days": 5}).json()
        assert _at(extended["cleanup_at"]) == clock.now + 15 * DAY
        assert _at(extended["keep_until"]) == clock.now + 15 * DAY
        clock.advance(12.5)
        assert _mine(clocked.janitor(dry_run=True)[0].projects, pid) == [(WARN, 3)]
        report, _ = clocked.janitor(dry_run=False)
        assert _mine(report.projects, pid) == [(WARN, 3)]

        # Past it: a dry run lists the cleanup and deletes nothing; the run deletes the session, then the project.
        clock.advance(3)
        report, heard = clocked.janitor(dry_run=True)
        assert _mine(report.projects, pid) == [(CLEAN_UP, 0)]
        assert heard == [] and api.get(f"/v1/sessions/{sid}").status_code == 200
        report, heard = clocked.janitor(dry_run=False)
        assert [(a.kind, a.sessions) for a in report.projects if a.project_id == pid] == [(CLEAN_UP, 1)]
        done = {(c.action, c.actor.kind) for c in heard}
        assert {(changes.SESSION_DELETED, "janitor"), (changes.PROJECT_CLEANED_UP, "janitor")} <= done
        assert api.get(f"/v1/projects/{pid}").status_code == 404
        assert api.get(f"/v1/sessions/{sid}").status_code == 404
        assert pid not in [p["id"] for p in api.get("/v1/projects").json()["items"]]
        assert other.get(f"/v1/projects/{theirs}").status_code == 200

        # Recoverable: the automatic snapshot taken before the delete brings the session and its file back.
        snapshots = api.get(f"/v1/sessions/{sid}/snapshots")
        assert snapshots.status_code == 200, snapshots.text
        [snapshot] = [s["name"] for s in snapshots.json()["items"]]
        restored = api.post(f"/v1/sessions/{sid}/snapshots/{snapshot}/restore", json={})
        assert restored.status_code == 200, restored.text
        assert api.get(f"/v1/sessions/{sid}/files/{quote(FILE)}").content == b"kept"
