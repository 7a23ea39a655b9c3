"""Debian's Chromium, driven by Playwright: one browser per test module, a fresh context (storage) per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from gateway.api.app import create_app
from tests.conftest import ROOT, Backend, Gateway, ServerThread, gateway_settings

# Debian's package: Playwright never downloads a browser here.
CHROMIUM = "/usr/bin/chromium"
AXE = ROOT / "console" / "node_modules" / "axe-core" / "axe.min.js"
IMAGES = ROOT / "docs" / "images"
# The moment screenshots are taken at: the page's clock and the clocked gateway's start, so that the pictures in
# docs/images come out the same on every run.
FIXED_NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def clocked_gateway(backend: Backend) -> Iterator[Gateway]:
    """A gateway whose clock starts at FIXED_NOW and ticks a second per reading: times of sessions are the same on
    every run, and still distinct, so their order is too."""
    ticks = itertools.count()
    settings = gateway_settings(backend, backend.new_bucket())

    def clock() -> datetime:
        return FIXED_NOW + timedelta(seconds=next(ticks))

    with ServerThread(create_app(settings, credentials=backend.credentials, clock=clock)) as url:
        yield Gateway(backend=backend, settings=settings, url=url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # No sandbox: CI runs as root, where Chromium refuses its own sandbox.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB", timezone_id="UTC")
    # The page's own now, an hour after FIXED_NOW: date groups and times read the same on every run (timers run).
    context.clock.set_fixed_time(FIXED_NOW + timedelta(hours=1))
    # axe-core is added to every document by the browser itself (not as an inline script, which the CSP refuses).
    context.add_init_script(path=str(AXE))
    opened = context.new_page()
    problems: list[str] = []
    # A refusal by the Content-Security-Policy, or any script error, fails the test that caused it.
    opened.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: problems.append(str(error)))
    yield opened
    context.close()
    assert not [text for text in problems if "Content Security Policy" in text or "Uncaught" in text], problems


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Saves the page for docs/images; `full_page=False` keeps to the window, as a modal dialog covers it."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / name
    page.screenshot(path=str(path), full_page=full_page)
    return path
