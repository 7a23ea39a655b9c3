"""The console's recovery panel in headless Chromium (both backends): a folder brought back to a moment after its
dry-run plan, snapshots taken, restored and deleted, and a redacted zip exported by its presigned link."""

from __future__ import annotations

import io
import json
import re
import unicodedata
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.api.test_forking import after_the_second_of
from tests.conftest import Gateway
from tests.console.conftest import AXE, IMAGES
from tests.console.pages import axe_violations, file_url, new_session, open_session

NFD = unicodedata.normalize("NFD", "Café crème")
FOLDER = f"notes/{NFD} 🎉/"
STORED = unicodedata.normalize("NFC", FOLDER)  # paths are stored NFC
OTHER = "autre 100%/x %41.txt"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
ONE_OF_EACH = "1 file comes back, 1 file changes back, 1 file is deleted, 1 file stays"


# A zone half an hour off UTC: a moment typed into the page must be read in it, not in UTC.
ZONE = "Asia/Kolkata"


@pytest.fixture
def zoned_page(browser: Browser) -> Iterator[Page]:
    """A page whose browser lives in ZONE (the shared `page` lives in UTC)."""
    context = browser.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB", timezone_id=ZONE)
    context.add_init_script(path=str(AXE))
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == []


def put(api: httpx.Client, sid: str, path: str, data: bytes) -> None:
    response = api.put(file_url(sid, path), content=data, headers={"content-type": "text/plain"})
    assert response.status_code in (200, 201), response.text


def files(api: httpx.Client, sid: str, prefix: str = "") -> dict[str, bytes]:
    listed = api.get(f"/v1/sessions/{sid}/files", params={"prefix": prefix, "limit": "1000"}).json()["items"]
    return {item["path"]: api.get(file_url(sid, item["path"])).content for item in listed}


def panel(page: Page) -> Any:
    details = page.locator("details.recovery")
    details.locator("summary").click()
    expect(details).to_have_attribute("open", "")
    return details


def open_folder(page: Page) -> None:
    tree = page.get_by_role("navigation", name="Folders")
    tree.get_by_role("button", name="notes", exact=True).click()
    tree.get_by_role("button", name=unicodedata.normalize("NFC", f"{NFD} 🎉")).click()
    expect(page.locator("#folder-heading")).to_have_text(f"Folder {STORED}")


def test_restore_a_folder_to_a_moment_then_snapshots(gateway: Gateway, zoned_page: Page) -> None:
    page = zoned_page
    user = f"console-{uuid.uuid4().hex[:10]}"
    with gateway.client(user) as api:
        sid = new_session(api, "Récupération 🎉 100%")
        for name, body in [("a ünï.txt", b"first"), ("100% plan.md", b"plan"), ("gone 🎉.txt", b"bye")]:
            put(api, sid, FOLDER + name, body)
        put(api, sid, OTHER, b"other v1")
        then = files(api, sid, STORED)
        # The moment: the next whole second (a datetime-local input counts seconds); what follows is written in a
        # later second still, since some backends (moto) date versions to the second.
        moment = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        after_the_second_of(moment.isoformat())
        put(api, sid, FOLDER + "a ünï.txt", b"second")
        assert api.delete(file_url(sid, FOLDER + "gone 🎉.txt")).status_code == 204
        put(api, sid, FOLDER + "new 50%.txt", b"added")
        put(api, sid, OTHER, b"other v2")

        open_session(page, gateway, gateway.token(user), sid)
        open_folder(page)
        recovery = panel(page)
        # The folder in view is the one proposed. A moment in the future is refused in words.
        restoring = recovery.locator("form", has_text="Restore to a moment")
        expect(restoring.get_by_label("Folder (empty: the whole session)")).to_have_value(STORED)
        when = restoring.get_by_label(re.compile("^Moment"))
        when.fill("2099-01-01T00:00:00")
        recovery.get_by_role("button", name="Show what would change").click()
        expect(page.locator("section.plan").get_by_role("alert")).to_contain_text("in the future")
        # The moment is typed as the clock on the wall reads it, in the browser's zone.
        when.fill(moment.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M:%S"))
        recovery.get_by_role("button", name="Show what would change").click()
        plan = page.locator("section.plan")
        expect(plan.locator(".counts")).to_have_text(ONE_OF_EACH)
        expect(plan.locator(".paths.back li")).to_have_text([STORED + "gone 🎉.txt"])
        expect(plan.locator(".paths.edited li")).to_have_text([STORED + "a ünï.txt"])
        expect(plan.locator(".paths.deleted li")).to_have_text([STORED + "new 50%.txt"])
        assert files(api, sid, STORED) != then  # the plan changed nothing
        assert axe_violations(page) == []

        plan.get_by_role("button", name="Restore").click()
        expect(plan.locator("#plan-heading")).to_contain_text("Done")
        expect(plan.locator(".counts")).to_contain_text("To undo it, restore the snapshot auto-")
        assert files(api, sid, STORED) == then
        assert api.get(file_url(sid, OTHER)).content == b"other v2"  # another folder is left as it is
        expect(page.locator("tr.file .name")).to_have_text(["100% plan.md", "a ünï.txt", "gone 🎉.txt"])
        # Asking again: nothing left to change.
        recovery.get_by_role("button", name="Show what would change").click()
        expect(plan.locator(".nothing")).to_have_text("Nothing would change: all 3 files are as they were then.")

        # Snapshots: take one of the folder, change a file, restore the snapshot after its plan, delete it.
        taking = recovery.locator("form", has_text="Take a snapshot")
        taking.get_by_label("Name").fill("avant-1")
        taking.get_by_label("Folder (empty: the whole session)").fill(STORED)
        recovery.get_by_role("button", name="Take a snapshot").click()
        row = recovery.locator("tr.snapshot", has_text="avant-1")
        expect(row).to_contain_text(f"Made by you{STORED} · 3 files")
        # The restore above took its undo snapshot first, listed as automatic.
        expect(recovery.locator("tr.snapshot", has_text="Automatic, before restore")).to_have_count(1)
        put(api, sid, FOLDER + "100% plan.md", b"plan changed")
        row.get_by_role("button", name="Restore avant-1").click()
        expect(plan.locator(".paths.edited li")).to_have_text([STORED + "100% plan.md"])
        plan.get_by_role("button", name="Restore").click()
        expect(plan.locator("#plan-heading")).to_contain_text("Done: restore snapshot avant-1")
        assert files(api, sid, STORED) == then
        row.get_by_role("button", name="Delete avant-1").click()
        row.get_by_role("button", name="Yes, delete").click()
        expect(recovery.locator("tr.snapshot", has_text="avant-1")).to_have_count(0)
        names = [item["name"] for item in api.get(f"/v1/sessions/{sid}/snapshots").json()["items"]]
        assert "avant-1" not in names and len(names) == 2

        # A name the routes refuse is said in words.
        recovery.get_by_label("Name").fill("é 🎉")
        recovery.get_by_role("button", name="Take a snapshot").click()
        expect(recovery.locator("form", has_text="Take a snapshot").get_by_role("alert")).to_contain_text(
            "Not taken: name"
        )
        assert axe_violations(page) == []


def test_export_a_redacted_zip_and_from_the_list(gateway: Gateway, page: Page) -> None:
    user = f"console-{uuid.uuid4().hex[:10]}"
    with gateway.client(user) as api:
        sid = new_session(api, "Export été 🎉 100%")
        secret = f"aws_key = {AWS_KEY}\nnom: {NFD}\n".encode()
        put(api, sid, FOLDER + "config 🎉.env", secret)
        put(api, sid, FOLDER + "100% ünï.txt", b"plain words")
        put(api, sid, OTHER, b"outside the folder")

        open_session(page, gateway, gateway.token(user), sid)
        open_folder(page)
        recovery = panel(page)
        form = recovery.locator("form", has_text="Export as a zip")
        expect(form.get_by_label("Folder (empty: the whole session)")).to_have_value(STORED)
        expect(form.get_by_label("Redact secrets")).to_be_checked()
        sent: list[str] = []
        page.on("request", lambda request: sent.append(request.url))
        with page.expect_download() as downloading:
            form.get_by_role("button", name="Export zip").click()
        saved = downloading.value.path()
        expect(form.get_by_role("status")).to_have_text(f"Exported {STORED}, redacted.")
        assert not [url for url in sent if "token" in url.lower() or "export.zip" in url]
        with zipfile.ZipFile(io.BytesIO(saved.read_bytes())) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            entries = {name: archive.read(name) for name in archive.namelist() if name != "manifest.json"}
        assert sorted(entries) == [STORED + "100% ünï.txt", STORED + "config 🎉.env"]
        assert entries[STORED + "100% ünï.txt"] == b"plain words"
        redacted = entries[STORED + "config 🎉.env"].decode()
        assert AWS_KEY not in redacted and "[REDACTED:aws-access-key-id]" in redacted and NFD in redacted
        assert manifest["redact"] is True and manifest["selection"]["prefix"] == STORED
        assert manifest["redaction"]["replaced"] == {"aws-access-key-id": 1}
        by_path = {item["path"]: item for item in manifest["files"]}
        assert by_path[STORED + "config 🎉.env"]["original"]["size"] == len(secret)
        assert by_path[STORED + "config 🎉.env"]["size"] == len(redacted.encode())
        assert by_path[STORED + "100% ünï.txt"]["redaction"]["replaced"] == {}
        assert axe_violations(page) == []

        # The list's quick action: the whole session, as it is.
        page.goto(f"{gateway.url}/console/")
        with page.expect_download() as downloading:
            page.get_by_role("button", name="Export Export été 🎉 100%").click()
        whole = downloading.value.path()
        with zipfile.ZipFile(io.BytesIO(whole.read_bytes())) as archive:
            assert archive.read(OTHER) == b"outside the folder"
            assert archive.read(STORED + "config 🎉.env") == secret
            assert json.loads(archive.read("manifest.json"))["redact"] is False


def test_the_plan_screenshot(clocked_gateway: Gateway, page: Page) -> None:
    gateway = clocked_gateway
    user = f"console-{uuid.uuid4().hex[:10]}"
    with gateway.client(user) as api:
        sid = new_session(api, "Rapport été 🎉")
        for name, body in [("résumé.md", b"v1"), ("100% plan.txt", b"plan"), ("brouillon 🎉.txt", b"draft")]:
            put(api, sid, FOLDER + name, body)
        made = api.post(f"/v1/sessions/{sid}/snapshots", json={"name": "before-review", "prefix": STORED})
        assert made.status_code == 201, made.text
        put(api, sid, FOLDER + "résumé.md", b"v2")
        assert api.delete(file_url(sid, FOLDER + "brouillon 🎉.txt")).status_code == 204
        put(api, sid, FOLDER + "notes ünï 50%.txt", b"new")

        open_session(page, gateway, gateway.token(user), sid)
        open_folder(page)
        recovery = panel(page)
        # The quick choices count from the page's clock (fixed): the moment reads the same on every run.
        recovery.get_by_role("button", name="Yesterday, same time").click()
        expect(recovery.get_by_label("Moment (your time zone, UTC)")).to_have_value("2026-03-01T10:30")
        recovery.get_by_role("button", name="Restore before-review").click()
        plan = page.locator("section.plan")
        expect(plan.locator(".counts")).to_have_text(ONE_OF_EACH)
        expect(plan.locator(".paths.deleted li")).to_have_text([STORED + "notes ünï 50%.txt"])
        assert axe_violations(page) == []
        page.emulate_media(color_scheme="dark")
        assert axe_violations(page) == []
        page.emulate_media(color_scheme="light")
        if gateway.backend.name == "moto":
            # The panel alone: the file list above it shows S3's own dates, which no clock of ours sets.
            IMAGES.mkdir(parents=True, exist_ok=True)
            recovery.screenshot(path=str(IMAGES / "console-restore-plan.png"))
