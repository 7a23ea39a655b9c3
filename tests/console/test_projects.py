"""The console's projects strip in headless Chromium (both backends): a project near its cleanup shows the warning
in words, choosing a project filters the list, Extend moves the cleanup time and Pin removes the warning, each as
the API then reports it."""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from gateway.api.app import create_app
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings
from tests.console.conftest import FIXED_NOW, IMAGES
from tests.console.pages import axe_violations

NFD = unicodedata.normalize("NFD", "Équipe été")


class MovableClock:
    """The gateway's now: set by the test, and a millisecond later on each reading, so that times stay distinct
    while every one shown (to the minute) is the same on every run."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.ticks = itertools.count()

    def __call__(self) -> datetime:
        return self.start + timedelta(milliseconds=next(self.ticks))

    def set(self, moment: datetime) -> None:
        self.start = moment


@pytest.fixture(scope="module")
def aged(backend: Backend) -> Iterator[tuple[Gateway, MovableClock]]:
    clock = MovableClock(FIXED_NOW - timedelta(days=10))
    settings = gateway_settings(backend, backend.new_bucket())
    with ServerThread(create_app(settings, credentials=backend.credentials, clock=clock)) as url:
        yield Gateway(backend=backend, settings=settings, url=url), clock


def _project(api: httpx.Client, **fields: Any) -> dict[str, Any]:
    made = api.post("/v1/projects", json=fields)
    assert made.status_code == 201, made.text
    return dict(made.json())


def test_project_warning_filter_extend_pin(aged: tuple[Gateway, MovableClock], page: Page) -> None:
    gateway, clock = aged
    user = "alice"
    with gateway.client(user) as api:
        # Ten days ago: a project due for cleanup after 12 idle days (warned 5 days ahead), one with a month, one
        # pinned. Prefixes keep their id order (the listing's) the same on every run.
        due = _project(api, prefix="acme", name="Rapport été 🎉 100%", cleanup_after_days=12, warning_days=5)
        calm = _project(api, prefix="beta", name=f"{NFD} <b>notes</b>", cleanup_after_days=30)
        kept = _project(api, prefix="cold", name="Archives 50% ✨")
        assert api.post(f"/v1/projects/{kept['id']}/pin").status_code == 200
        for project, name in ((due, "run é 🎉 1"), (calm, "brouillon 100%")):
            made = api.post(f"/v1/projects/{project['id']}/sessions", json={"name": name})
            assert made.status_code == 201, made.text
        assert api.post("/v1/sessions", json={"name": "loose 🎈"}).status_code == 201
        clock.set(FIXED_NOW)

        before = api.get(f"/v1/projects/{due['id']}").json()
        [warning] = before["warnings"]
        assert api.get(f"/v1/projects/{calm['id']}").json()["warnings"] == []

        page.goto(f"{gateway.url}/console/#token={gateway.token(user)}")
        strip = page.get_by_role("region", name="Projects")
        card = strip.locator("li.project", has_text="Rapport été 🎉 100%")
        expect(card.locator(".project-warning")).to_contain_text(
            f"Cleaned up in {warning['days_left']} days (", use_inner_text=True
        )
        expect(card.locator(".project-warning")).to_contain_text(
            "with its 1 session, unless it is used, pinned or extended."
        )
        expect(strip.locator("li.project", has_text="<b>notes</b>").locator(".project-warning")).to_have_count(0)
        expect(strip.locator("li.project", has_text="Archives 50% ✨")).to_contain_text("pinned: never cleaned up")
        expect(page.locator("li.session")).to_have_count(3)
        assert axe_violations(page) == []
        # The strip alone: the session list below it is pictured elsewhere.
        strip.screenshot(path=str(IMAGES / "console-projects.png"))

        # Choosing a project filters the list by it; choosing it again shows all.
        card.get_by_role("button", name="Rapport été 🎉 100%", exact=True).click()
        expect(page.locator("#project")).to_have_value(due["id"])
        expect(page.locator("li.session")).to_have_count(1)
        expect(page.locator("li.session")).to_contain_text("run é 🎉 1")

        # Extend: the cleanup time moves by the days asked, as the API says.
        card.get_by_label("Days to keep Rapport été 🎉 100% longer").fill("14")
        card.get_by_role("button", name="Extend Rapport été 🎉 100%").click()
        expect(page.locator("#toast")).to_contain_text("kept until")
        extended = api.get(f"/v1/projects/{due['id']}").json()
        assert datetime.fromisoformat(extended["cleanup_at"]) > datetime.fromisoformat(before["cleanup_at"])
        promised = datetime.fromisoformat(before["cleanup_at"]) + timedelta(days=14)
        assert datetime.fromisoformat(extended["keep_until"]) >= promised

        # Pin: no warning left, in the console and in the API.
        card.get_by_role("button", name="Pin Rapport été 🎉 100%").click()
        expect(card.locator(".project-warning")).to_have_count(0)
        expect(card).to_contain_text("pinned: never cleaned up")
        pinned = api.get(f"/v1/projects/{due['id']}").json()
        assert pinned["pinned"] is True and pinned["warnings"] == []
        expect(card.get_by_role("button", name="Unpin Rapport été 🎉 100%")).to_be_visible()
        assert axe_violations(page) == []
