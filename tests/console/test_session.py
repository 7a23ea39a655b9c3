"""The console's session view in headless Chromium (both backends): folders and files, uploads by a dropped
DataTransfer (a plain PUT and, above the threshold, tus), tier, move, delete, download, and no way into another
user's session."""

from __future__ import annotations

import unicodedata
import uuid

from playwright.sync_api import Page, expect

from tests.conftest import Gateway
from tests.console.conftest import FIXED_NOW, screenshot
from tests.console.pages import DROP, axe_violations, file_url, fix_file_times, new_session, open_session

NFD = unicodedata.normalize("NFD", "Café crème")


def test_folders_drop_upload_tier_move_delete_download(gateway: Gateway, page: Page) -> None:
    user = f"console-{uuid.uuid4().hex[:10]}"
    with gateway.client(user) as api:
        sid = new_session(api, "Rapport été 🎉")
        nested = f"notes/{NFD}/plan 100% 🎉.txt"
        assert api.put(file_url(sid, nested), content=b"plan").status_code == 201
        open_session(page, gateway, gateway.token(user), sid)

        # The tree shows the top folder; opening it shows the folder below, names as typed.
        page.get_by_role("navigation", name="Folders").get_by_role("button", name="notes").click()
        expect(page.locator("#folder-heading")).to_have_text("Folder notes/")
        # Paths are stored NFC (the path rules), so the folder typed in NFD reads back composed.
        page.get_by_role("navigation", name="Folders").get_by_role(
            "button", name=unicodedata.normalize("NFC", NFD)
        ).click()
        row = page.locator("tr.file").first
        expect(row.locator(".name")).to_have_text("plan 100% 🎉.txt")
        expect(row).to_contain_text("4 bytes")

        # Dropped files land in the folder in view, each with its own line; markup in a name stays text.
        hostile = '<img src=x onerror="window.pwned=1">.txt'
        page.evaluate(DROP, [[{"name": "ünïcode 50%.txt", "text": "hello"}, {"name": hostile, "text": "x"}]])
        expect(page.locator("li.upload.done")).to_have_count(2)
        folder = f"notes/{NFD}/"
        listed = api.get(f"/v1/sessions/{sid}/files", params={"prefix": folder}).json()["items"]
        assert sorted(item["path"] for item in listed) == sorted(
            unicodedata.normalize("NFC", folder + name) for name in ["plan 100% 🎉.txt", "ünïcode 50%.txt", hostile]
        )
        expect(page.locator("tr.file")).to_have_count(3)
        assert page.evaluate("window.pwned") is None

        # Dropping the same name again is refused for that file alone, in words.
        page.evaluate(DROP, [[{"name": "ünïcode 50%.txt", "text": "again"}]])
        expect(page.locator("li.upload.failed")).to_contain_text("a file with this name is already there")

        # Change tier, move, delete: each lands in the API.
        target = page.locator("tr.file", has_text="ünïcode 50%.txt")
        target.get_by_label("Tier of ünïcode 50%.txt").select_option("persistent")
        expect(page.locator("#toast")).to_contain_text("persistent")
        path = unicodedata.normalize("NFC", folder + "ünïcode 50%.txt")
        assert api.head(file_url(sid, path)).headers["x-tier"] == "persistent"

        with page.expect_download() as downloading:
            target.get_by_role("button", name="Download ünïcode 50%.txt").click()
        saved = downloading.value.path()
        assert saved is not None and saved.read_bytes() == b"hello"

        target.get_by_role("button", name="Move ünïcode 50%.txt").click()
        field = page.get_by_label("New path of ünïcode 50%.txt")
        field.fill("moved/été.txt")
        field.press("Enter")
        expect(page.locator("#toast")).to_contain_text("Moved to moved/été.txt")
        assert api.get(file_url(sid, "moved/été.txt")).content == b"hello"
        assert api.head(file_url(sid, path)).status_code == 404

        page.locator("tr.file", has_text="plan 100%").get_by_role("button", name="Delete plan 100% 🎉.txt").click()
        expect(page.locator("tr.file", has_text="plan 100%")).to_have_count(0)
        assert api.head(file_url(sid, nested)).status_code == 404

        assert axe_violations(page) == []


def test_another_users_session_is_not_found(gateway: Gateway, page: Page) -> None:
    user = f"console-{uuid.uuid4().hex[:10]}"
    with gateway.client(f"other-{user}") as other:
        theirs = new_session(other, "Someone else's secret plans")
        assert other.put(file_url(theirs, "secret.txt"), content=b"s").status_code == 201
    open_session(page, gateway, gateway.token(user), theirs)
    expect(page.get_by_role("alert")).to_have_text("This session does not exist.")
    assert "secret" not in page.content()


def test_the_session_view_pictured_for_the_docs(clocked_gateway: Gateway, page: Page) -> None:
    """The pictures in docs/console.md: one folder open, light, dark and at a phone's width (moto writes them)."""
    gateway = clocked_gateway
    user = f"console-{uuid.uuid4().hex[:10]}"
    with gateway.client(user) as api:
        sid = new_session(api, "Rapport été 🎉")
        files = {
            "brief.md": b"# Brief\n",
            f"notes/{NFD}.txt": b"x" * 1800,
            "notes/plan 100% 🎉.txt": b"plan",
            "notes/schéma.png": b"p" * 48_000,
            "données/mesures.csv": b"a,b\n" * 70_000,
        }
        for path, body in files.items():
            assert api.put(file_url(sid, path), content=body).status_code == 201
        assert api.patch(file_url(sid, "notes/schéma.png"), json={"tier": "persistent"}).status_code == 200
        fix_file_times(page, FIXED_NOW)
        open_session(page, gateway, gateway.token(user), sid)
        page.get_by_role("navigation", name="Folders").get_by_role("button", name="notes").click()
        expect(page.locator("tr.file")).to_have_count(3)
        expect(page.locator("tr.file").first).to_contain_text("2 Mar 2026")
        # The tree is drawn apart from the files: wait until it shows the open folder too.
        expect(page.locator(".tree [aria-current='true']")).to_have_text("notes")
        assert axe_violations(page) == []
        if gateway.backend.name == "moto":
            screenshot(page, "console-session-light.png")
            page.emulate_media(color_scheme="dark")
            assert axe_violations(page) == []
            screenshot(page, "console-session-dark.png")
            page.emulate_media(color_scheme="light")
            page.set_viewport_size({"width": 390, "height": 844})
            screenshot(page, "console-session-phone.png")


def _tab_to(page: Page, label: str, presses: int = 60) -> None:
    """Press Tab until the focused element is the one labelled `label`: reachable by keyboard alone, in order."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if (
            page.evaluate("document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.textContent")
            == label
        ):
            return
    raise AssertionError(f"{label!r} was not reached by {presses} presses of Tab")


def test_a_folder_deleted_by_keyboard_after_a_second_choice(gateway: Gateway, page: Page) -> None:
    user = f"console-{uuid.uuid4().hex[:10]}"
    folder = f"brouillons {NFD} 100% 🎉/"
    with gateway.client(user) as api:
        sid = new_session(api, "Clavier ⌨️")
        for path in [f"{folder}a.txt", f"{folder}sub/b.txt", "kept.txt"]:
            assert api.put(file_url(sid, path), content=b"x").status_code == 201
        open_session(page, gateway, gateway.token(user), sid)
        shown = unicodedata.normalize("NFC", folder.rstrip("/"))
        expect(page.locator("tr.folder-row")).to_have_count(1)

        _tab_to(page, f"Delete folder {shown}")
        page.keyboard.press("Enter")
        # A second choice is asked for, and the safe one has the focus: Enter alone deletes nothing.
        expect(page.get_by_role("alert")).to_have_text(f"Delete everything in {unicodedata.normalize('NFC', folder)}?")
        page.keyboard.press("Enter")
        expect(page.locator("tr.folder-row")).to_have_count(1)
        assert len(api.get(f"/v1/sessions/{sid}/files").json()["items"]) == 3

        _tab_to(page, f"Delete folder {shown}")
        page.keyboard.press("Enter")
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Enter")
        expect(page.locator("#toast")).to_contain_text("Deleted")
        expect(page.locator("tr.folder-row")).to_have_count(0)
        assert [item["path"] for item in api.get(f"/v1/sessions/{sid}/files").json()["items"]] == ["kept.txt"]
        # Deleted, not purged: the history of a file in it is still there.
        history = api.get(
            f"/v1/sessions/{sid}/history", params={"path": unicodedata.normalize("NFC", f"{folder}a.txt")}
        )
        assert history.status_code == 200 and len(history.json()["items"]) >= 2
