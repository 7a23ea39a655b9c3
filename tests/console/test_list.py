"""The console's sign-in and session list in headless Chromium, against a running gateway (both backends)."""

from __future__ import annotations

import unicodedata
import uuid

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Gateway
from tests.console.conftest import screenshot

# What people type, shown exactly as typed: accents (composed and not), emoji, percent signs, and markup.
NAMES = [
    "Rapport été 🎉",
    unicodedata.normalize("NFD", "Café crème notes"),
    "100% done %41 %%",
    "<script>window.pwned = 1</script>",
    '<img src=x onerror="window.pwned = 1">',
]


def _create(api: httpx.Client, name: str, **fields: object) -> str:
    response = api.post("/v1/sessions", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _sign_in(page: Page, gateway: Gateway, token: str) -> None:
    page.goto(f"{gateway.url}/console/#token={token}")
    expect(page.locator("li.session").first).to_be_visible()


def _names(page: Page) -> list[str]:
    return sorted(page.locator("li.session .name").all_text_contents())


def test_signed_in_by_link_the_list_shows_own_sessions_as_typed(clocked_gateway: Gateway, page: Page) -> None:
    gateway = clocked_gateway
    user = f"console-{uuid.uuid4().hex[:10]}"
    with gateway.client(user) as api, gateway.client(f"other-{user}") as other:
        for name in NAMES:
            _create(api, name, tags=["console"])
        _create(other, "Someone else's secret plans")
        token = gateway.token(user)

        _sign_in(page, gateway, token)
        # The token left the address bar and the history entry at once; the tab keeps it.
        assert "token" not in page.url and page.url.endswith("/console/")
        assert page.evaluate("sessionStorage.getItem('session-gateway.token')") == token
        expect(page.locator("li.session")).to_have_count(len(NAMES))
        assert _names(page) == sorted(NAMES)
        # Every session is shown: there is nothing more to load.
        expect(page.get_by_role("button", name="Load more sessions")).to_be_hidden()
        # Markup in names stayed text: nothing ran, nothing was added to the page.
        assert page.evaluate("window.pwned") is None
        assert page.locator("main script, main img").count() == 0
        assert "secret plans" not in page.content()
        expect(page.get_by_role("heading", name="Today")).to_be_visible()
        expect(page.locator("li.session").first).to_contain_text("0 files · 0 bytes")

        violations = page.evaluate(
            "async () => (await axe.run(document)).violations"
            ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
            ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
        )
        assert violations == []
        if gateway.backend.name == "moto":
            screenshot(page, "console-list-light.png")
            page.emulate_media(color_scheme="dark")
            assert page.evaluate("axe.run(document).then(r => r.violations.filter(v => v.impact === 'serious'))") == []
            screenshot(page, "console-list-dark.png")
            page.emulate_media(color_scheme="light")
            page.set_viewport_size({"width": 390, "height": 844})
            screenshot(page, "console-list-phone.png")

        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        assert page.evaluate("sessionStorage.length") == 0


def test_search_filter_rename_and_undo_a_delete(gateway: Gateway, page: Page) -> None:
    user = f"console-{uuid.uuid4().hex[:10]}"
    with gateway.client(user) as api:
        ids = {name: _create(api, name, tags=["q3"] if "Rapport" in name else []) for name in NAMES}
        assert api.post(f"/v1/sessions/{ids[NAMES[2]]}/end").status_code == 200
        _sign_in(page, gateway, gateway.token(user))

        # Search ignores case and accents, as the API does.
        page.get_by_label("Search").fill("RAPPORT ETE")
        expect(page.locator("li.session")).to_have_count(1)
        assert _names(page) == [NAMES[0]]
        page.get_by_label("Search").fill("")
        expect(page.locator("li.session")).to_have_count(len(NAMES))
        page.get_by_label("State").select_option("ended")
        expect(page.locator("li.session")).to_have_count(1)
        assert _names(page) == [NAMES[2]]
        page.get_by_label("State").select_option("")
        page.get_by_label("Tags", exact=True).fill("q3")
        expect(page.locator("li.session")).to_have_count(1)
        page.get_by_label("Tags", exact=True).fill("")
        expect(page.locator("li.session")).to_have_count(len(NAMES))

        # Rename in place, from the keyboard: the API holds the new name exactly as typed (NFD kept).
        renamed = unicodedata.normalize("NFD", "Été 2026 🎉 50%")
        row = page.locator(f"li.session[data-id='{ids[NAMES[3]]}']")
        row.get_by_role("button", name="Rename").click()
        field = row.get_by_role("textbox")
        field.fill(renamed)
        field.press("Enter")
        expect(row.locator(".name")).to_have_text(renamed)
        assert api.get(f"/v1/sessions/{ids[NAMES[3]]}").json()["name"] == renamed

        # Delete, then undo through the snapshot the gateway took first: the session is back.
        gone = ids[NAMES[1]]
        page.locator(f"li.session[data-id='{gone}']").get_by_role("button", name="Delete").click()
        expect(page.locator(f"li.session[data-id='{gone}']")).to_have_count(0)
        assert api.get(f"/v1/sessions/{gone}").status_code == 404
        page.get_by_role("button", name="Undo").click()
        expect(page.locator(f"li.session[data-id='{gone}']")).to_have_count(1)
        assert api.get(f"/v1/sessions/{gone}").json()["name"] == NAMES[1]

        # A new session from the list: named as typed, its tier for new files set, opened at once.
        made = unicodedata.normalize("NFD", "Nouvelle séance 🎉 100%")
        page.get_by_role("button", name="New session").click()
        form = page.get_by_role("form", name="New session")
        form.get_by_label("Name").fill(made)
        form.get_by_label("Tier of new files").select_option("persistent")
        form.get_by_role("button", name="Create").click()
        expect(page.locator("h2.title")).to_have_text(made)
        sid = page.url.split("session=")[1]
        record = api.get(f"/v1/sessions/{sid}").json()
        assert (record["name"], record["default_tier"], record["state"]) == (made, "persistent", "active")
        assert "token" not in page.url
