"""The system's headless Chromium driven by Playwright (its sync API): a page opened on a URL, and waits
for what the page shows that say what it showed when they fail.

Playwright launches ``/usr/bin/chromium`` by ``executable_path`` and talks to it over a pipe (no port);
its wheel brings only the driver, so no browser is ever downloaded (no ``playwright install``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Page, ViewportSize, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

CHROMIUM = "/usr/bin/chromium"
#: Playwright adds headless, no sandbox, no background networking or component update, no first run
#: and a profile of its own; the rest of the flags the project runs Chromium with:
FLAGS = ["--disable-gpu"]
VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}


@contextmanager
def page(url: str) -> Iterator[Page]:
    """A headless Chromium's page, loaded from ``url``; the browser closed on the way out."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, timeout=60_000)
        try:
            tab = browser.new_page(viewport=VIEWPORT)
            tab.goto(url, timeout=60_000)
            yield tab
        finally:
            browser.close()


def wait_for(tab: Page, expression: str, timeout: float) -> Any:
    """The value of a JavaScript expression once it is truthy (else AssertionError with the page's text)."""
    try:
        return tab.wait_for_function(expression, timeout=timeout * 1000, polling=300).json_value()
    except PlaywrightTimeout as e:
        raise AssertionError(f"{expression} still false after {timeout:.0f} s; the page shows:\n"
                             f"{tab.inner_text('body')[:3000]}") from e


def wait_for_text(tab: Page, wanted: list[str], timeout: float) -> str:
    """The page's text once it holds every string of ``wanted`` (else AssertionError naming those missing)."""
    holds = "wanted => document.body && wanted.every(w => document.body.innerText.includes(w))"
    try:
        tab.wait_for_function(holds, arg=wanted, timeout=timeout * 1000, polling=500)
    except PlaywrightTimeout as e:
        text = tab.inner_text("body")
        missing = [w for w in wanted if w not in text]
        raise AssertionError(f"not in the page after {timeout:.0f} s: {missing}; it shows:\n"
                             f"{text[:3000]}") from e
    return tab.inner_text("body")
