"""The dashboard in a real headless Chromium (Debian's, driven by playwright; no browser download)
against the whole system: every page loads, run-now adds a history entry, a suspend shows the
drift marker. Screenshots are kept under tests/output/screenshots (git-ignored)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import System
from tests.peers.serve import ADMIN_TOKEN

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "output" / "screenshots"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is installed by make install")


@pytest.fixture
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)  # a new, empty profile
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        context.close()
        browser.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, system: System) -> None:
    page.goto(system.server.url + "/")
    page.get_by_label("API token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Use token").click()
    page.get_by_role("heading", name="Overview").wait_for()


def test_pages_run_now_and_suspend_in_a_real_browser(system: System, page: Any) -> None:
    from playwright.sync_api import expect

    system.put_job("nightly", startTime="2026-01-01T03:00:00Z", recurrence={"frequency": "Day", "interval": 1})
    system.put_job("tick", rrule="FREQ=SECONDLY;INTERVAL=2")
    system.synced("nightly")
    system.synced("tick")
    sign_in(page, system)
    p = page
    expect(p.locator("#jobs tbody tr")).to_have_count(2)
    p.get_by_label("Search jobs").fill("night")
    expect(p.locator("#jobs tbody tr")).to_have_count(1)
    shot(p, "overview")

    p.get_by_role("link", name="ops/nightly").click()
    expect(p.get_by_role("heading", name="Next runs")).to_be_visible()
    expect(p.locator(".runs li")).to_have_count(10)
    expect(p.locator("#history tbody")).to_contain_text("No history yet")
    p.get_by_role("button", name="Run now").click()
    expect(p.locator("#banner")).to_contain_text("Run-now requested")
    for _ in range(120):  # the worker needs a moment: reload the page until the entry is there
        if "manual" in p.locator("#history tbody").inner_text():
            break
        p.wait_for_timeout(500)
        p.reload()
        p.get_by_role("heading", name="History").wait_for()
    expect(p.locator("#history tbody")).to_contain_text("manual, by alice: run now from the dashboard")
    expect(p.locator("#history tbody")).to_contain_text("Completed")
    shot(p, "job-after-run-now")

    p.get_by_label("Reason").fill("incident 7")
    p.get_by_role("button", name="Suspend").click()
    expect(p.locator("#drift")).to_contain_text("incident 7")
    expect(p.get_by_role("heading", level=1)).to_contain_text("drift: suspended")
    shot(p, "job-suspended")
    p.get_by_role("button", name="Resume").click()
    expect(p.locator("#drift")).to_have_count(0)

    p.get_by_role("link", name="Pending plan").click()
    expect(p.get_by_role("heading", name="Pending plan")).to_be_visible()
    expect(p.locator("#plan")).to_contain_text("Nothing to change")
    shot(p, "plan")
    p.get_by_role("link", name="Live feed").click()
    expect(p.locator("#feed tbody")).to_contain_text("ops/tick")
    shot(p, "feed")
    p.get_by_role("link", name="Overview", exact=True).click()
    expect(p.locator("#jobs .strip i").first).to_be_visible()
    shot(p, "overview-with-history")

    p.set_viewport_size({"width": 390, "height": 844})  # a narrow window: cards instead of columns
    p.get_by_role("link", name="Overview", exact=True).click()
    expect(p.locator("#jobs tbody tr").first).to_be_visible()
    shot(p, "overview-narrow")
    wide = p.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
        ".map(e => e.tagName + '.' + e.className + ':' + Math.round(e.getBoundingClientRect().right)).slice(0, 5)"
    )
    assert not wide, wide  # nothing sticks out of a narrow window


def test_readme_screenshot_is_current() -> None:
    """The README shows the dashboard; docs/dashboard.png is refreshed from the test's screenshot."""
    shot_file = SHOTS / "overview-with-history.png"
    docs = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
    if shot_file.exists() and (not docs.exists() or docs.stat().st_mtime < shot_file.stat().st_mtime - 86400):
        docs.parent.mkdir(exist_ok=True)
        shutil.copy(shot_file, docs)
    assert docs.exists()
