"""The console's sharing panel in headless Chromium (both backends): a share link made, copied, opened without a
login and revoked; a folder granted to another user, who reads inside it and not outside, sees that only the owner
shares, and loses it on revoke."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import timedelta

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.conftest import Gateway
from tests.console.conftest import FIXED_NOW, IMAGES
from tests.console.pages import axe_violations, file_url, new_session, open_session

NFD = unicodedata.normalize("NFD", "Équipe été")
NFC = unicodedata.normalize("NFC", NFD)


def test_share_link_and_grant_from_the_console(gateway: Gateway, page: Page, browser: Browser) -> None:
    owner = f"share-{uuid.uuid4().hex[:10]}"
    reader = f"lecteur-é🎉-{uuid.uuid4().hex[:6]}"
    folder = f"docs/{NFD}/"
    inside = unicodedata.normalize("NFC", f"{folder}rapport 100% 🎉.txt")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    with gateway.client(owner) as api, gateway.client(reader) as theirs:
        sid = new_session(api, "Partage 🎉 100%")
        assert api.put(file_url(sid, f"{folder}rapport 100% 🎉.txt"), content=b"inside bytes").status_code == 201
        assert api.put(file_url(sid, "secret 🎉.txt"), content=b"outside").status_code == 201
        open_session(page, gateway, gateway.token(owner), sid)
        folders = page.get_by_role("navigation", name="Folders")
        folders.get_by_role("button", name="docs").click()
        folders.get_by_role("button", name=NFC).click()
        expect(page.locator("#folder-heading")).to_have_text(f"Folder docs/{NFC}/")
        page.locator("summary", has_text="Sharing").click()

        # A link to the file (named with NFD, emoji and %), at most 5 downloads: shown in a field, copied.
        page.get_by_label("What").select_option(f"file:{inside}")
        page.get_by_label("Most downloads").fill("5")
        page.get_by_role("button", name="Create link").click()
        url = page.locator("#share-url").input_value()
        assert url.startswith(f"{gateway.url}/s/")
        page.locator(".share-made").get_by_role("button", name="Copy").click()
        expect(page.locator(".share-made")).to_contain_text("Copied to the clipboard.")
        assert page.evaluate("navigator.clipboard.readText()") == url

        # Anyone holding it downloads the bytes, without a token; the panel counts it.
        opened = httpx.get(url, follow_redirects=True, timeout=30)
        assert opened.status_code == 200 and opened.content == b"inside bytes"
        listed = api.get(f"/v1/sessions/{sid}/shares").json()["items"]
        assert [(item["path"], item["downloads"], item["max_downloads"]) for item in listed] == [(inside, 1, 5)]
        page.locator("summary", has_text="Sharing").click()
        page.locator("summary", has_text="Sharing").click()  # closed and opened again: listed afresh
        row = page.locator("tr.share", has_text="rapport 100% 🎉.txt")
        expect(row).to_contain_text("1 of 5")
        expect(row.locator(".share-state")).to_have_text("active")

        # Grant the reader this folder: they read inside it, not outside.
        page.get_by_label("User").fill(reader)
        page.get_by_label("Opens").select_option(folder.replace(NFD, NFC))
        page.get_by_role("button", name="Grant").click()
        grant_row = page.locator("tr.grant", has_text=reader)
        expect(grant_row).to_contain_text(f"folder docs/{NFC}/")
        assert theirs.get(file_url(sid, inside)).content == b"inside bytes"
        assert theirs.get(file_url(sid, "secret 🎉.txt")).status_code == 404
        assert axe_violations(page) == []

        # The reader's console opens the shared session; its sharing panel says plainly who may share.
        context = browser.new_context(locale="en-GB", timezone_id="UTC")
        try:
            second = context.new_page()
            open_session(second, gateway, gateway.token(reader), sid)
            expect(second.locator(".meta")).to_contain_text(f"shared with you · read access · folder docs/{NFC}/")
            second.locator("summary", has_text="Sharing").click()
            expect(second.locator(".owner-only")).to_have_text(
                "Only the owner of this session can share it or see who it is shared with."
            )
        finally:
            context.close()

        # Revoked in the console: the link and the grant answer 404 at once.
        row.get_by_role("button", name="Revoke link to " + inside).click()
        expect(page.locator("tr.share")).to_have_count(0)
        assert httpx.get(url, timeout=30).status_code == 404
        grant_row.get_by_role("button", name=f"Revoke access of {reader}").click()
        expect(page.locator("tr.grant")).to_have_count(0)
        assert theirs.get(file_url(sid, inside)).status_code == 404
        assert api.get(f"/v1/sessions/{sid}/grants").json()["items"] == []


def test_sharing_panel_screenshot(clocked_gateway: Gateway, page: Page) -> None:
    """The picture in docs/console.md: links (one used, one to a folder) and grants (one expired), no ids shown."""
    owner = "alice"
    with clocked_gateway.client(owner) as api:
        sid = new_session(api, "Rapport été 🎉 100%")
        path = unicodedata.normalize("NFC", f"rapports/{NFD} 100% 🎉.pdf")
        assert api.put(file_url(sid, path), content=b"%PDF").status_code == 201
        made = api.post(f"/v1/sessions/{sid}/shares", json={"path": path, "expires_in": 7 * 86400, "max_downloads": 20})
        assert made.status_code == 201, made.text
        assert httpx.get(made.json()["url"], follow_redirects=True, timeout=30).content == b"%PDF"
        assert api.post(f"/v1/sessions/{sid}/shares", json={"prefix": "rapports/"}).status_code == 201
        for user, ends in (("bob", FIXED_NOW + timedelta(days=30)), ("chloé", FIXED_NOW + timedelta(minutes=30))):
            grant = {"user": user, "access": "read", "prefix": "rapports/", "expires_at": ends.isoformat()}
            assert api.post(f"/v1/sessions/{sid}/grants", json=grant).status_code == 201, grant
        open_session(page, clocked_gateway, clocked_gateway.token(owner), sid)
        page.get_by_role("navigation", name="Folders").get_by_role("button", name="rapports").click()
        page.locator("summary", has_text="Sharing").click()
        expect(page.locator("tr.share")).to_have_count(2)
        # The page's clock is an hour past the gateway's: chloé's grant reads expired.
        expect(page.locator("tr.grant.expired")).to_contain_text("chloé")
        expect(page.locator("tr.grant", has_text="bob")).not_to_have_class("grant expired")
        # Creating waits for the choices of what to share: pictured once they are in.
        expect(page.get_by_role("button", name="Create link")).to_be_enabled()
        expect(page.get_by_label("What")).to_have_value("file:rapports/Équipe été 100% 🎉.pdf")
        assert axe_violations(page) == []
        # The panel alone: the file table beside it shows S3's own times, which no clock of ours sets.
        page.locator(".sharing").screenshot(path=str(IMAGES / "console-sharing.png"))
