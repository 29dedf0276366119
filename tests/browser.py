"""Serving the real app to a real browser: the app on a local port in the test's own event loop
(it shares the Temporal client and worker of the Stack), and headless Chromium from the OS
packages driven by Playwright.

Chromium is the Debian package (`apt-get install chromium`); Playwright's own browser download
cannot work here and is never used. Without it the browser tests are skipped with a warning;
`ISSUESIGHT_REQUIRE_BROWSER=1` (set by .ci/run) makes that a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Browser, Dialog, Page, Request, async_playwright

from tests.paths import ROOT

REQUIRE_BROWSER = os.environ.get("ISSUESIGHT_REQUIRE_BROWSER") == "1"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
AXE_JS = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
WIDTHS = (375, 1280)
# Chromium's own background traffic (updates, safe browsing, sync) would be refused by the
# closed network and show up as requests to other hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
]


def chromium_or_skip() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = (
            "Chromium is not installed (Debian: apt-get install -y chromium): "
            "the browser tests are SKIPPED"
        )
        if REQUIRE_BROWSER:
            pytest.fail(message + ", and ISSUESIGHT_REQUIRE_BROWSER=1 (CI) requires them")
        warnings.warn(message, stacklevel=1)
        pytest.skip(message)
    return path


class LiveServer:
    """The app on 127.0.0.1:<free port>, served by uvicorn in the running event loop."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    async def __aenter__(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        # lifespan off: the Stack owns the app's resources and closes them.
        config = uvicorn.Config(
            self.app, lifespan="off", log_config=None, access_log=False, log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._socket = sock
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(self._task, 10)
            except TimeoutError:
                self._server.force_exit = True
                await self._task
        if self._socket is not None:
            self._socket.close()

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc


class PageWatch:
    """What a page did that it must not: dialogs opened, requests to other hosts, errors."""

    def __init__(self, page: Page, host: str) -> None:
        self.dialogs: list[str] = []
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.console_errors: list[str] = []
        self.host = host

        async def on_dialog(dialog: Dialog) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            await dialog.dismiss()

        def on_request(request: Request) -> None:
            netloc = urlsplit(request.url).netloc
            if request.url.startswith(("http:", "https:", "ws:", "wss:")) and netloc != host:
                self.foreign.append(request.url)

        page.on("dialog", on_dialog)
        page.on("request", on_request)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on(
            "console",
            lambda message: (
                self.console_errors.append(message.text) if message.type == "error" else None
            ),
        )

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.foreign == [], f"requests to other hosts: {self.foreign}"
        assert self.errors == [], f"page errors: {self.errors}"


async def run_axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page (WCAG 2.x A and AA, and best practices). Injected
    through the DevTools protocol, which the page's CSP does not govern."""
    await page.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;undefined")
    result: dict[str, Any] = await page.evaluate(
        """async () => await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                           'wcag22aa', 'best-practice']},
            resultTypes: ['violations'],
        })"""
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
    ]


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """The OS's Chromium, headless, driven by Playwright (which downloads no browser here);
    skips the test, or fails it under ISSUESIGHT_REQUIRE_BROWSER=1, where none is installed."""
    path = chromium_or_skip()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=path, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser: Browser, width: int = 1280, **options: Any) -> Page:
    """A page in a context of its own (no cookies shared with other pages), `width` px wide;
    `options` go to Browser.new_context (permissions, bypass_csp, java_script_enabled...)."""
    context = await browser.new_context(viewport={"width": width, "height": 900}, **options)
    return await context.new_page()


async def assert_accessible(page: Page) -> None:
    violations = await run_axe(page)
    assert violations == [], json.dumps(violations, indent=1)


async def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG kept under test-artifacts/screenshots (gitignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"] if page.viewport_size else 0
    path = SCREENSHOTS / f"{name}-{width}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


# Everything a page may contain that acts: checked in the live DOM after it loaded.
DOM_AUDIT = """() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.getAttributeNames()) {
      if (attr.toLowerCase().startsWith('on')) found.push(`${el.tagName} ${attr}`);
      if (attr === 'style') found.push(`${el.tagName} style`);
      if (attr === 'srcdoc' || attr === 'formaction') found.push(`${el.tagName} ${attr}`);
    }
  }
  const active = 'iframe, frame, object, embed, img, svg, video, audio, base, '
    + 'meta[http-equiv], link[rel=preload], link[rel=prefetch]';
  for (const el of document.querySelectorAll(active)) {
    found.push(`element ${el.tagName}`);
  }
  for (const el of document.querySelectorAll('script')) {
    const src = el.getAttribute('src') || '';
    if (!src.startsWith('/static/app.js')) {
      found.push(`script ${src || el.textContent.slice(0, 60)}`);
    }
  }
  for (const el of document.querySelectorAll('[href], [src], [action]')) {
    const value = (el.getAttribute('href') || el.getAttribute('src')
                   || el.getAttribute('action')).trim();
    if (!/^(https?:\\/\\/|\\/(?!\\/)|#)/i.test(value)) {
      found.push(`${el.tagName} link ${value.slice(0, 80)}`);
    }
  }
  return found;
}"""
