"""The system's Chromium driven by Playwright, for the dashboard's tests; skip or fail when there is none.

Playwright's Python package talks to the browser; the browser itself is Debian's ``chromium``
(``apt-get install -y chromium``), never one Playwright downloads. Without either, the tests
skip saying what to install, unless ``FLATLOAD_REQUIRE_BROWSER=1`` (CI), where they fail.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

#: a headless browser on a machine without a network beyond loopback: nothing of its own to fetch
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
REQUIRE_VAR = "FLATLOAD_REQUIRE_BROWSER"


def chromium_path() -> str | None:
    """``$FLATLOAD_CHROMIUM``, else the first Chromium on PATH."""
    explicit = os.environ.get("FLATLOAD_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def unavailable(reason: str) -> None:
    """Skip, or fail where a browser is required."""
    if os.environ.get(REQUIRE_VAR) == "1":
        pytest.fail(f"{REQUIRE_VAR}=1 but {reason}")
    pytest.skip(reason)


@contextmanager
def launched() -> Iterator[object]:
    """A headless Chromium (a Playwright Browser) with a fresh profile; skips or fails when it cannot be had."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        unavailable("the Python package playwright is not installed (pip install -e '.[test]')")
    path = chromium_path()
    if path is None:
        unavailable("no Chromium on this machine (apt-get install -y chromium)")
    with sync_playwright() as pw:
        try:
            # launch() gives every browser a new temporary profile (user data dir) of its own
            browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        except Error as exc:
            unavailable(f"Chromium at {path} does not start: {str(exc).splitlines()[0]}")
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Console:
    """What a page reported: console errors (a CSP violation among them) and uncaught exceptions."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page) -> None:
        page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
