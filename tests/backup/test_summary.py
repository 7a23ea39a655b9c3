"""What the backup commands say: the JSON summary for schedulers, the lines for people, progress on a terminal."""

from __future__ import annotations

import io
import json

from gateway.backup.progress import shown
from gateway.backup.summary import SHOWN_ERRORS, Summary
from gateway.errors import StoreError


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_summary_counts_bytes_seconds_and_errors() -> None:
    summary = Summary("backup run")
    summary.count("versions_copied", size=1000)
    summary.count("versions_copied", size=24)
    summary.fail("copy", "bytes differ", key="gw/o/é 🎉", version_id="v1")
    summary.failed_on("copy", StoreError("backend down"), key="k", version_id=None)
    document = json.loads(json.dumps(summary.finish().document()))
    assert document["command"] == "backup run" and document["ok"] is False
    assert document["counts"] == {"versions_copied": 2} and document["bytes"] == 1024
    assert document["seconds"] >= 0
    assert document["errors"] == [
        {"problem": "copy", "detail": "bytes differ", "key": "gw/o/é 🎉", "version_id": "v1"},
        {"problem": "copy", "detail": "backend down", "key": "k"},
    ]
    lines = summary.describe().splitlines()
    assert lines[0].startswith("backup run: versions copied 2; 1,024 bytes in ")
    assert lines[1] == "  copy: bytes differ key=gw/o/é 🎉 version_id=v1"


def test_a_long_list_of_errors_is_cut_for_people_but_not_for_schedulers() -> None:
    summary = Summary("backup verify")
    for n in range(SHOWN_ERRORS + 5):
        summary.fail("missing-in-backup", f"number {n}")
    assert summary.describe().splitlines()[-1] == "  ... and 5 more (--json lists them all)"
    assert len(summary.document()["errors"]) == SHOWN_ERRORS + 5


def test_progress_only_on_a_terminal() -> None:
    quiet, terminal = io.StringIO(), Terminal()
    for stream in (quiet, terminal):
        summary = Summary("backup run")
        with shown(summary, stream):
            summary.count("versions_copied", size=5)
        summary.count("after")  # the display is gone with the block
    assert quiet.getvalue() == ""
    assert "backup run" in terminal.getvalue()
