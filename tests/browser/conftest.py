"""Playwright with Debian's chromium (never Playwright's own browsers), 1280x800 pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(__file__).resolve().parents[2] / "evals" / "screenshots"


@pytest.fixture(scope="module")  # closed before other modules: its event loop must not outlive them
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, app_server) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    """The app, loaded; the test fails if the page raised a JavaScript error."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(app_server.url)
    expect(pg.locator("#question textarea")).to_be_visible(timeout=30_000)
    yield pg
    context.close()
    assert not errors, errors


@pytest.fixture
def shot() -> object:
    """shot(page, name): a 1280x800 screenshot saved as evals/screenshots/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    return lambda pg, name: pg.screenshot(path=str(SHOTS / f"{name}.png"))
