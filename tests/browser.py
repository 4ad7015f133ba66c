"""A headless Chromium driven through its DevTools protocol: open a page, read its text, evaluate
expressions in it, click it, screenshot it."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from websockets.sync.client import connect
from websockets.sync.connection import Connection

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--window-size=1400,1000"]


class Page:
    """One tab: commands go over its websocket, one answer awaited at a time."""

    def __init__(self, socket: Connection) -> None:
        self.socket, self.sent = socket, 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.sent += 1
        self.socket.send(json.dumps({"id": self.sent, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == self.sent:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def text(self) -> str:
        return str(self.evaluate("document.body ? document.body.innerText : ''") or "")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float) -> Any:
        """The value of ``expression`` once it is truthy (else AssertionError)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.3)
        raise AssertionError(f"{expression} still false after {timeout:.0f} s; the page shows:\n"
                             f"{self.text()[:3000]}")

    def click(self, x: float, y: float) -> None:
        """A left click of the mouse at (x, y) in CSS pixels of the viewport."""
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def wait_for_text(self, wanted: list[str], timeout: float) -> str:
        """The page's text once it holds every string of ``wanted`` (else AssertionError)."""
        deadline, text = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            text = self.text()
            if all(w in text for w in wanted):
                return text
            time.sleep(0.5)
        missing = [w for w in wanted if w not in text]
        raise AssertionError(f"not in the page after {timeout:.0f} s: {missing}; it shows:\n{text[:3000]}")

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])


@contextmanager
def page(url: str, port: int) -> Iterator[Page]:
    """Chromium on ``url``, its DevTools on 127.0.0.1:``port``; killed on the way out."""
    with tempfile.TemporaryDirectory(prefix="snowdays-chromium-", ignore_cleanup_errors=True) as profile:
        browser = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}",
                                    f"--remote-debugging-port={port}", url],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        try:
            with connect(_page_socket(port, browser), max_size=None) as socket:
                yield Page(socket)
        finally:  # the browser and every process it started
            os.killpg(browser.pid, signal.SIGKILL)
            browser.wait()


def _page_socket(port: int, browser: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert browser.poll() is None, f"chromium exited with {browser.returncode}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as answer:
                targets = json.load(answer)
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                return str(pages[0]["webSocketDebuggerUrl"])
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("chromium's DevTools did not answer within 60 s")
