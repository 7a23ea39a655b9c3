"""`session-gateway janitor run --dry-run` shows the projects that would be warned about or cleaned up, and
changes nothing. The command runs on the real clock: the projects were made on the gateway's clock set back."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from tests.policy.test_commands import policy_env
from tests.projects.conftest import ClockedGateway


def test_janitor_dry_run_lists_warnings_and_cleanups(clocked: ClockedGateway, user: str) -> None:
    clock = clocked.clock
    real = datetime.now(UTC)
    clock.now = real - timedelta(days=20)
    with clocked.client(user) as api:
        due = api.post("/v1/projects", json={"prefix": "due", "cleanup_after_days": 10, "warning_days": 3}).json()
        sid = api.post(f"/v1/projects/{due['id']}/sessions", json={"name": "é 🎉 100%"}).json()["id"]
        idle = api.post("/v1/projects", json={"prefix": "idle", "cleanup_after_days": 10, "warning_days": 3}).json()
        clock.now = real - timedelta(days=8, hours=12)
        soon = api.post("/v1/projects", json={"prefix": "soon", "cleanup_after_days": 10, "warning_days": 3}).json()
        # Five days ago the janitor warned about the two idle ones (`soon` was not near its cleanup yet), and one
        # of them was used just after.
        clock.now = real - timedelta(days=5)
        report, _ = clocked.janitor(dry_run=False)
        assert sorted(a.project_id for a in report.projects if a.kind == "warn") == sorted([due["id"], idle["id"]])
        assert api.patch(f"/v1/projects/{idle['id']}", json={"name": "used"}).status_code == 200
        clock.now = real

        result = subprocess.run(
            [sys.executable, "-m", "gateway", "janitor", "run", "--dry-run"],
            env=policy_env(clocked.backend, clocked.settings.bucket),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        cleanups = [line for line in lines if line.startswith(f"would clean up project {due['id']} ")]
        assert len(cleanups) == 1 and "and its 1 session(s)" in cleanups[0]
        assert not [line for line in lines if idle["id"] in line]  # used five days ago: nothing to say yet
        warnings = [line for line in lines if line.startswith(f"would warn project {soon['id']} ")]
        assert len(warnings) == 1 and "cleanup in 3 day(s)" in warnings[0]
        assert "project(s): clean-up" in result.stdout
        # Nothing changed.
        assert api.get(f"/v1/projects/{due['id']}").status_code == 200
        assert api.get(f"/v1/sessions/{sid}").status_code == 200
